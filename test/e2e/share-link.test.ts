import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, type TestBrowser } from '../support/browser.ts';
import { signUpOverHttp, type ApiUser } from '../support/http-client.ts';
import { startReplicateEmulator, type ReplicateEmulator } from '../support/replicate-emulator/index.ts';
import { shot, SHOTS_DIR } from '../support/screenshots.ts';
import { startServer, type ServerProcess } from '../support/server-process.ts';
import { registerSecret } from '../support/secrets-registry.ts';
import { until } from '../support/until.ts';

/**
 * A public link in two browsers: the owner makes it from the gallery, someone signed out opens it
 * and sees the image, the owner turns it off, and the other person's reload says the link is gone.
 */

const REPO_ROOT = resolve(import.meta.dirname, '..', '..');
const PROMPT = 'a photo of REXDOG asleep on the garden bench';

describe('a public share link, end to end', { timeout: 90_000 }, () => {
  let emu: ReplicateEmulator;
  let server: ServerProcess;
  let ownerBrowser: TestBrowser;
  let friendBrowser: TestBrowser;
  let owner: Page;
  let friend: Page;
  let user: ApiUser;
  let modelId: string;
  let generationId: string;
  let link: string;
  const email = `share-${Date.now().toString(36)}@example.com`;
  const pageErrors: string[] = [];
  const consoleErrors: string[] = [];

  const api = <T = Record<string, unknown>>(method: string, path: string, body?: unknown, expectStatus?: number) => user.call<T>(server.url, method, path, body, expectStatus);
  const imageLoaded = (page: Page) => page.getByRole('img').first().evaluate((img) => (img as HTMLImageElement).complete && (img as HTMLImageElement).naturalWidth > 0);

  beforeAll(async () => {
    if (!existsSync(join(REPO_ROOT, 'web', 'dist', 'index.html'))) {
      execFileSync(join(REPO_ROOT, 'node_modules', '.bin', 'vite'), ['build', '--config', 'web/vite.config.ts', '--logLevel', 'warn'], { cwd: REPO_ROOT, stdio: 'inherit' });
    }
    emu = await startReplicateEmulator({ bootMs: 100 });
    [server, ownerBrowser, friendBrowser] = await Promise.all([
      startServer({ env: { ...emu.platformEnv(), TRAINING_POLL_SECONDS: '0.2' } }),
      launchBrowser(),
      // A separate profile: no cookie, no session, nothing shared with the owner's browser.
      launchBrowser({ viewport: { width: 390, height: 844 } }),
    ]);
    await ownerBrowser.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
    owner = await ownerBrowser.context.newPage();
    friend = await friendBrowser.context.newPage();
    for (const [who, page] of [['owner', owner], ['friend', friend]] as const) {
      page.on('pageerror', (e) => pageErrors.push(`${who} pageerror: ${e.message}`));
      // Failed requests are logged too (the sign-in page's 401, the dead link's 404): for the failure report only.
      page.on('console', (m) => m.type() === 'error' && consoleErrors.push(`${who} console: ${m.text()}`));
    }

    // A private model, trained against the emulator, with one finished image.
    user = await signUpOverHttp(server.url, email);
    modelId = (await api<{ model: { id: string } }>('POST', '/api/models', { name: 'Rex, private', modelType: 'person', visibility: 'private' }, 201)).model.id;
    await user.uploadPhotos(server.url, modelId, 10, 6100);
    const trainingId = (await api<{ training: { id: string } }>('POST', `/api/models/${modelId}/trainings`, { baseModel: 'flux-dev', preset: 'beginner', resolution: 512 }, 201)).training.id;
    await until(async () => (await api<{ training: { status: string; weightsAvailable: boolean } }>('GET', `/api/trainings/${trainingId}`)).training, (t) => t.status === 'succeeded' && t.weightsAvailable, 'the training', 60_000);
    generationId = (await api<{ generation: { id: string } }>('POST', `/api/models/${modelId}/generations`, { prompt: PROMPT, numOutputs: 1 }, 201)).generation.id;
    await until(async () => (await api<{ generation: { status: string } }>('GET', `/api/generations/${generationId}`)).generation.status, (s) => s === 'succeeded', 'the generation', 30_000);
  }, 120_000);

  afterEach(async (ctx) => {
    if (ctx.task.result?.state !== 'fail') return;
    const dir = join(SHOTS_DIR ?? tmpdir(), 'theway-e2e-failures');
    mkdirSync(dir, { recursive: true });
    for (const [who, page] of [['owner', owner], ['friend', friend]] as const) {
      await page?.screenshot({ path: join(dir, `share-link-${who}.png`), fullPage: true }).catch(() => undefined);
    }
    console.error(`[e2e] browser errors:\n${[...pageErrors, ...consoleErrors].slice(-20).join('\n')}\n[e2e] screenshots in ${dir}\n[e2e] server output:\n${server?.output().slice(-4000)}`);
  });

  afterAll(async () => {
    await friendBrowser?.close();
    await ownerBrowser?.close();
    await server?.stop();
    await emu?.close();
  });

  it('the owner makes a link from the gallery and copies it', async () => {
    await owner.goto(`${server.url}/signin`);
    await owner.getByLabel('Email').fill(email);
    await owner.getByLabel('Password').fill('correct horse battery');
    await owner.getByRole('button', { name: 'Sign in' }).click();
    await owner.getByRole('heading', { level: 1, name: 'Models' }).waitFor({ timeout: 20_000 });
    await owner.goto(`${server.url}/models/${modelId}/generate`);
    const result = owner.getByTestId('generation').first();
    await result.getByRole('img').first().waitFor({ timeout: 20_000 });

    await result.getByRole('button', { name: 'Get public link' }).click();
    const choices = result.getByRole('group', { name: 'Public link' });
    // The prompt stays private unless the owner ticks the box.
    expect(await choices.getByLabel('Include the prompt').isChecked()).toBe(false);
    await choices.getByRole('button', { name: 'Create link' }).click();
    const address = result.getByRole('textbox', { name: /^Public link/ });
    await expect.poll(() => address.inputValue()).toMatch(/\/s\/[A-Za-z0-9_-]{43}$/);
    link = await address.inputValue();
    registerSecret('share link token', link.split('/s/')[1]);
    expect(link.startsWith(`${server.url}/s/`)).toBe(true);
    await result.getByRole('button', { name: 'Copy' }).click();
    await result.getByText('Link copied to the clipboard.').waitFor();
    expect(await owner.evaluate(() => navigator.clipboard.readText())).toBe(link);
    await shot(owner, 'share-01-link');

    // Still there after a reload: the link can be copied again later.
    await owner.reload();
    await expect.poll(() => owner.getByTestId('generation').first().getByRole('textbox', { name: /^Public link/ }).inputValue(), { timeout: 15_000 }).toBe(link);
  });

  it('someone signed out opens it and sees the image, and nothing about the owner or the model', async () => {
    await friend.goto(link);
    await friend.getByRole('heading', { level: 1, name: 'A shared image' }).waitFor({ timeout: 20_000 });
    await expect.poll(() => imageLoaded(friend)).toBe(true);
    await friend.getByRole('link', { name: 'Download image' }).waitFor();
    await friend.getByText('Made with').waitFor();
    const text = (await friend.locator('body').textContent()) ?? '';
    for (const hidden of ['Rex, private', 'REXDOG', 'garden bench', email, 'Sign out']) expect(text, hidden).not.toContain(hidden);
    // The friend has no session: the page asked for none and got none.
    expect((await friendBrowser.context.cookies()).filter((c) => c.name === 'theway_session')).toEqual([]);
    await shot(friend, 'share-02-public-page');
  });

  it('the owner turns it off, and the open page shows the link is gone on reload', async () => {
    const result = owner.getByTestId('generation').first();
    await result.getByRole('button', { name: 'Turn off link' }).click();
    await result.getByRole('button', { name: 'Get public link' }).waitFor();

    await friend.reload();
    await friend.getByRole('heading', { level: 1, name: 'Link not available' }).waitFor({ timeout: 20_000 });
    await friend.getByText('This link was turned off or never existed.').waitFor();
    expect(await friend.getByRole('img').count()).toBe(0);
    await shot(friend, 'share-03-dead-link');
    expect(pageErrors).toEqual([]);
  });
});
