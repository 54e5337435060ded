import { useRef, useState } from 'react';
import { Link, useParams } from 'react-router';
import { isNotFound } from '../api/client.ts';
import { useModel } from '../api/queries.ts';
import {
  shareLinkAddress, useCompare, useCreateShareLink, useDeleteGeneration, useDeleteRecipe, useDeleteShareLink, useGallery, useGenerate, useGenerationOptions, useRecipes, useSaveRecipe, useShareGeneration,
  type Generation, type GenerationOptions, type Recipe,
} from '../api/generations.ts';
import { PageHeading } from '../components/PageHeading.tsx';
import { ErrorState, FormAlert, LoadingState } from '../components/States.tsx';
import { NotFoundPage } from './NotFoundPage.tsx';

/** Step 7: generate with a ready model, keep the results, save the prompts that work. */
export function GeneratePage() {
  const { id = '' } = useParams();
  const model = useModel(id);
  const options = useGenerationOptions(id);
  if (model.isPending || options.isPending) return <LoadingState label="Loading…" />;
  if (model.isError || options.isError) {
    const error = model.error ?? options.error;
    if (isNotFound(error)) return <NotFoundPage title="Model not found" message="There is no model at this address, or it is private and belongs to someone else." />;
    return <ErrorState title="Couldn't load this model" message={error?.message ?? ''} />;
  }
  return (
    <div className="page">
      <nav aria-label="Breadcrumb" className="breadcrumb">
        <Link to="/models">Models</Link> <span aria-hidden="true">/</span> <Link to={`/models/${id}`}>{model.data.name}</Link> <span aria-hidden="true">/</span> <span aria-current="page">Generate</span>
      </nav>
      <PageHeading title={`Generate · ${model.data.name}`}>Generate with {model.data.name}</PageHeading>
      {!options.data.available ? (
        <div className="alert alert--info">{options.data.unavailableReason}</div>
      ) : (
        <Workspace modelId={id} options={options.data} />
      )}
    </div>
  );
}

interface FormState { prompt: string; negativePrompt: string; loraScale: number; guidanceScale: number; steps: number; seed: string; aspectRatio: string; numOutputs: number }

/**
 * On a phone the form and the gallery are stacked, so a new image (or the reused settings) would
 * appear out of sight: bring it into view. Side by side on wider screens, nothing moves.
 */
function revealOnPhone(id: string): void {
  if (!window.matchMedia('(max-width: 760px)').matches) return;
  requestAnimationFrame(() => document.getElementById(id)?.scrollIntoView({ behavior: 'smooth', block: 'start' }));
}

function Workspace({ modelId, options }: { modelId: string; options: GenerationOptions }) {
  const c = options.controls;
  const [form, setForm] = useState<FormState>({ prompt: '', negativePrompt: '', loraScale: c.loraScale.default, guidanceScale: c.guidanceScale.default, steps: c.steps.default, seed: '', aspectRatio: '1:1', numOutputs: 1 });
  const [compareScales, setCompareScales] = useState('0.6, 0.8, 1.0, 1.2');
  const generate = useGenerate(modelId);
  const compare = useCompare(modelId);
  const set = (patch: Partial<FormState>) => setForm((f) => ({ ...f, ...patch }));
  const use = (params: Record<string, unknown>, prompt: string, negative: string | null) =>
    setForm((f) => ({ ...f, prompt, negativePrompt: negative ?? '', loraScale: Number(params.loraScale ?? f.loraScale), guidanceScale: Number(params.guidanceScale ?? f.guidanceScale), steps: Number(params.steps ?? f.steps), seed: params.seed !== undefined ? String(params.seed) : '', aspectRatio: String(params.aspectRatio ?? f.aspectRatio), numOutputs: Number(params.numOutputs ?? f.numOutputs) }));

  return (
    <div className="generate-layout">
      <form
        id="generate-form"
        className="form panel"
        aria-labelledby="gen-heading"
        onSubmit={(e) => {
          e.preventDefault();
          generate.mutate(
            { prompt: form.prompt, ...(form.negativePrompt && c.negativePrompt.supported && { negativePrompt: form.negativePrompt }), loraScale: form.loraScale, guidanceScale: form.guidanceScale, steps: form.steps, aspectRatio: form.aspectRatio, numOutputs: form.numOutputs, ...(form.seed && { seed: Number(form.seed) }) },
            { onSuccess: () => revealOnPhone('your-images') },
          );
        }}
      >
        <h2 id="gen-heading" className="panel__title">Create an image</h2>
        <div className="field">
          <label className="field__label" htmlFor="prompt">Prompt</label>
          <textarea id="prompt" className="input input--multiline" rows={3} required value={form.prompt} onChange={(e) => set({ prompt: e.target.value })} placeholder={`A photo of ${options.triggerWord} on a beach`} aria-describedby="prompt-hint" />
          <p id="prompt-hint" className="field__hint">{options.triggerWordHelp}</p>
        </div>
        <div className="field">
          <label className="field__label" htmlFor="negative">Negative prompt</label>
          <input id="negative" className="input" disabled={!c.negativePrompt.supported} value={form.negativePrompt} onChange={(e) => set({ negativePrompt: e.target.value })} aria-describedby="negative-hint" placeholder={c.negativePrompt.supported ? 'blurry, watermark' : ''} />
          <p id="negative-hint" className="field__hint">{c.negativePrompt.supported ? 'What to avoid in the image.' : c.negativePrompt.reason}</p>
        </div>
        <Slider id="lora" label="LoRA scale" hint="How strongly your model shapes the image." value={form.loraScale} range={c.loraScale} onChange={(v) => set({ loraScale: v })} />
        <Slider id="guidance" label="Guidance scale" hint="Lower is more creative, higher follows the prompt more closely." value={form.guidanceScale} range={c.guidanceScale} onChange={(v) => set({ guidanceScale: v })} />
        <Slider id="steps" label="Steps" hint="More steps add detail and time." value={form.steps} range={c.steps} onChange={(v) => set({ steps: v })} />
        <div className="form--inline">
          <div className="field">
            <label className="field__label" htmlFor="aspect">Aspect ratio</label>
            <select id="aspect" className="input" value={form.aspectRatio} onChange={(e) => set({ aspectRatio: e.target.value })}>
              {c.aspectRatios.map((a) => <option key={a}>{a}</option>)}
            </select>
          </div>
          <div className="field">
            <label className="field__label" htmlFor="outputs">Images</label>
            <input id="outputs" className="input input--short" type="number" min={c.numOutputs.min} max={c.numOutputs.max} value={form.numOutputs} onChange={(e) => set({ numOutputs: Number(e.target.value) })} />
          </div>
          <div className="field">
            <label className="field__label" htmlFor="seed">Seed <span className="field__optional">(optional)</span></label>
            <input id="seed" className="input input--short" inputMode="numeric" value={form.seed} onChange={(e) => set({ seed: e.target.value.replace(/\D/g, '') })} placeholder="random" />
          </div>
        </div>
        <FormAlert message={generate.error?.message} />
        <div className="form__actions">
          <button type="submit" className="button button--primary" disabled={generate.isPending || !form.prompt.trim()}>
            {generate.isPending ? 'Starting…' : 'Generate'}
          </button>
        </div>
        <details className="compare">
          <summary>Compare LoRA scales</summary>
          <p className="field__hint">The same prompt and seed at several strengths, side by side, to find the right one.</p>
          <label className="field__label" htmlFor="scales">LoRA scales</label>
          <input id="scales" className="input" value={compareScales} onChange={(e) => setCompareScales(e.target.value)} />
          <FormAlert message={compare.error?.message} />
          <button type="button" className="button button--secondary" disabled={compare.isPending || !form.prompt.trim()} onClick={() => compare.mutate({ prompt: form.prompt, loraScales: compareScales.split(',').map((s) => Number(s.trim())).filter((n) => !Number.isNaN(n)), aspectRatio: form.aspectRatio, ...(form.seed && { seed: Number(form.seed) }) }, { onSuccess: () => revealOnPhone('your-images') })}>
            Compare
          </button>
        </details>
      </form>
      <div>
        <Recipes modelId={modelId} onUse={(r) => use(r.params, r.prompt, r.negativePrompt)} />
        <Gallery modelId={modelId} onReuse={(g) => { use(g.params as unknown as Record<string, unknown>, g.params.prompt, g.negativePrompt); revealOnPhone('generate-form'); }} />
      </div>
    </div>
  );
}

function Slider({ id, label, hint, value, range, onChange }: { id: string; label: string; hint: string; value: number; range: { min: number; max: number; step: number }; onChange: (v: number) => void }) {
  return (
    <div className="field">
      <label className="field__label" htmlFor={id}>{label}: <strong>{value}</strong></label>
      <input id={id} type="range" min={range.min} max={range.max} step={range.step} value={value} onChange={(e) => onChange(Number(e.target.value))} aria-describedby={`${id}-hint`} />
      <p id={`${id}-hint`} className="field__hint">{hint} ({range.min}–{range.max})</p>
    </div>
  );
}

function Recipes({ modelId, onUse }: { modelId: string; onUse: (r: Recipe) => void }) {
  const recipes = useRecipes(modelId);
  const remove = useDeleteRecipe(modelId);
  if (!recipes.data?.length) return null;
  return (
    <section className="panel" aria-labelledby="recipes-heading">
      <h2 id="recipes-heading" className="panel__title">Saved prompts</h2>
      <ul className="recipe-list">
        {recipes.data.map((r) => (
          <li key={r.id}>
            <strong>{r.name}</strong> <span className="muted small">{r.prompt}</span>
            <button type="button" className="button button--small button--secondary" onClick={() => onUse(r)}>Use</button>
            <button type="button" className="button button--small button--danger-ghost" onClick={() => remove.mutate(r.id)}>Delete</button>
          </li>
        ))}
      </ul>
    </section>
  );
}

function Gallery({ modelId, onReuse }: { modelId: string; onReuse: (g: Generation) => void }) {
  const gallery = useGallery(modelId);
  const remove = useDeleteGeneration(modelId);
  const save = useSaveRecipe(modelId);
  const share = useShareGeneration(modelId);
  const [naming, setNaming] = useState<string | null>(null);
  const [name, setName] = useState('');
  /** The generation whose "Get public link" choices are open. */
  const [linking, setLinking] = useState<string | null>(null);
  if (!gallery.data?.length) return <p id="your-images" className="muted">Your images appear here, kept with the exact settings and seed to make them again.</p>;
  return (
    <section id="your-images" aria-labelledby="gallery-heading">
      <h2 id="gallery-heading" className="section-title">Your images</h2>
      <ul className="gallery">
        {gallery.data.map((g) => (
          <li key={g.id} className="gallery__item" data-testid="generation">
            <div className="gallery__images">
              {g.images.length > 0
                ? g.images.map((img) => (
                    <a key={img.url} href={img.downloadUrl} download>
                      <img src={img.url} alt={g.params.prompt} width={img.width} height={img.height} loading="lazy" />
                    </a>
                  ))
                : <div className="gallery__pending" role="status">{g.status === 'failed' || g.status === 'canceled' ? g.error : 'Generating…'}</div>}
            </div>
            <p className="small">{g.params.prompt}</p>
            <p className="muted small">LoRA {g.params.loraScale} · guidance {g.params.guidanceScale} · {g.params.steps} steps · seed {g.params.seed}{g.batchId ? ' · comparison' : ''}</p>
            <div className="form__actions">
              <button type="button" className="button button--small button--secondary" onClick={() => onReuse(g)}>Reuse settings</button>
              {g.status === 'succeeded' && (naming === g.id ? (
                <form className="inline-form" onSubmit={(e) => { e.preventDefault(); save.mutate({ name, fromGeneration: g.id }, { onSuccess: () => { setNaming(null); setName(''); } }); }}>
                  <label className="visually-hidden" htmlFor={`name-${g.id}`}>Recipe name</label>
                  <input id={`name-${g.id}`} className="input input--short" value={name} onChange={(e) => setName(e.target.value)} placeholder="Name" required />
                  <button type="submit" className="button button--small button--primary">Save</button>
                </form>
              ) : (
                <button type="button" className="button button--small button--secondary" onClick={() => setNaming(g.id)}>Save prompt</button>
              ))}
              {g.status === 'succeeded' && (
                <button type="button" className="button button--small button--secondary" aria-pressed={g.shared} onClick={() => share.mutate({ id: g.id, shared: !g.shared })}>
                  {g.shared ? 'Shared on the model page' : 'Share on the model page'}
                </button>
              )}
              {g.status === 'succeeded' && !g.link && linking !== g.id && (
                <button type="button" className="button button--small button--secondary" onClick={() => setLinking(g.id)}>Get public link</button>
              )}
              <button type="button" className="button button--small button--danger-ghost" onClick={() => remove.mutate(g.id)}>Delete</button>
            </div>
            {save.error && naming === g.id && <p className="field__error">{save.error.message}</p>}
            {g.status === 'succeeded' && (g.link || linking === g.id) && <PublicLink modelId={modelId} generation={g} onClose={() => setLinking(null)} />}
          </li>
        ))}
      </ul>
    </section>
  );
}

/**
 * A public link to one result: made on request (the prompt stays private unless chosen), then
 * shown with a Copy button for as long as it is on, and turned off with one click.
 */
function PublicLink({ modelId, generation: g, onClose }: { modelId: string; generation: Generation; onClose: () => void }) {
  const create = useCreateShareLink(modelId);
  const turnOff = useDeleteShareLink(modelId);
  const [includePrompt, setIncludePrompt] = useState(false);
  const [copied, setCopied] = useState<'idle' | 'copied' | 'failed'>('idle');
  const inputRef = useRef<HTMLInputElement>(null);

  if (!g.link) {
    return (
      <div className="share-link" role="group" aria-labelledby={`link-title-${g.id}`}>
        <p id={`link-title-${g.id}`} className="share-link__title">Public link</p>
        <p className="field__hint">Anyone with the link sees this result, without signing in, until you turn the link off. They don't see your name, your model or its settings.</p>
        <label className="share-link__check">
          <input type="checkbox" checked={includePrompt} onChange={(e) => setIncludePrompt(e.target.checked)} />
          Include the prompt
        </label>
        <FormAlert message={create.error?.message} />
        <div className="form__actions">
          <button type="button" className="button button--small button--primary" disabled={create.isPending} onClick={() => create.mutate({ id: g.id, includePrompt }, { onSuccess: onClose })}>
            {create.isPending ? 'Creating…' : 'Create link'}
          </button>
          <button type="button" className="button button--small button--secondary" onClick={onClose}>Cancel</button>
        </div>
      </div>
    );
  }

  const address = shareLinkAddress(g.link);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(address);
      setCopied('copied');
    } catch {
      // Clipboard access can be refused (permissions, plain http): select it for a manual copy.
      inputRef.current?.select();
      setCopied('failed');
    }
  };
  return (
    <div className="share-link" role="group" aria-labelledby={`link-title-${g.id}`}>
      <label id={`link-title-${g.id}`} className="share-link__title" htmlFor={`link-${g.id}`}>
        Public link {g.link.includePrompt ? '(shows the prompt)' : '(prompt hidden)'}
      </label>
      <div className="share-link__row">
        <input id={`link-${g.id}`} ref={inputRef} className="input share-link__value" readOnly value={address} onFocus={(e) => e.currentTarget.select()} spellCheck={false} />
        <button type="button" className="button button--small button--primary" onClick={() => void copy()}>{copied === 'copied' ? 'Copied' : 'Copy'}</button>
      </div>
      <p className="secret__feedback" role="status" aria-live="polite">
        {copied === 'copied' ? 'Link copied to the clipboard.' : copied === 'failed' ? 'Copying failed: the link is selected, press Ctrl+C (⌘C) to copy it.' : ''}
      </p>
      <FormAlert message={turnOff.error?.message} />
      <div className="form__actions">
        <button type="button" className="button button--small button--danger-ghost" disabled={turnOff.isPending} onClick={() => turnOff.mutate(g.id, { onSuccess: () => setCopied('idle') })}>
          {turnOff.isPending ? 'Turning off…' : 'Turn off link'}
        </button>
      </div>
    </div>
  );
}
