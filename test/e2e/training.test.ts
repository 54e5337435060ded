import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, type TestBrowser } from '../support/browser.ts';
import { shot, SHOTS_DIR } from '../support/screenshots.ts';
import { startServer, type ServerProcess } from '../support/server-process.ts';
import { startReplicateEmulator, type ReplicateEmulator } from '../support/replicate-emulator/index.ts';
import { photoJpeg, svgImage } from '../support/images.ts';

const REPO_ROOT = resolve(import.meta.dirname, '..', '..');

const heading = (page: Page, name: string | RegExp) => page.getByRole('heading', { level: 1, name }).waitFor({ timeout: 30_000 });

describe('training in the browser (Replicate emulator)', { timeout: 90_000 }, () => {
  let emu: ReplicateEmulator;
  let server: ServerProcess;
  let browser: TestBrowser;
  let page: Page;
  const pageErrors: string[] = [];
  let files: string;
  let modelUrl = '';

  beforeAll(async () => {
    if (!existsSync(join(REPO_ROOT, 'web', 'dist', 'index.html'))) {
      execFileSync(join(REPO_ROOT, 'node_modules', '.bin', 'vite'), ['build', '--config', 'web/vite.config.ts', '--logLevel', 'warn'], { cwd: REPO_ROOT, stdio: 'inherit' });
    }
    // Slow enough (a few seconds of training) that the page visibly moves through the stages.
    emu = await startReplicateEmulator({ speed: 0.04, bootMs: 400 });
    server = await startServer({ env: { ...emu.platformEnv(), TRAINING_POLL_SECONDS: '0.2' } });
    browser = await launchBrowser({ baseURL: server.url });
    page = await browser.context.newPage();
    // Browser-side errors, printed with a failure: a blank page otherwise says nothing.
    page.on('pageerror', (e) => pageErrors.push(`pageerror: ${e.message}`));
    page.on('console', (m) => m.type() === 'error' && pageErrors.push(`console: ${m.text()}`));
    files = mkdtempSync(join(tmpdir(), 'theway-e2e-images-'));
    for (let i = 0; i < 10; i++) writeFileSync(join(files, `rex-${i + 1}.jpg`), await photoJpeg({ width: 900, height: 900, seed: 7000 + i }));
    writeFileSync(join(files, 'logo.svg'), svgImage());
  }, 120_000);

  afterEach(async (ctx) => {
    if (ctx.task.result?.state !== 'fail' || !page) return;
    const dir = join(SHOTS_DIR ?? tmpdir(), 'theway-e2e-failures');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `training-${ctx.task.name.replace(/[^a-z0-9]+/gi, '-').slice(0, 50)}.png`);
    await page.screenshot({ path: file, fullPage: true }).catch(() => undefined);
    console.error(`[e2e] browser errors:\n${pageErrors.slice(-20).join('\n')}`);
    console.error(`[e2e] failed at ${page.url()}; screenshot ${file}\n[e2e] server output:\n${server.output().slice(-4000)}`);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await emu?.close();
    if (files) rmSync(files, { recursive: true, force: true });
  });

  /** Step 4 with the Beginner preset at 512×512, then Start Training: lands on the status page. */
  const startBeginnerTraining = async () => {
    await page.goto(`${modelUrl}/train`);
    await heading(page, 'Configure training parameters');
    await page.getByRole('radio', { name: /^Beginner/ }).check();
    await page.getByRole('radio', { name: /^512×512/ }).check();
    await page.getByRole('button', { name: 'Start Training' }).click();
    await page.waitForURL(/\/trainings\//);
  };

  it('uploads images by file picker, shows per-image checks, and refuses a bad file with its reason', async () => {
    await page.goto('/signup');
    await page.getByLabel('Display name').fill('Trainer');
    await page.getByLabel('Email').fill(`trainer-${Date.now()}@example.com`);
    await page.getByLabel('Password', { exact: true }).fill('correct horse battery');
    await page.getByRole('button', { name: 'Create account' }).click();
    await heading(page, 'Models');
    await page.getByRole('link', { name: 'Create New Model' }).first().click();
    await page.getByLabel('Model name').fill('Rex the dog');
    await page.getByRole('radio', { name: /^Person\/Character/ }).check();
    await page.getByRole('button', { name: 'Create model' }).click();
    await heading(page, 'Rex the dog');
    modelUrl = new URL(page.url()).pathname;
    await page.getByRole('link', { name: 'Training images', exact: true }).click();
    await heading(page, 'Upload training images');
    await page.getByLabel('Choose images to upload').setInputFiles([...Array.from({ length: 10 }, (_, i) => join(files, `rex-${i + 1}.jpg`)), join(files, 'logo.svg')]);
    await page.getByText(/logo\.svg.*(not accepted|SVG|refused|vector)/i).first().waitFor({ timeout: 30_000 });
    await expect.poll(() => page.getByTestId('dataset-image').count(), { timeout: 30_000 }).toBe(10);
    await page.getByRole('list', { name: 'Checks for rex-1.jpg' }).waitFor();
    await page.getByRole('heading', { name: /Ready to train/ }).waitFor();
    expect(await page.getByLabel('Trigger word', { exact: true }).inputValue()).toBe('REXDOG');
    await shot(page, '10-dataset');
  });

  it('shows the plan before paying, with SD 1.5 / 2.1 listed but unavailable, and updates it with the preset', async () => {
    await page.getByRole('link', { name: 'Next: training parameters' }).click();
    await heading(page, 'Configure training parameters');
    const sd15 = page.getByRole('radio', { name: /Stable Diffusion 1.5/ });
    expect(await sd15.isDisabled()).toBe(true);
    await page.getByText(/No cloud trainer for Stable Diffusion 1.5/).waitFor();
    expect(await page.getByRole('radio', { name: /Stable Diffusion 2.1/ }).isDisabled()).toBe(true);
    expect(await page.getByTestId('dataset-count').textContent()).toBe('10 training images');
    // Our own estimate next to each preset, besides the guide's wording.
    await expect.poll(() => page.getByTestId('preset-estimate').count()).toBe(3);
    await page.getByRole('radio', { name: /^Standard/ }).check();
    await expect.poll(() => page.getByTestId('plan-steps').textContent()).toBe('500');
    await page.getByRole('radio', { name: /^Beginner/ }).check();
    await expect.poll(() => page.getByTestId('plan-steps').textContent()).toBe('250');
    expect(await page.getByTestId('plan-formula').textContent()).toMatch(/1 epoch × 10 images × 25 repeats ÷ batch 1 = 250 steps/);
    await page.getByRole('radio', { name: /^512×512/ }).check();
    expect(await page.getByTestId('plan-cost').textContent()).toMatch(/^\$\d+\.\d\d – \$\d+\.\d\d$/);
    await shot(page, '11-parameters');
  });

  it('starts training, follows the live bar through the stages (also after a reload), and ends ready', async () => {
    await page.getByRole('button', { name: 'Start Training' }).click();
    await page.waitForURL(/\/trainings\//);
    await heading(page, /Training Rex the dog/);
    await page.getByText('You can close this page and return later').waitFor();
    await page.getByTestId('training-stage').filter({ hasText: 'Training' }).waitFor({ timeout: 30_000 });
    const mid = Number((await page.getByTestId('training-percent').textContent())!.replace('%', ''));
    await shot(page, '12-training');
    await page.reload();
    await heading(page, /Training Rex the dog|Your model is ready/);
    await expect.poll(async () => Number((await page.getByTestId('training-percent').textContent())!.replace('%', '')), { timeout: 30_000 }).toBeGreaterThanOrEqual(mid);
    await heading(page, 'Your model is ready');
    expect(await page.getByTestId('training-percent').textContent()).toBe('100%');
    await page.getByRole('link', { name: 'Download weights (.safetensors)' }).waitFor();
    await expect.poll(() => page.title()).toMatch(/^Ready · Rex the dog/);
    // The training ended while the tab was open: an in-app notification says so.
    await page.locator('.toast', { hasText: 'Rex the dog is ready.' }).waitFor();
    await shot(page, '13-ready');
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Models' }).click();
    await heading(page, 'Models');
    await page.locator('.model-card', { hasText: 'Rex the dog' }).getByText('Ready').waitFor();
  }, 90_000);

  it('shows why a training failed and offers to retrain with the same settings prefilled', async () => {
    emu.scriptNextTraining({ outcome: 'fail', error: 'Prediction input failed validation: lora_rank must be less than or equal to 128' });
    await page.goto(`${modelUrl}/train`);
    await heading(page, 'Configure training parameters');
    // Expert shows exactly what is sent to the trainer and lets the listed inputs be set by hand.
    await page.getByRole('radio', { name: /^Expert/ }).check();
    await page.getByRole('radio', { name: /^512×512/ }).check();
    await page.getByRole('heading', { name: 'Trainer inputs' }).waitFor();
    await page.getByLabel('Override lora_rank').fill('96');
    await shot(page, '14a-expert');
    await page.getByRole('button', { name: 'Start Training' }).click();
    await heading(page, 'Training failed');
    expect(await page.getByTestId('failure-message').textContent()).toMatch(/refused the training settings: lora_rank must be less than or equal to 128/);
    await shot(page, '14-failed');
    await page.getByRole('link', { name: 'Retrain with changes' }).click();
    await heading(page, 'Configure training parameters');
    await page.getByText('These settings come from the earlier training.').waitFor();
    expect(await page.getByRole('radio', { name: /^Expert/ }).isChecked()).toBe(true);
    expect(await page.getByRole('radio', { name: /^512×512/ }).isChecked()).toBe(true);
    expect(await page.getByLabel('Override lora_rank').inputValue()).toBe('96');
  });

  it('generates with the ready model, keeps the image, saves the prompt and reuses it', async () => {
    await page.goto(modelUrl);
    await page.getByRole('link', { name: 'Generate images' }).click();
    await heading(page, 'Generate with Rex the dog');
    expect(await page.getByLabel('Negative prompt').isDisabled()).toBe(true);
    await page.getByText(/FLUX.1 has no negative prompt/).waitFor();
    await page.getByLabel('Prompt', { exact: true }).fill('sitting on a red sofa');
    await page.getByRole('button', { name: 'Generate', exact: true }).click();
    const card = page.getByTestId('generation').first();
    await card.getByRole('img').first().waitFor({ timeout: 30_000 });
    expect(await card.textContent()).toMatch(/REXDOG sitting on a red sofa/);
    await shot(page, '15-generate');
    await card.getByRole('button', { name: 'Save prompt' }).click();
    await card.getByLabel('Recipe name').fill('Red sofa');
    await card.getByRole('button', { name: 'Save', exact: true }).click();
    const saved = page.getByRole('region', { name: 'Saved prompts' });
    await saved.getByText('Red sofa', { exact: true }).waitFor();
    await page.getByLabel('Prompt', { exact: true }).fill('');
    await saved.getByRole('button', { name: 'Use' }).click();
    expect(await page.getByLabel('Prompt', { exact: true }).inputValue()).toBe('REXDOG sitting on a red sofa');

    // Shared results show on the model card, with how the model was trained and its weights.
    await card.getByRole('button', { name: 'Share on the model page' }).click();
    await card.getByRole('button', { name: 'Shared on the model page' }).waitFor();
    await page.goto(modelUrl);
    const modelCard = page.locator('section', { has: page.getByRole('heading', { name: 'Model card' }) });
    await modelCard.getByText('FLUX.1 [dev]').waitFor();
    await modelCard.getByRole('link', { name: 'Download the LoRA weights (.safetensors)' }).waitFor();
    await modelCard.getByRole('list', { name: 'Sample images' }).getByRole('img').first().waitFor();
  });

  it('shows the live percent on the dashboard and model page, and cancels (with a confirmation) to stop billing', async () => {
    emu.scriptNextTraining({ outcome: 'hang', atStep: 100 });
    await startBeginnerTraining();
    await page.getByTestId('training-stage').filter({ hasText: 'Training' }).waitFor({ timeout: 30_000 });
    await expect.poll(() => page.title()).toMatch(/^\d+% · Training Rex the dog — The Way$/);
    // In-app navigation keeps the tab's one event stream, so the dashboard already knows the percent.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Models' }).click();
    await heading(page, 'Models');
    await page.locator('.model-card', { hasText: 'Rex the dog' }).getByText(/^Training \d+%$/).waitFor();
    await shot(page, '16a-dashboard-live');
    await page.getByRole('link', { name: 'Rex the dog' }).click();
    await heading(page, 'Rex the dog');
    await shot(page, '16b-model-trainings');
    await page.getByRole('link', { name: 'Watch the progress' }).click();
    await heading(page, /Training Rex the dog/);
    await page.getByRole('button', { name: 'Cancel training' }).click();
    const dialog = page.getByRole('dialog', { name: 'Cancel this training?' });
    await dialog.getByText(/stops billing/).waitFor();
    await dialog.getByRole('button', { name: 'Cancel training' }).click();
    await heading(page, 'Training canceled');
    await expect.poll(() => page.getByTestId('failure-message').textContent()).toMatch(/stopped billing/);
    await page.getByRole('link', { name: 'Start again with these settings' }).waitFor();
    await page.evaluate(() => window.scrollTo(0, 0));
    await shot(page, '16-canceled');
    // Trainings take seconds against the emulator; on a busy two-core machine, several times that.
  }, 90_000);

  it('opens a new event stream when one is refused (a proxy answering 503 during a deploy) and shows live progress', async () => {
    let asked = 0;
    // The browser's EventSource gives up for good on an error answer: the app itself must try again.
    await page.route('**/api/events', (route) => (++asked <= 2 ? route.fulfill({ status: 503, contentType: 'text/plain', body: 'Service Unavailable' }) : route.continue()));
    try {
      await startBeginnerTraining();
      await expect.poll(() => asked, { timeout: 30_000 }).toBeGreaterThanOrEqual(3);
      await page.getByTestId('training-stage').filter({ hasText: /Training|Finished|Ready/ }).first().waitFor({ timeout: 60_000 });
    } finally {
      await page.unroute('**/api/events');
    }
  }, 90_000);
});
