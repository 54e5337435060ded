import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../../../src/db/database.ts';

const BIN = join(import.meta.dirname, '../../../bin/theway.js');
const run = (args: string[], env: Record<string, string> = {}, input?: string) =>
  spawnSync(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH, ...env }, input, encoding: 'utf8', timeout: 30_000 });

describe('theway CLI', () => {
  it('prints help listing the commands', () => {
    const res = run(['--help']);
    expect(res.status).toBe(0);
    for (const c of ['serve', 'web', 'migrate', 'create-user']) expect(res.stdout).toContain(c);
  });

  it('refuses to start on invalid configuration, naming the variable', () => {
    const res = run(['serve'], { PORT: 'eighty' });
    expect(res.status).toBe(1);
    expect(res.stderr).toContain('PORT');
    expect(res.stderr).toContain('Configuration');
  });

  it('refuses the web and worker roles without PostgreSQL, pointing at serve', () => {
    const dir = mkdtempSync(join(tmpdir(), 'theway-cli-'));
    try {
      for (const role of ['web', 'worker']) {
        const res = run([role], { DATA_DIR: dir });
        expect(res.status).toBe(1);
        expect(res.stderr).toMatch(/needs DATABASE_URL \(PostgreSQL\).*theway serve/);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses the web and worker roles without shared storage, naming S3_BUCKET and SHARED_DATA_DIR', () => {
    const dir = mkdtempSync(join(tmpdir(), 'theway-cli-'));
    // Nothing listens there: the refusal must come before any connection is tried.
    const DATABASE_URL = 'postgres://theway@127.0.0.1:1/theway';
    try {
      for (const role of ['web', 'worker']) {
        const res = run([role], { DATA_DIR: dir, DATABASE_URL });
        expect(res.status).toBe(1);
        expect(res.stderr).toMatch(/needs storage every process shares/);
        expect(res.stderr).toContain('S3_BUCKET');
        expect(res.stderr).toContain('SHARED_DATA_DIR=true');
        // With the operator's word that DATA_DIR is shared, it gets past the check (and then fails to reach the database).
        const shared = run([role], { DATA_DIR: dir, DATABASE_URL, SHARED_DATA_DIR: 'true' });
        expect(shared.status).toBe(1);
        expect(shared.stderr).not.toMatch(/needs storage every process shares/);
        expect(shared.stderr).toMatch(/ECONNREFUSED|connect/i);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects an unknown command', () => {
    const res = run(['explode'], {});
    expect(res.status).toBe(1);
    expect(res.stderr).toContain('Unknown command');
  });

  it('migrates and creates a user whose password comes from stdin', () => {
    const dir = mkdtempSync(join(tmpdir(), 'theway-cli-'));
    try {
      const migrate = run(['migrate'], { DATA_DIR: dir });
      expect(migrate.status, migrate.stderr).toBe(0);
      expect(migrate.stdout).toContain('0001_foundation');
      expect(run(['migrate'], { DATA_DIR: dir }).stdout).toContain('up to date');
      const bad = run(['create-user', '--email', 'nope', '--name', 'Admin'], { DATA_DIR: dir }, 'short\n');
      expect(bad.status).toBe(1);
      expect(bad.stderr).toMatch(/--email/);
      expect(bad.stderr).toMatch(/--password|10 characters/);
      const ok = run(['create-user', '--email', 'admin@example.test', '--name', 'Admin', '--admin'], { DATA_DIR: dir }, 'a long admin password\n');
      expect(ok.status, ok.stderr).toBe(0);
      expect(ok.stdout).toContain('admin@example.test');
      expect(ok.stdout).not.toContain('a long admin password');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads the created user back from the SQLite file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'theway-cli-'));
    try {
      run(['create-user', '--email', 'b@example.test', '--name', 'B'], { DATA_DIR: dir }, 'another long password\n');
      const db = openDatabase({ sqliteFile: join(dir, 'theway.db') });
      const row = await db.kysely.selectFrom('users').select(['email', 'role', 'password_hash']).executeTakeFirstOrThrow();
      await db.close();
      expect(row).toMatchObject({ email: 'b@example.test', role: 'user' });
      expect(row.password_hash).toMatch(/^scrypt\$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
