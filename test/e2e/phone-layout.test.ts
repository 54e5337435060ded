import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, type TestBrowser } from '../support/browser.ts';
import { multipartBody } from '../support/dataset-factories.ts';
import { signUpOverHttp, type ApiUser } from '../support/http-client.ts';
import { photoJpeg } from '../support/images.ts';
import { startReplicateEmulator, type ReplicateEmulator } from '../support/replicate-emulator/index.ts';
import { shotAsIs, SHOTS_DIR } from '../support/screenshots.ts';
import { startServer, type ServerProcess } from '../support/server-process.ts';
import { until } from '../support/until.ts';
import { registerSecret } from '../support/secrets-registry.ts';

/**
 * Every page a person reaches, on a phone (390×844, touch): nothing wider than the screen, the
 * page's heading on the first screen, buttons big enough to tap and not cut off, and no controls
 * drawn over each other. Set THEWAY_SHOTS=/tmp/theway-shots to keep a screenshot of each page.
 */

const REPO_ROOT = resolve(import.meta.dirname, '..', '..');
const PHONE = { width: 390, height: 844 };
/** Apple and Google both ask for touch targets of at least 44 (CSS) pixels. */
const MIN_TOUCH = 44;

const MODELS = {
  ready: { name: 'Rex the border collie, indoors and out', modelType: 'person', description: 'Our border collie, indoors and outdoors, in every season and from every side.' },
  training: { name: "Watercolour botanical illustrations from my grandmother's sketchbooks", modelType: 'style', description: 'Loose washes, ink outlines.' },
  failed: { name: 'Ceramic teapot collection', modelType: 'object', description: '' },
  attention: { name: 'Studio portraits', modelType: 'person', description: '' },
  // One long word: the kind of name that pushes a layout sideways.
  draft: { name: 'Überlange_Modellbezeichnung_ohne_Leerzeichen_2026_v12', modelType: 'object', description: 'https://example.com/a/very/long/reference/link/without/any/spaces/in/it/at/all' },
} as const;

interface LayoutProblems {
  /** `scrollWidth` of the document when it is wider than the window. */
  pageWiderThanScreen: string | null;
  /** Elements sticking out of the screen sideways (outside deliberately scrolling containers). */
  sticksOut: string[];
  headingProblem: string | null;
  /** Buttons and other tap targets that are too small or cut off. */
  touchTargets: string[];
  /** Pairs of key controls whose boxes intersect. */
  overlaps: string[];
  /** Text inputs under 16 px: iOS zooms the whole page in when one is focused. */
  smallInputText: string[];
}

/**
 * Measures the rendered page in the browser. Runs as `page.evaluate(auditLayout, ...)`, so it
 * must not use anything from this module.
 */
function auditLayout({ minTouch, screenWidth }: { minTouch: number; screenWidth: number }): LayoutProblems {
  // Measured against the phone's width, not window.innerWidth: a mobile browser zooms out to show
  // a page that is too wide, and then innerWidth grows with it.
  const vw = screenWidth;
  const vh = window.innerHeight;
  const label = (el: Element) => {
    const cls = typeof el.className === 'string' && el.className ? `.${el.className.trim().split(/\s+/).join('.')}` : '';
    const text = (el.textContent ?? '').replace(/\s+/g, ' ').trim().slice(0, 40);
    const r = el.getBoundingClientRect();
    return `<${el.tagName.toLowerCase()}${cls}> "${text}" [x ${Math.round(r.left)}–${Math.round(r.right)}, y ${Math.round(r.top)}–${Math.round(r.bottom)}]`;
  };
  const rendered = (el: Element) => {
    // Also false inside a closed <details>, whose content keeps a layout box but is not shown.
    if (!el.checkVisibility({ opacityProperty: true, visibilityProperty: true, contentVisibilityAuto: true })) return false;
    const r = el.getBoundingClientRect();
    return r.width > 1 && r.height > 1;
  };
  const scrollsSideways = (el: Element) => ['auto', 'scroll'].includes(getComputedStyle(el).overflowX);
  const visuallyHidden = (el: Element) => {
    for (let e: Element | null = el; e; e = e.parentElement) {
      const s = getComputedStyle(e);
      if (s.clip !== 'auto' && s.clip !== '' && s.position === 'absolute') return true;
      if (s.clipPath !== 'none' && s.clipPath !== '') return true;
    }
    return false;
  };
  const insideScroller = (el: Element) => {
    for (let e = el.parentElement; e && e !== document.body; e = e.parentElement) if (scrollsSideways(e)) return true;
    return false;
  };
  const fixed = (el: Element) => {
    for (let e: Element | null = el; e; e = e.parentElement) if (getComputedStyle(e).position === 'fixed') return true;
    return false;
  };

  const problems: LayoutProblems = { pageWiderThanScreen: null, sticksOut: [], headingProblem: null, touchTargets: [], overlaps: [], smallInputText: [] };
  const docWidth = document.documentElement.scrollWidth;
  if (docWidth > window.innerWidth || window.innerWidth !== vw) problems.pageWiderThanScreen = `document is ${docWidth}px wide, window ${window.innerWidth}px, on a ${vw}px screen`;

  const all = Array.from(document.body.querySelectorAll('*')).filter((el) => rendered(el) && !visuallyHidden(el));
  // With a modal dialog open the page behind it is inert: only the dialog's controls count.
  const modal = document.querySelector('dialog:modal');
  const usable = all.filter((el) => !modal || modal.contains(el));
  for (const el of all) {
    if (insideScroller(el)) continue;
    const r = el.getBoundingClientRect();
    if (r.left < -1 || r.right > vw + 1) problems.sticksOut.push(label(el));
  }
  problems.sticksOut = problems.sticksOut.slice(0, 12);

  const headings = Array.from(document.querySelectorAll('h1')).filter(rendered);
  if (headings.length !== 1) problems.headingProblem = `${headings.length} visible <h1> elements`;
  else {
    const h = headings[0]!;
    const r = h.getBoundingClientRect();
    if (r.top < 0 || r.bottom > vh) problems.headingProblem = `the heading is not on the first screen: ${label(h)}`;
    else if (r.left < 0 || r.right > vw || h.scrollWidth > h.clientWidth + 1) problems.headingProblem = `the heading does not fit across: ${label(h)}`;
  }

  const targets = usable.filter((el) => el.matches('.button, .main-nav__link, .settings__link, .tabs__tab, .user-menu__button, .user-menu__item, input[type="submit"]'));
  for (const el of targets) {
    const r = el.getBoundingClientRect();
    if (r.height < minTouch - 0.5) problems.touchTargets.push(`${label(el)} is ${Math.round(r.height)}px tall`);
    if (el.scrollWidth > el.clientWidth + 1) problems.touchTargets.push(`${label(el)}: its label is cut off (${el.scrollWidth} > ${el.clientWidth}px)`);
    if (!insideScroller(el) && (r.left < -1 || r.right > vw + 1)) problems.touchTargets.push(`${label(el)} sticks out of the screen`);
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      const s = getComputedStyle(a);
      if (s.overflowX === 'visible' && s.overflowY === 'visible') continue;
      const ar = a.getBoundingClientRect();
      const clippedAcross = s.overflowX !== 'visible' && !scrollsSideways(a) && (r.left < ar.left - 1 || r.right > ar.right + 1);
      const clippedDown = s.overflowY !== 'visible' && !['auto', 'scroll'].includes(s.overflowY) && (r.top < ar.top - 1 || r.bottom > ar.bottom + 1);
      if (clippedAcross || clippedDown) {
        problems.touchTargets.push(`${label(el)} is clipped by ${label(a)}`);
        break;
      }
    }
  }

  const keyControls = usable.filter(
    (el) =>
      !fixed(el) &&
      el.matches('h1, h2, .button, .main-nav__link, .settings__link, .tabs__tab, .user-menu__button, .brand, .badge, .input, select, textarea, input[type="range"], label.radio-card, .steps__item, .progress, .progress__percent, .loss-chart svg'),
  );
  for (let i = 0; i < keyControls.length; i++) {
    const a = keyControls[i]!;
    const ra = a.getBoundingClientRect();
    for (let j = i + 1; j < keyControls.length; j++) {
      const b = keyControls[j]!;
      if (a.contains(b) || b.contains(a)) continue;
      const rb = b.getBoundingClientRect();
      const w = Math.min(ra.right, rb.right) - Math.max(ra.left, rb.left);
      const h = Math.min(ra.bottom, rb.bottom) - Math.max(ra.top, rb.top);
      if (w > 1 && h > 1) problems.overlaps.push(`${label(a)} overlaps ${label(b)}`);
    }
  }
  problems.overlaps = problems.overlaps.slice(0, 12);

  for (const el of all.filter((e) => e.matches('input:not([type="radio"]):not([type="checkbox"]):not([type="range"]):not([type="file"]), textarea, select'))) {
    const size = parseFloat(getComputedStyle(el).fontSize);
    if (size < 16) problems.smallInputText.push(`${label(el)} has ${size}px text`);
  }
  return problems;
}

const CLEAN: LayoutProblems = { pageWiderThanScreen: null, sticksOut: [], headingProblem: null, touchTargets: [], overlaps: [], smallInputText: [] };

/**
 * Checks the page once it has settled (charts measure their width after the first paint), then
 * keeps a screenshot. The full-page capture is laid out at the same width, but without the touch
 * emulation: rules behind (hover: none) / (pointer: coarse) show their mouse variant in the picture.
 */
async function expectPhoneLayout(page: Page, name: string): Promise<void> {
  await page.evaluate(() => window.scrollTo(0, 0));
  try {
    await expect
      .poll(() => page.evaluate(auditLayout, { minTouch: MIN_TOUCH, screenWidth: PHONE.width }), { timeout: 5_000, message: `phone layout of ${name}` })
      .toEqual(CLEAN);
  } finally {
    await shotAsIs(page, `phone-${name}`);
  }
}

const heading = (page: Page, name: string | RegExp) => page.getByRole('heading', { level: 1, name }).waitFor({ timeout: 20_000 });

describe('every page on a phone (390×844, touch)', { timeout: 90_000 }, () => {
  let emu: ReplicateEmulator;
  let server: ServerProcess;
  let browser: TestBrowser;
  let page: Page;
  let user: ApiUser;
  const email = `phone-${Date.now().toString(36)}@example.com`;
  const pageErrors: string[] = [];
  const ids = {} as Record<keyof typeof MODELS, string>;
  const trainingIds = {} as Record<'ready' | 'training' | 'failed', string>;

  const api = <T = Record<string, unknown>>(method: string, path: string, body?: unknown, expectStatus?: number) => user.call<T>(server.url, method, path, body, expectStatus);
  const training = async (id: string) => (await api<{ training: { status: string; weightsAvailable: boolean; progress: { step: number | null } } }>('GET', `/api/trainings/${id}`)).training;

  beforeAll(async () => {
    if (!existsSync(join(REPO_ROOT, 'web', 'dist', 'index.html'))) {
      execFileSync(join(REPO_ROOT, 'node_modules', '.bin', 'vite'), ['build', '--config', 'web/vite.config.ts', '--logLevel', 'warn'], { cwd: REPO_ROOT, stdio: 'inherit' });
    }
    // Full-size outputs (1024 px), as Replicate returns them: wider than any phone.
    emu = await startReplicateEmulator({ bootMs: 100, outputScale: 1 });
    const started = Promise.all([
      startServer({ env: { ...emu.platformEnv(), TRAINING_POLL_SECONDS: '0.2' } }),
      launchBrowser({ viewport: PHONE, screen: PHONE, isMobile: true, hasTouch: true, deviceScaleFactor: 2 }),
    ]);
    const photos: Buffer[] = [];
    for (let i = 0; i < 10; i++) photos.push(await photoJpeg({ width: 768, height: 768, seed: 8100 + i }));
    [server, browser] = await started;
    page = await browser.context.newPage();
    page.on('pageerror', (e) => pageErrors.push(`pageerror: ${e.message}`));
    page.on('console', (m) => m.type() === 'error' && pageErrors.push(`console: ${m.text()}`));

    // The account and its models come from the real server's API; the pages are then visited as a person would.
    user = await signUpOverHttp(server.url, email);
    const upload = async (modelId: string, count: number) => {
      const { payload, headers } = multipartBody(photos.slice(0, count).map((data, i) => ({ name: `photo-${String(i + 1).padStart(2, '0')}.jpg`, data, type: 'image/jpeg' })));
      const res = await fetch(`${server.url}/api/models/${modelId}/images`, { method: 'POST', headers: { authorization: `Bearer ${user.token}`, ...headers }, body: payload });
      if (!res.ok) throw new Error(`upload answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
    };
    // Created oldest first, so the dashboard lists them in a known order.
    for (const key of ['draft', 'attention', 'failed', 'training', 'ready'] as const) {
      const m = MODELS[key];
      ids[key] = (await api<{ model: { id: string } }>('POST', '/api/models', { name: m.name, modelType: m.modelType, description: m.description, visibility: key === 'ready' ? 'public' : 'private' }, 201)).model.id;
    }
    await Promise.all([upload(ids.ready, 10), upload(ids.training, 10), upload(ids.failed, 10), upload(ids.attention, 4)]);

    // One training per outcome, each created at Replicate before the next one is asked for, so the scripts line up.
    const scripts = { ready: { outcome: 'succeed' }, failed: { outcome: 'fail', error: 'Prediction input failed validation: lora_rank must be less than or equal to 128' }, training: { outcome: 'hang', atStep: 150 } } as const;
    for (const key of ['ready', 'failed', 'training'] as const) {
      emu.scriptNextTraining(scripts[key]);
      const before = emu.trainingIds().length;
      trainingIds[key] = (await api<{ training: { id: string } }>('POST', `/api/models/${ids[key]}/trainings`, { baseModel: 'flux-dev', preset: 'beginner', resolution: 512 }, 201)).training.id;
      await until(() => emu.trainingIds().length, (n) => n === before + 1, `the ${key} training created at Replicate`);
    }
    await until(() => training(trainingIds.ready), (t) => t.status === 'succeeded' && t.weightsAvailable, 'the ready training (weights kept)', 30_000);
    await until(() => training(trainingIds.failed), (t) => t.status === 'failed', 'the failed training');

    // A finished image in the gallery, shared on the model card.
    const { generation } = await api<{ generation: { id: string } }>('POST', `/api/models/${ids.ready}/generations`, { prompt: 'a photo of REXDOG sitting on a red sofa in a sunny living room, wide angle', numOutputs: 1 }, 201);
    await until(async () => (await api<{ generation: { status: string } }>('GET', `/api/generations/${generation.id}`)).generation.status, (s) => s === 'succeeded', 'the generation');
    await api('PATCH', `/api/generations/${generation.id}`, { shared: true });
  }, 120_000);

  afterEach(async (ctx) => {
    if (ctx.task.result?.state !== 'fail' || !page) return;
    const dir = join(SHOTS_DIR ?? tmpdir(), 'theway-e2e-failures');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `phone-${ctx.task.name.replace(/[^a-z0-9]+/gi, '-').slice(0, 50)}.png`);
    await page.screenshot({ path: file, fullPage: true }).catch(() => undefined);
    console.error(`[e2e] browser errors:\n${pageErrors.slice(-20).join('\n')}`);
    console.error(`[e2e] failed at ${page.url()}; screenshot ${file}\n[e2e] server output:\n${server?.output().slice(-4000)}`);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await emu?.close();
  });

  it('sign-up and sign-in fit the screen', async () => {
    await page.goto(`${server.url}/signup`);
    await heading(page, 'Create your account');
    await expectPhoneLayout(page, '01-signup');

    await page.getByRole('link', { name: 'Sign in' }).click();
    await heading(page, 'Sign in to The Way');
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill('correct horse battery');
    await expectPhoneLayout(page, '02-signin');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await heading(page, 'Models');
  });

  it('the Models dashboard, with models in every state, and the account menu', async () => {
    const grid = page.getByRole('list', { name: 'Your models' });
    await expect.poll(() => grid.getByRole('listitem').count()).toBe(5);
    const card = (key: keyof typeof MODELS) => page.locator('.model-card', { hasText: MODELS[key].name });
    await card('ready').getByText('Ready', { exact: true }).waitFor();
    await card('training').getByText(/^Training( \d+%)?$/).waitFor();
    await card('attention').getByText('Dataset needs attention').waitFor();
    await card('draft').getByText('Draft', { exact: true }).waitFor();
    await expectPhoneLayout(page, '03-models');

    await page.getByRole('button', { name: /account menu/ }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    await expectPhoneLayout(page, '03b-account-menu');
    await page.keyboard.press('Escape');
    await page.getByRole('button', { name: 'Sign out' }).waitFor({ state: 'hidden' });
  });

  it('Create New Model, and its errors', async () => {
    await page.getByRole('link', { name: 'Create New Model' }).first().click();
    await heading(page, 'Create New Model');
    await expectPhoneLayout(page, '04-create-model');
    await page.getByRole('button', { name: 'Create model' }).click();
    await page.locator('[aria-invalid="true"]').first().waitFor();
    await expectPhoneLayout(page, '04b-create-model-errors');
  });

  it('the model page of a draft with a long name (and its delete dialog), and of a model in training', async () => {
    await page.goto(`${server.url}/models/${ids.draft}`);
    await heading(page, MODELS.draft.name);
    await expectPhoneLayout(page, '05-model-draft');
    await page.getByRole('button', { name: 'Delete model' }).click();
    const dialog = page.getByRole('dialog', { name: /^Delete “/ });
    await dialog.getByRole('button', { name: 'Cancel' }).waitFor();
    await expectPhoneLayout(page, '05a-delete-dialog');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden' });

    await page.goto(`${server.url}/models/${ids.training}`);
    await heading(page, MODELS.training.name);
    await page.getByRole('link', { name: 'Watch the progress' }).waitFor();
    await expectPhoneLayout(page, '05b-model-training');
  });

  it('Step 3: the training images with their check badges', async () => {
    await page.goto(`${server.url}/models/${ids.ready}/images`);
    await heading(page, 'Upload training images');
    await expect.poll(() => page.getByTestId('dataset-image').count()).toBe(10);
    await page.getByRole('list', { name: 'Checks for photo-01.jpg' }).getByRole('listitem').first().waitFor();
    await page.getByRole('heading', { name: /Ready to train/ }).waitFor();
    await expectPhoneLayout(page, '06-training-images');

    // Picked from the phone's photos: the kind of file name that does not fit on one line.
    const longName = 'IMG_20260704_183512_HDR_portrait_mode_edited_final_v2_really_final.jpg';
    await page.getByLabel('Choose images to upload').setInputFiles({ name: longName, mimeType: 'image/jpeg', buffer: await photoJpeg({ width: 768, height: 768, seed: 8200 }) });
    await page.getByRole('list', { name: 'Uploads' }).getByText('Added', { exact: true }).waitFor({ timeout: 20_000 });
    await expect.poll(() => page.getByTestId('dataset-image').count()).toBe(11);
    await expectPhoneLayout(page, '06b-training-images-uploaded');
  });

  it('Step 4: the training parameters, also with the Expert inputs table', async () => {
    await page.getByRole('link', { name: 'Next: training parameters' }).click();
    await heading(page, 'Configure training parameters');
    await expect.poll(() => page.getByTestId('preset-estimate').count()).toBe(3);
    await page.getByTestId('plan-steps').waitFor();
    await expectPhoneLayout(page, '07-parameters');
    await page.getByRole('radio', { name: /^Expert/ }).check();
    await page.getByRole('heading', { name: 'Trainer inputs' }).waitFor();
    await expectPhoneLayout(page, '07b-parameters-expert');
  });

  it('the training status page while training runs, with the loss chart', async () => {
    await page.goto(`${server.url}/trainings/${trainingIds.training}`);
    await heading(page, `Training ${MODELS.training.name}`);
    await page.getByTestId('training-stage').filter({ hasText: 'Training' }).waitFor({ timeout: 20_000 });
    await page.getByRole('img', { name: 'Training loss over steps' }).waitFor({ timeout: 20_000 });
    await expectPhoneLayout(page, '08-training-running');
    await page.getByText('Trainer log', { exact: true }).click();
    await expect.poll(() => page.locator('.logs__body').textContent()).not.toBe('Loading…');
    await expectPhoneLayout(page, '08b-training-log');
  });

  it('the training status page when the model is ready, and when a training failed', async () => {
    await page.goto(`${server.url}/trainings/${trainingIds.ready}`);
    await heading(page, 'Your model is ready');
    await page.getByRole('link', { name: 'Download weights (.safetensors)' }).waitFor();
    await expectPhoneLayout(page, '09-training-ready');

    await page.goto(`${server.url}/trainings/${trainingIds.failed}`);
    await heading(page, 'Training failed');
    await page.getByTestId('failure-message').waitFor();
    await expectPhoneLayout(page, '09b-training-failed');
  });

  it('the Generate page with a result in the gallery', async () => {
    await page.goto(`${server.url}/models/${ids.ready}/generate`);
    await heading(page, `Generate with ${MODELS.ready.name}`);
    const result = page.getByTestId('generation').first();
    await result.getByRole('img').first().waitFor();
    await expect.poll(() => result.getByRole('img').first().evaluate((img) => (img as HTMLImageElement).complete && (img as HTMLImageElement).naturalWidth > 0)).toBe(true);
    await expectPhoneLayout(page, '10-generate');
    await result.getByRole('button', { name: 'Save prompt' }).click();
    await result.getByLabel('Recipe name').fill('Red sofa, wide angle, afternoon light');
    await expectPhoneLayout(page, '10b-generate-save-prompt');
    await result.getByRole('button', { name: 'Save', exact: true }).click();
    await page.getByRole('region', { name: 'Saved prompts' }).getByText('Red sofa, wide angle, afternoon light').waitFor();
    await page.getByText('Compare LoRA scales', { exact: true }).click();
    await page.getByLabel('LoRA scales').waitFor();
    await expectPhoneLayout(page, '10c-generate-saved-and-compare');

    // Reusing a result's settings brings the (stacked) form into view; generating brings the gallery back.
    await result.getByRole('button', { name: 'Reuse settings' }).click();
    await expect.poll(() => page.locator('#generate-form').evaluate((el) => Math.round(el.getBoundingClientRect().top))).toBeLessThan(200);
    await page.getByRole('button', { name: 'Generate', exact: true }).click();
    await expect.poll(() => page.locator('#your-images').evaluate((el) => Math.round(el.getBoundingClientRect().top)), { timeout: 15_000 }).toBeLessThan(300);
    await expect.poll(() => page.getByTestId('generation').count(), { timeout: 30_000 }).toBeGreaterThan(1);
  });

  it('a public share link: made from the gallery, its public page, and the page once it is turned off', async () => {
    await page.goto(`${server.url}/models/${ids.ready}/generate`);
    await heading(page, `Generate with ${MODELS.ready.name}`);
    await page.getByTestId('generation').getByRole('button', { name: 'Get public link' }).first().click();
    const result = page.getByTestId('generation').filter({ has: page.getByRole('button', { name: 'Create link' }) });
    await result.getByLabel('Include the prompt').check();
    await expectPhoneLayout(page, '10d-generate-public-link-choices');
    await result.getByRole('button', { name: 'Create link' }).click();
    const address = page.getByRole('textbox', { name: /^Public link/ }).first();
    await expect.poll(() => address.inputValue()).toMatch(/\/s\/[A-Za-z0-9_-]{43}$/);
    const link = await address.inputValue();
    registerSecret('share link token', link.split('/s/')[1]);
    await expectPhoneLayout(page, '10e-generate-public-link');

    // Full-size (1024 px) image and the whole prompt, on the page anyone with the link sees.
    await page.goto(link);
    await heading(page, 'A shared image');
    await expect.poll(() => page.getByRole('img').first().evaluate((img) => (img as HTMLImageElement).complete && (img as HTMLImageElement).naturalWidth > 0)).toBe(true);
    await page.getByText('sitting on a red sofa').waitFor();
    await expectPhoneLayout(page, '10f-shared-link');

    await page.goBack();
    await page.getByRole('button', { name: 'Turn off link' }).first().click();
    await page.getByRole('button', { name: 'Turn off link' }).waitFor({ state: 'detached' });
    await page.goto(link);
    await heading(page, 'Link not available');
    await expectPhoneLayout(page, '10g-shared-link-off');
  });

  it('the model page of a ready model, with its model card and trainings', async () => {
    await page.goto(`${server.url}/models/${ids.ready}`);
    await heading(page, MODELS.ready.name);
    const card = page.locator('section', { has: page.getByRole('heading', { name: 'Model card' }) });
    await card.getByRole('list', { name: 'Sample images' }).getByRole('img').first().waitFor();
    await page.getByRole('table').waitFor();
    await expectPhoneLayout(page, '11-model-card');
  });

  it('Settings: API tokens (a new secret and the list) and the webhook', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Settings' }).click();
    await heading(page, 'API tokens');
    await page.getByRole('row').filter({ hasText: 'tests' }).waitFor();
    await page.getByLabel('Token name').fill('Nightly export script on the studio laptop');
    await page.getByRole('button', { name: 'Create token' }).click();
    await page.getByLabel('Token secret').waitFor();
    await expectPhoneLayout(page, '12-tokens-secret');
    await page.getByRole('button', { name: "I've saved it" }).click();
    await page.getByRole('row').filter({ hasText: 'Nightly export script' }).waitFor();
    await expectPhoneLayout(page, '12b-tokens');

    await page.getByRole('navigation', { name: 'Settings' }).getByRole('link', { name: 'Webhook' }).click();
    await heading(page, 'Webhook');
    await page.getByLabel('Webhook URL').fill('https://automation.example.com/hooks/the-way/trainings/finished?source=theway&account=studio');
    await page.getByRole('button', { name: 'Save webhook' }).click();
    await page.getByText('Signing secret — shown once.').waitFor();
    await page.getByRole('button', { name: 'Send a test event' }).waitFor();
    await expectPhoneLayout(page, '13-webhook');
  });

  it('a page that does not exist', async () => {
    await page.goto(`${server.url}/no/such/page`);
    await heading(page, 'Page not found');
    await expectPhoneLayout(page, '14-not-found');
  });
});
