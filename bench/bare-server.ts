// The baseline for bench/api: Fastify doing nothing but sending the same bytes.
import Fastify from 'fastify';
import { readFileSync } from 'node:fs';

const [bodyFile, port] = process.argv.slice(2) as [string, string];
const body = readFileSync(bodyFile);
const app = Fastify({ logger: false });
app.get('/health', async () => ({ ok: true }));
app.get('/api/models', (_req, reply) => {
  reply.header('content-type', 'application/json; charset=utf-8').send(body);
});
await app.listen({ host: '127.0.0.1', port: Number(port) });
