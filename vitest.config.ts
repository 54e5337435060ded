import { defineConfig } from 'vitest/config';

// Integration tests share one PostgreSQL server and the machine has two cores:
// a small fork pool keeps the suite fast without starving the browser tests.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    // Browser tests raise this to 90 s in their describe(): a page flow with sign-up and uploads
    // has run past 30 s on a busy 2-core CI machine.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    globalSetup: ['test/support/global-setup.ts'],
  },
});
