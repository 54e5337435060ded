/**
 * The Replicate emulator in a process of its own, for benchmarks whose figures it would otherwise
 * distort: in the benchmark's process, rendering and sending thousands of webhooks competes with
 * the benchmark's own sampling (session 1's webhook lag of 64 s p50 was mostly that backlog).
 *
 * Started by `startEmulatorProcess` (support.ts) over IPC: gets its options, answers with its
 * address, and reports training times, webhooks sent and status polls answered on request.
 */
import { startReplicateEmulator, type EmulatorOptions } from '../test/support/replicate-emulator/index.ts';

type Request = { type: 'trainingTimes'; ids: string[] } | { type: 'stats' } | { type: 'close' };

process.once('message', async (options: EmulatorOptions & { models?: Array<[string, string]> }) => {
  const emu = await startReplicateEmulator(options);
  for (const [owner, name] of options.models ?? []) emu.createModel(owner, name);
  process.on('message', async (request: Request) => {
    if (request.type === 'trainingTimes') {
      process.send!({ type: 'trainingTimes', times: request.ids.map((id) => ({ id, processingAtMs: emu.training(id)?.processingAtMs ?? null, completedAtMs: emu.training(id)?.completedAtMs ?? null })) });
    } else if (request.type === 'stats') {
      const polls = emu.requests.filter((r) => r.route === 'getTraining').length;
      process.send!({ type: 'stats', webhooks: emu.webhooks.length, polls });
    } else {
      await emu.close();
      process.exit(0);
    }
  });
  process.send!({ type: 'ready', baseUrl: emu.baseUrl, token: emu.token, platformEnv: emu.platformEnv() });
});
