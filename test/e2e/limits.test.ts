import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, type TestBrowser } from '../support/browser.ts';
import { startServer, type ServerProcess } from '../support/server-process.ts';
import { photoJpeg } from '../support/images.ts';

const heading = (page: Page, name: string | RegExp) => page.getByRole('heading', { level: 1, name }).waitFor({ timeout: 30_000 });

/**
 * Limits as a user meets them in the browser: the refusal must arrive as the server's message (what
 * the limit is, what to do), not as a broken upload. A storage quota refusal is answered before the
 * body is read, which a browser could otherwise report as a dropped connection.
 */
describe('limits in the browser', { timeout: 90_000 }, () => {
  let server: ServerProcess;
  let browser: TestBrowser;
  let page: Page;
  let files: string;
  const names: string[] = [];

  beforeAll(async () => {
    files = mkdtempSync(join(tmpdir(), 'theway-e2e-limits-'));
    // Photo-like noise barely compresses: each file is several hundred KB, so 1 MB holds only a few.
    for (let i = 0; i < 4; i++) {
      const name = `big-${i + 1}.jpg`;
      writeFileSync(join(files, name), await photoJpeg({ width: 1400, height: 1400, seed: 9100 + i }));
      names.push(name);
    }
    const smallest = Math.min(...names.map((n) => statSync(join(files, n)).size));
    expect(smallest * 4).toBeGreaterThan(2 ** 20);
    server = await startServer({ env: { USER_STORAGE_LIMIT_MB: '1' } });
    browser = await launchBrowser({ baseURL: server.url });
    page = await browser.context.newPage();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    if (files) rmSync(files, { recursive: true, force: true });
  });

  it('shows the storage quota refusal with the usage and what to delete, and keeps what fitted', async () => {
    await page.goto('/signup');
    await page.getByLabel('Display name').fill('Quota');
    await page.getByLabel('Email').fill(`quota-${Date.now()}@example.com`);
    await page.getByLabel('Password', { exact: true }).fill('correct horse battery');
    await page.getByRole('button', { name: 'Create account' }).click();
    await heading(page, 'Models');
    await page.getByRole('link', { name: 'Create New Model' }).first().click();
    await page.getByLabel('Model name').fill('Too big');
    await page.getByRole('radio', { name: /^Style/ }).check();
    await page.getByRole('button', { name: 'Create model' }).click();
    await heading(page, 'Too big');
    await page.getByRole('link', { name: 'Training images', exact: true }).click();
    await heading(page, 'Upload training images');
    await page.getByLabel('Choose images to upload').setInputFiles(names.map((n) => join(files, n)));
    await page.getByText(/ou are using .* of your .* storage/).first().waitFor({ timeout: 30_000 });
    const added = await page.getByTestId('dataset-image').count();
    expect(added).toBeGreaterThanOrEqual(1);
    expect(added).toBeLessThan(names.length);
  });
});
