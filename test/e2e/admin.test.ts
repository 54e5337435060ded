import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/database.ts';
import { launchBrowser, type TestBrowser } from '../support/browser.ts';
import { startServer, type ServerProcess } from '../support/server-process.ts';
import { registerSecret } from '../support/secrets-registry.ts';
import { shot } from '../support/screenshots.ts';

const BIN = resolve(import.meta.dirname, '..', '..', 'bin', 'theway.js');
const ADMIN = { email: 'operator@example.test', password: 'a long admin password' };
const FAILURE = "Webhook delivery to the user's endpoint failed (error: TypeError); retrying later.";

const heading = (page: Page, name: string | RegExp) => page.getByRole('heading', { level: 1, name }).waitFor({ timeout: 30_000 });

/**
 * The operator's view in the browser: an admin made with `theway create-user --admin` finds the
 * Admin link, sees a failed job with its error, retries it (after confirming); a normal user has
 * no link and gets the not-found page. The failed job is written into the server's SQLite file
 * before it starts, as a worker that gave up would have left it.
 */
describe('admin view in the browser', { timeout: 90_000 }, () => {
  let dataDir: string;
  let server: ServerProcess;
  let browser: TestBrowser;
  let jobId: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'theway-e2e-admin-'));
    registerSecret('password', ADMIN.password);
    const created = spawnSync(process.execPath, [BIN, 'create-user', '--email', ADMIN.email, '--name', 'Operator', '--admin'], {
      env: { PATH: process.env.PATH, DATA_DIR: dataDir, LOG_LEVEL: 'warn' }, input: `${ADMIN.password}\n`, encoding: 'utf8', timeout: 30_000,
    });
    expect(created.status, created.stderr).toBe(0);
    const db = openDatabase({ sqliteFile: join(dataDir, 'theway.db') });
    const admin = await db.kysely.selectFrom('users').select('id').where('email', '=', ADMIN.email).executeTakeFirstOrThrow();
    jobId = crypto.randomUUID();
    const at = new Date(Date.now() - 60_000).toISOString();
    await db.kysely.insertInto('jobs').values({
      id: jobId, name: 'notify.test', payload: JSON.stringify({ userId: admin.id, eventId: 'e2e' }), state: 'failed', singleton_key: null,
      attempts: 3, max_attempts: 3, run_after: at, locked_by: null, locked_until: null, last_error: FAILURE, created_at: at, updated_at: at,
    }).execute();
    await db.close();
    server = await startServer({ dataDir });
    browser = await launchBrowser({ baseURL: server.url });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('lets an admin see a failed job with its error and retry it, on a phone-width screen too', async () => {
    const page = await browser.context.newPage();
    await page.goto('/signin');
    await page.getByLabel('Email').fill(ADMIN.email);
    await page.getByLabel('Password', { exact: true }).fill(ADMIN.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await heading(page, 'Models');
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Admin' }).click();
    await heading(page, 'Admin');

    const failed = page.getByRole('region', { name: 'Failed jobs' });
    const row = failed.getByRole('row', { name: /notify\.test/ });
    await expect.poll(() => row.textContent()).toContain(FAILURE);
    expect(await row.textContent()).toContain(ADMIN.email);
    expect(await row.textContent()).toContain('3 of 3');
    await shot(page, 'admin-failed-job');

    await page.setViewportSize({ width: 390, height: 844 });
    await row.getByRole('button', { name: /Retry/ }).waitFor();
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    expect(width).toBeLessThanOrEqual(390);

    await row.getByRole('button', { name: /Retry/ }).click();
    const dialog = page.getByRole('dialog', { name: 'Retry notify.test?' });
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden' });
    const stillFailed = await (await fetch(`${server.url}/api/admin/jobs?state=failed`, { headers: { cookie: await cookieHeader(page) } })).json();
    expect(stillFailed.jobs.map((j: { id: string }) => j.id)).toEqual([jobId]);

    await row.getByRole('button', { name: /Retry/ }).click();
    await dialog.getByRole('button', { name: 'Retry job' }).click();
    await failed.getByText('The job is queued again').waitFor();
    await failed.getByText('No failed jobs').waitFor({ timeout: 30_000 });
    await page.close();
  });

  it('shows a normal user no Admin link and the not-found page at /admin', async () => {
    const page = await browser.context.newPage();
    await page.context().clearCookies();
    await page.goto('/signup');
    await page.getByLabel('Display name').fill('Normal');
    await page.getByLabel('Email').fill(`normal-${Date.now()}@example.test`);
    await page.getByLabel('Password', { exact: true }).fill('correct horse battery');
    await page.getByRole('button', { name: 'Create account' }).click();
    await heading(page, 'Models');
    const nav = page.getByRole('navigation', { name: 'Main' });
    await nav.getByRole('link', { name: 'Settings' }).waitFor();
    expect(await nav.getByRole('link', { name: 'Admin' }).count()).toBe(0);
    await page.goto('/admin');
    await heading(page, 'Page not found');
    await shot(page, 'admin-not-found');
    expect(await page.getByText(FAILURE).count()).toBe(0);
    await page.close();
  });
});

async function cookieHeader(page: Page): Promise<string> {
  return (await page.context().cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
}
