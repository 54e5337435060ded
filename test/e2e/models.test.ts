import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, type TestBrowser } from '../support/browser.ts';
import { shot, SHOTS_DIR } from '../support/screenshots.ts';
import { startServer, type ServerProcess } from '../support/server-process.ts';

const REPO_ROOT = resolve(import.meta.dirname, '..', '..');
const PASSWORD = 'correct horse battery';


/** The text of the error message a field's aria-describedby points at (what a screen reader reads). */
async function fieldError(page: Page, label: string): Promise<string> {
  const input = page.getByLabel(label, { exact: true });
  await input.and(page.locator('[aria-invalid="true"]')).waitFor();
  return input.evaluate((el) =>
    (el.getAttribute('aria-describedby') ?? '')
      .split(/\s+/)
      .map((id) => document.getElementById(id))
      .filter((n): n is HTMLElement => n?.classList.contains('field__error') ?? false)
      .map((n) => n.textContent ?? '')
      .join(' '),
  );
}

async function heading(page: Page, name: string | RegExp): Promise<void> {
  await page.getByRole('heading', { level: 1, name }).waitFor();
}

async function signUp(page: Page, user: { displayName: string; email: string }): Promise<void> {
  await page.getByLabel('Display name').fill(user.displayName);
  await page.getByLabel('Email').fill(user.email);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
}

async function signOut(page: Page): Promise<void> {
  await page.getByRole('button', { name: /account menu/ }).click();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await heading(page, 'Sign in to The Way');
}

async function createModel(
  page: Page,
  model: { name: string; description: string; type: RegExp; visibility: 'Public' | 'Private' },
): Promise<string> {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Models' }).click();
  await heading(page, 'Models');
  await page.getByRole('link', { name: 'Create New Model' }).first().click();
  await heading(page, 'Create New Model');
  await page.getByLabel('Model name').fill(model.name);
  await page.getByLabel(/Description/).fill(model.description);
  await page.getByRole('radio', { name: model.type }).check();
  await page.getByRole('radio', { name: new RegExp(`^${model.visibility}`) }).check();
  await page.getByRole('button', { name: 'Create model' }).click();
  await heading(page, model.name);
  const id = new URL(page.url()).pathname.split('/').pop();
  if (!id) throw new Error(`No model id in ${page.url()}`);
  return id;
}

describe('models in the browser', { timeout: 90_000 }, () => {
  let server: ServerProcess;
  let browser: TestBrowser;
  let page: Page;
  const pageErrors: string[] = [];
  const run = Date.now().toString(36);
  const alice = { displayName: 'Alice Example', email: `alice-${run}@example.com` };
  const bob = { displayName: 'Bob Example', email: `bob-${run}@example.com` };
  const privateModel = { name: 'Alice private portraits', description: 'Close-up portraits in soft light.', type: /^Person\/Character/, visibility: 'Private' as const };
  const publicModel = { name: 'Ink wash landscapes', description: 'Loose ink wash mountains.', type: /^Style/, visibility: 'Public' as const };
  let privateId = '';

  beforeAll(async () => {
    // `npm test` builds the UI first; a direct vitest run of this file builds it when missing.
    if (!existsSync(join(REPO_ROOT, 'web', 'dist', 'index.html'))) {
      execFileSync(join(REPO_ROOT, 'node_modules', '.bin', 'vite'), ['build', '--config', 'web/vite.config.ts', '--logLevel', 'warn'], {
        cwd: REPO_ROOT,
        stdio: 'inherit',
      });
    }
    server = await startServer();
    browser = await launchBrowser({ baseURL: server.url });
    page = await browser.context.newPage();
    // Browser-side errors, printed with a failure: a blank page otherwise says nothing.
    page.on('pageerror', (e) => pageErrors.push(`pageerror: ${e.message}`));
    page.on('console', (m) => m.type() === 'error' && pageErrors.push(`console: ${m.text()}`));
  }, 120_000);

  // On failure, keep what the browser showed and what the server said, to debug without rerunning.
  afterEach(async (ctx) => {
    if (ctx.task.result?.state !== 'fail' || !page) return;
    const dir = join(SHOTS_DIR ?? tmpdir(), 'theway-e2e-failures');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${ctx.task.name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60)}.png`);
    await page.screenshot({ path: file, fullPage: true }).catch(() => undefined);
    console.error(`[e2e] browser errors:\n${pageErrors.slice(-20).join('\n')}`);
    console.error(`[e2e] failed at ${page.url()}; screenshot ${file}\n[e2e] server output:\n${server.output().slice(-4000)}`);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('a new user signs up (a too-short password is flagged at its field) and sees the empty dashboard', async () => {
    await page.goto('/');
    await heading(page, 'Sign in to The Way');
    await page.getByRole('link', { name: 'Create an account' }).click();
    await heading(page, 'Create your account');
    await shot(page, '01-signup');

    // Too short a password is caught before anything is sent, next to the password field.
    await page.getByLabel('Display name').fill(alice.displayName);
    await page.getByLabel('Email').fill(alice.email);
    await page.getByLabel('Password', { exact: true }).fill('short');
    await page.getByRole('button', { name: 'Create account' }).click();
    expect(await fieldError(page, 'Password')).toMatch(/at least 10 characters/);
    await shot(page, '01-signup-error');

    await signUp(page, alice);
    await heading(page, 'Models');
    expect(new URL(page.url()).pathname).toBe('/models');
    await page.getByRole('heading', { name: 'You have no models yet' }).waitFor();
    await shot(page, '02-models-empty');
  });

  it('creates a private model and shows it in the dashboard', async () => {
    privateId = await createModel(page, privateModel);
    const badges = await page.locator('.model-header').innerText();
    expect(badges).toContain('Private');
    expect(badges).toContain('Draft');
    await shot(page, '04-model-page');

    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Models' }).click();
    const card = page.getByRole('list', { name: 'Your models' }).getByRole('listitem').filter({ hasText: privateModel.name });
    await card.waitFor();
    const text = await card.innerText();
    expect(text).toContain('Person/Character');
    expect(text).toContain('Private');
    expect(text).toContain('Draft');
  });

  it('shows the conflict for a duplicate name next to the name field', async () => {
    await page.getByRole('link', { name: 'Create New Model' }).first().click();
    await heading(page, 'Create New Model');
    await shot(page, '03-create-model');
    await page.getByLabel('Model name').fill(privateModel.name);
    await page.getByRole('radio', { name: /^Object/ }).check();
    await page.getByRole('button', { name: 'Create model' }).click();
    expect(await fieldError(page, 'Model name')).toMatch(/already have a model with this name/);
    await shot(page, '03-create-model-conflict');
    expect(new URL(page.url()).pathname).toBe('/models/new');
  });

  it('creates a public model, then a second user sees only the public one', async () => {
    await createModel(page, publicModel);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Models' }).click();
    await page.getByRole('list', { name: 'Your models' }).getByText(publicModel.name).waitFor();
    await shot(page, '05-models-list');

    await signOut(page);
    await page.getByText("You've signed out.").waitFor();
    await page.getByRole('link', { name: 'Create an account' }).click();
    // The server's "email already used" lands next to the email field.
    await signUp(page, { displayName: 'Not Alice', email: alice.email });
    expect(await fieldError(page, 'Email')).toMatch(/already/i);
    await signUp(page, bob);
    await heading(page, 'Models');
    await page.getByRole('heading', { name: 'You have no models yet' }).waitFor();
    expect(await page.locator('main').innerText()).not.toContain(privateModel.name);

    await page.getByRole('tab', { name: 'Public models' }).click();
    const publicList = page.getByRole('list', { name: 'Public models' });
    await publicList.getByText(publicModel.name).waitFor();
    const listed = await publicList.innerText();
    expect(listed).toContain('By Alice Example');
    expect(listed).not.toContain(privateModel.name);
    await shot(page, '06-public-models');

    await page.goto(`/models/${privateId}`);
    await heading(page, 'Model not found');
    expect(await page.locator('main').innerText()).not.toContain(privateModel.name);
    await shot(page, '07-not-found');
  });

  it('signs in with the keyboard alone', async () => {
    await signOut(page);
    await page.goto('/signin');
    await heading(page, 'Sign in to The Way');
    const focusedName = () => page.evaluate(() => document.activeElement?.getAttribute('name') ?? '');
    for (let i = 0; i < 15 && (await focusedName()) !== 'email'; i++) await page.keyboard.press('Tab');
    expect(await focusedName()).toBe('email');
    await page.keyboard.type(alice.email);
    await page.keyboard.press('Tab');
    expect(await focusedName()).toBe('password');
    await page.keyboard.type(PASSWORD);
    await page.keyboard.press('Enter');
    await heading(page, 'Models');
    await page.getByRole('list', { name: 'Your models' }).getByText(privateModel.name).waitFor();
    // Focus moved to the new page's heading, so keyboard users start from the top of it.
    expect(await page.evaluate(() => document.activeElement?.tagName)).toBe('H1');
  });

  it('edits and deletes a model after confirming', async () => {
    await page.getByRole('link', { name: privateModel.name }).click();
    await heading(page, privateModel.name);
    await page.getByRole('button', { name: 'Edit details' }).click();
    await page.getByLabel('Model name').fill('Alice portraits v2');
    await page.getByRole('radio', { name: /^Public/ }).check();
    await page.getByRole('button', { name: 'Save changes' }).click();
    await heading(page, 'Alice portraits v2');
    expect(await page.locator('.model-header').innerText()).toContain('Public');

    await page.getByRole('button', { name: 'Delete model' }).click();
    const dialog = page.getByRole('dialog', { name: /Delete “Alice portraits v2”/ });
    await dialog.waitFor();
    expect(await dialog.innerText()).toMatch(/everything it owns/);
    await shot(page, '08-delete-dialog');
    await dialog.getByRole('button', { name: 'Delete model' }).click();
    await heading(page, 'Models');
    await page.getByText('“Alice portraits v2” was deleted.').waitFor();
    expect(await page.getByRole('list', { name: 'Your models' }).innerText()).not.toContain('Alice portraits v2');
  });

  it('creates an API token, shows its secret once, and revokes it', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Settings' }).click();
    await heading(page, 'API tokens');
    await page.getByRole('heading', { name: 'No API tokens yet' }).waitFor();
    await page.getByLabel('Token name').fill('laptop script');
    await page.getByRole('button', { name: 'Create token' }).click();
    const secret = await page.getByLabel('Token secret').inputValue();
    expect(secret.length).toBeGreaterThan(16);
    const row = page.getByRole('row').filter({ hasText: 'laptop script' });
    await row.waitFor();
    expect(await row.innerText()).toContain('Never');
    await shot(page, '09-token-created');

    await page.getByRole('button', { name: "I've saved it" }).click();
    expect(await page.locator('main').innerText()).not.toContain(secret);
    await row.getByRole('button', { name: /Revoke/ }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Revoke token' }).click();
    await page.getByRole('heading', { name: 'No API tokens yet' }).waitFor();
  });

  it('after sign-in returns to the page that asked for it, but never to another site', async () => {
    await signOut(page);
    await page.goto('/settings/tokens');
    await heading(page, 'Sign in to The Way');
    expect(new URL(page.url()).searchParams.get('next')).toBe('/settings/tokens');
    await page.getByText('Sign in to continue.').waitFor();
    await page.getByLabel('Email').fill(alice.email);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await heading(page, 'API tokens');

    await signOut(page);
    await page.goto('/signin?next=%2F%2Fevil.example%2Fphish');
    await page.getByLabel('Email').fill(alice.email);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await heading(page, 'Models');
    expect(new URL(page.url()).origin).toBe(server.url);
  });
});
