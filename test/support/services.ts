import { execSync } from 'node:child_process';
import net from 'node:net';

/** The PostgreSQL server the tests create their throw-away databases on. */
export const TEST_PG_ADMIN_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

function portOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
    socket.setTimeout(1000, () => { socket.destroy(); resolve(false); });
  });
}

async function waitForPort(port: number, seconds: number): Promise<boolean> {
  for (let i = 0; i < seconds * 4; i++) {
    if (await portOpen(port)) return true;
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

/** Starts the machine's PostgreSQL and Redis when they are down, as the workplace documents. */
export async function ensureServices(): Promise<void> {
  if (!(await portOpen(5432))) {
    try {
      execSync('pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start', { stdio: 'inherit' });
    } catch { /* reported below */ }
    if (!(await waitForPort(5432, 30))) throw new Error('PostgreSQL is not reachable on 127.0.0.1:5432 and could not be started.');
  }
  if (!(await portOpen(6379))) {
    try {
      execSync('redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no', { stdio: 'inherit' });
      await waitForPort(6379, 10);
    } catch { /* Redis is optional for now */ }
  }
}
