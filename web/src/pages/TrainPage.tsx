import { useEffect, useId, useMemo, useRef, useState } from 'react';
import { Link, useNavigate, useParams, useSearchParams } from 'react-router';
import { isNotFound } from '../api/client.ts';
import { useModel } from '../api/queries.ts';
import { usePresetPlans, useStartTraining, useTraining, useTrainingOptions, useTrainingPlan } from '../api/trainings.ts';
import type { Training, TrainingOptions, TrainingPlan, TrainingSettings } from '../api/training-types.ts';
import { PageHeading } from '../components/PageHeading.tsx';
import { ErrorState, FormAlert, LoadingState } from '../components/States.tsx';
import { StepIndicator } from '../components/StepIndicator.tsx';
import { formatDurationRange, formatUsdRange, PRESET_INFO, RESOLUTION_INFO } from '../lib/stages.ts';
import { NotFoundPage } from './NotFoundPage.tsx';

/** Step 4 "Configure Training Parameters" and Step 5 "Start Training". `?retrain=<id>` prefills from an earlier training. */
export function TrainPage() {
  const { id = '' } = useParams();
  const [search] = useSearchParams();
  const retrainOf = search.get('retrain') ?? undefined;
  const model = useModel(id);
  const options = useTrainingOptions(id);
  if (model.isPending || options.isPending) return <LoadingState label="Loading training options…" />;
  if (model.isError || options.isError) {
    const error = model.error ?? options.error;
    if (isNotFound(error)) return <NotFoundPage title="Model not found" message="There is no model at this address, or it belongs to someone else." />;
    return <ErrorState title="Couldn't load the training options" message={error?.message ?? ''} />;
  }
  return retrainOf ? <RetrainLoader modelId={id} modelName={model.data.name} retrainOf={retrainOf} /> : <TrainForm modelId={id} modelName={model.data.name} />;
}

function RetrainLoader({ modelId, modelName, retrainOf }: { modelId: string; modelName: string; retrainOf: string }) {
  const previous = useTraining(retrainOf);
  const options = useTrainingOptions(modelId).data!;
  if (previous.isPending) return <LoadingState label="Loading the earlier settings…" />;
  if (previous.isError) return <TrainForm modelId={modelId} modelName={modelName} />;
  const s = previous.data.settings;
  return <TrainForm modelId={modelId} modelName={modelName} initial={{ baseModel: s.baseModel, preset: s.preset, resolution: s.resolution, epochs: s.epochs, retrainOf }} initialOverrides={expertOverrides(previous.data, options)} />;
}

/**
 * An Expert training's hand-set inputs are not stored apart from the computed ones, so a retrain
 * prefills every overridable input with the value that was sent (the trainer's complaint usually
 * names one of them). Steps are left out: they follow the epochs.
 */
function expertOverrides(training: Training, options: TrainingOptions): Record<string, string> {
  if (training.settings.preset !== 'expert') return {};
  const overridable = (options.baseModels.find((b) => b.id === training.settings.baseModel)?.overridableInputs ?? []).filter((k) => k !== 'steps' && k !== 'max_train_steps');
  return Object.fromEntries(Object.entries(training.settings.inputs).filter(([k, v]) => overridable.includes(k) && v !== null && typeof v !== 'object').map(([k, v]) => [k, String(v)]));
}

function TrainForm({ modelId, modelName, initial, initialOverrides = {} }: { modelId: string; modelName: string; initial?: TrainingSettings; initialOverrides?: Record<string, string> }) {
  const navigate = useNavigate();
  const options = useTrainingOptions(modelId).data!;
  const firstAvailable = options.baseModels.find((b) => b.available)?.id ?? 'flux-dev';
  const [settings, setSettings] = useState<TrainingSettings>(initial ?? { baseModel: firstAvailable, preset: 'standard', resolution: 1024 });
  const [overrides, setOverrides] = useState<Record<string, string>>(initialOverrides);
  const baseInfo = options.baseModels.find((b) => b.id === settings.baseModel);
  const request = useMemo<TrainingSettings>(() => {
    const o = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v.trim() !== '').map(([k, v]) => [k, v === 'true' ? true : v === 'false' ? false : Number.isNaN(Number(v)) ? v : Number(v)]));
    return { ...settings, ...(settings.preset === 'expert' && Object.keys(o).length ? { overrides: o } : { overrides: undefined }) };
  }, [settings, overrides]);
  const plan = useTrainingPlan(modelId, request, true);
  const presetPlans = usePresetPlans(modelId, options.presets, settings.baseModel, settings.resolution);
  const start = useStartTraining(modelId);
  // Inputs differ per trainer: a new base model starts from its own computed values.
  const overridesFor = useRef(settings.baseModel);
  useEffect(() => {
    if (overridesFor.current === settings.baseModel) return;
    overridesFor.current = settings.baseModel;
    setOverrides({});
  }, [settings.baseModel]);
  const set = (patch: Partial<TrainingSettings>) => setSettings((s) => ({ ...s, ...patch }));
  const p = plan.data;
  const formId = useId();

  return (
    <div className="page">
      <nav aria-label="Breadcrumb" className="breadcrumb">
        <Link to="/models">Models</Link> <span aria-hidden="true">/</span> <Link to={`/models/${modelId}`}>{modelName}</Link> <span aria-hidden="true">/</span>{' '}
        <span aria-current="page">Training parameters</span>
      </nav>
      <StepIndicator current={3} completedThrough={options.dataset.canTrain ? 2 : 1} modelId={modelId} />
      <PageHeading title={`Training parameters · ${modelName}`}>Configure training parameters</PageHeading>
      {initial?.retrainOf && <div className="alert alert--info">These settings come from the earlier training. Change what you need, then start again.</div>}
      {/* Options, then the plan, then the button that starts (and bills) it: on a phone the plan is read before the button, not after. */}
      <div className="train-layout">
        <form
          id={formId}
          className="form train-layout__options"
          onSubmit={(e) => {
            e.preventDefault();
            start.mutate(request, { onSuccess: ({ training }) => navigate(`/trainings/${training.id}`) });
          }}
        >
          <DatasetSummary modelId={modelId} dataset={options.dataset} />
          <fieldset className="fieldset">
            <legend className="field__label">Preset difficulty level</legend>
            <div className="radio-cards__options">
              {options.presets.map((preset, i) => (
                <label key={preset} className="radio-card">
                  {/* A preset is a bundle: choosing one goes back to its own number of epochs. */}
                  <input type="radio" name="preset" value={preset} checked={settings.preset === preset} onChange={() => set({ preset, epochs: undefined })} />
                  <span className="radio-card__body">
                    <span className="radio-card__label">{PRESET_INFO[preset]?.label ?? preset}</span>
                    <span className="radio-card__description">{PRESET_INFO[preset]?.guide}</span>
                    <PresetEstimate plan={presetPlans[i]?.data} />
                  </span>
                </label>
              ))}
            </div>
          </fieldset>
          <fieldset className="fieldset">
            <legend className="field__label">Resolution</legend>
            <p className="field__hint">Higher resolution produces more detailed results but takes longer to train.</p>
            <div className="radio-cards__options">
              {options.resolutions.map((r) => (
                <label key={r} className="radio-card">
                  <input type="radio" name="resolution" value={r} checked={settings.resolution === r} onChange={() => set({ resolution: r })} />
                  <span className="radio-card__body">
                    <span className="radio-card__label">
                      {r}×{r}
                    </span>
                    <span className="radio-card__description">{RESOLUTION_INFO[r]}</span>
                  </span>
                </label>
              ))}
            </div>
          </fieldset>
          <div className="field">
            <label className="field__label" htmlFor="epochs">
              Training epochs
            </label>
            <input id="epochs" className="input input--short" type="number" min={1} max={20} value={settings.epochs ?? p?.plan.epochs ?? ''} onChange={(e) => set({ epochs: e.target.value ? Number(e.target.value) : undefined })} aria-describedby="epochs-hint" />
            <div id="epochs-hint" className="field__hint">
              <p className="small">More epochs means more training iterations, improving quality but increasing training time. The preset sets a sensible number; change it here.</p>
              <ul className="hint-list">
                <li>1 epoch: quick results, good for testing</li>
                <li>2–3 epochs: balanced approach</li>
                <li>4+ epochs: better results but longer training time</li>
              </ul>
            </div>
          </div>
          <fieldset className="fieldset">
            <legend className="field__label">Base model</legend>
            <p className="field__hint">The foundation model your LoRA will be trained on.</p>
            <div className="radio-cards__options">
              {options.baseModels.map((b) => (
                <label key={b.id} className={`radio-card${b.available ? '' : ' radio-card--disabled'}`}>
                  <input type="radio" name="baseModel" value={b.id} disabled={!b.available} checked={settings.baseModel === b.id} onChange={() => set({ baseModel: b.id })} aria-describedby={`base-${b.id}`} />
                  <span className="radio-card__body">
                    <span className="radio-card__label">{b.label}</span>
                    <span id={`base-${b.id}`} className="radio-card__description">
                      {b.available ? b.summary : `Unavailable: ${b.unavailableReason}`}
                    </span>
                  </span>
                </label>
              ))}
            </div>
          </fieldset>
          {settings.preset === 'expert' && p && baseInfo && (
            <section className="panel" aria-labelledby="inputs-heading">
              <h2 id="inputs-heading" className="panel__title">
                Trainer inputs
              </h2>
              <p className="field__hint">Exactly what is sent to the trainer. Leave a field empty to keep the computed value; values are kept within the trainer's limits.</p>
              <table className="table table--pairs">
                <thead>
                  <tr>
                    <th scope="col">Input</th>
                    <th scope="col">Value</th>
                  </tr>
                </thead>
                <tbody>
                  {Object.entries(p.plan.inputs).map(([k, v]) => (
                    <tr key={k}>
                      <th scope="row">
                        <code>{k}</code>
                      </th>
                      <td>
                        {baseInfo.overridableInputs.includes(k) ? (
                          <input className="input input--short" aria-label={`Override ${k}`} placeholder={String(v)} value={overrides[k] ?? ''} onChange={(e) => setOverrides((o) => ({ ...o, [k]: e.target.value }))} />
                        ) : (
                          <code>{String(v)}</code>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </section>
          )}
        </form>
        <aside className="panel panel--highlight plan train-layout__plan" aria-labelledby="plan-heading">
          <h2 id="plan-heading" className="panel__title">
            Before you pay
          </h2>
          {!p ? (
            <LoadingState label="Calculating…" />
          ) : (
            <>
              {/* One short sentence for screen readers when the plan changes, not the whole panel. */}
              <p className="visually-hidden" aria-live="polite">
                {`${p.plan.steps} steps, about ${formatDurationRange(p.estimate.durationSeconds.min, p.estimate.durationSeconds.max)}, ${formatUsdRange(p.estimate.costUsd.min, p.estimate.costUsd.max)}.`}
              </p>
              <dl className="details details--stacked">
                <div>
                  <dt>Training steps</dt>
                  <dd data-testid="plan-steps">{p.plan.steps.toLocaleString()}</dd>
                </div>
                <div>
                  <dt>How they are counted</dt>
                  <dd className="small" data-testid="plan-formula">
                    {p.plan.formula}
                    {p.plan.clamped && (
                      <span className="plan__note">
                        {p.plan.clamped === 'min' ? ` Raised to the trainer's minimum of ${p.plan.steps.toLocaleString()} steps.` : ` Capped at ${p.plan.steps.toLocaleString()} steps, the most that still helps.`}
                      </span>
                    )}
                  </dd>
                </div>
                <div>
                  <dt>Estimated duration</dt>
                  <dd data-testid="plan-duration">
                    {formatDurationRange(p.estimate.durationSeconds.min, p.estimate.durationSeconds.max)}
                  </dd>
                </div>
                <div>
                  <dt>Estimated cost</dt>
                  <dd data-testid="plan-cost">
                    {formatUsdRange(p.estimate.costUsd.min, p.estimate.costUsd.max)}
                  </dd>
                </div>
                <div>
                  <dt>Runs on</dt>
                  <dd>{p.estimate.hardware} (Replicate)</dd>
                </div>
              </dl>
              <p className="muted small">
                {p.estimate.basis === 'history' ? `Based on ${p.estimate.basedOnRuns} trainings finished on this server.` : 'Based on Replicate prices and typical speeds; it gets more precise after a few trainings here.'}{' '}
                Billing stops when training ends or you cancel.
              </p>
              <Blockers modelId={modelId} plan={p} options={options} />
            </>
          )}
        </aside>
        <section className="form train-layout__start" aria-labelledby="start-heading">
          <FormAlert message={start.error?.message ?? (plan.error ? plan.error.message : undefined)} />
          <h2 id="start-heading" className="form__section-title">Start training</h2>
          {p && p.canStart && (
            <p className="muted small" data-testid="start-summary">
              {p.plan.steps.toLocaleString()} steps on {p.estimate.hardware}: about {formatDurationRange(p.estimate.durationSeconds.min, p.estimate.durationSeconds.max)} and{' '}
              {formatUsdRange(p.estimate.costUsd.min, p.estimate.costUsd.max)}, billed by Replicate for the GPU time. You are taken to the status page; you can close it and come back later.
            </p>
          )}
          <div className="form__actions">
            <button type="submit" form={formId} className="button button--primary" disabled={!p?.canStart || start.isPending}>
              {start.isPending ? 'Starting…' : 'Start Training'}
            </button>
            <Link className="button button--ghost" to={`/models/${modelId}/images`}>
              Back to images
            </Link>
          </div>
        </section>
      </div>
    </div>
  );
}

/** Our own estimate for one preset, next to the guide's wording, so the two can be compared. */
function PresetEstimate({ plan }: { plan: TrainingPlan | undefined }) {
  if (!plan) return <span className="radio-card__estimate muted">Estimating…</span>;
  return (
    <span className="radio-card__estimate" data-testid="preset-estimate">
      Our estimate: {formatDurationRange(plan.estimate.durationSeconds.min, plan.estimate.durationSeconds.max)} · {formatUsdRange(plan.estimate.costUsd.min, plan.estimate.costUsd.max)} · {plan.plan.steps.toLocaleString()} steps
    </span>
  );
}

/** Step 3's result as far as training cares: how many images, the trigger word, and a way back to them. */
function DatasetSummary({ modelId, dataset }: { modelId: string; dataset: TrainingOptions['dataset'] }) {
  return (
    <section className={`panel dataset-summary${dataset.canTrain ? '' : ' dataset-summary--blocked'}`} aria-labelledby="dataset-heading">
      <h2 id="dataset-heading" className="visually-hidden">
        Training images
      </h2>
      <p>
        <strong data-testid="dataset-count">{dataset.imageCount} training {dataset.imageCount === 1 ? 'image' : 'images'}</strong>
        {dataset.triggerWord && (
          <>
            {' '}
            · trigger word <code>{dataset.triggerWord}</code>
          </>
        )}
        {dataset.imageCount > 0 && dataset.imageCount < 15 && <span className="muted"> · the guide recommends 15–20</span>}
      </p>
      <Link to={`/models/${modelId}/images`}>{dataset.imageCount === 0 ? 'Upload images' : 'Review images'}</Link>
    </section>
  );
}

/** Why "Start Training" is disabled, each with what to do about it. */
function Blockers({ modelId, plan, options }: { modelId: string; plan: TrainingPlan; options: TrainingOptions }) {
  if (plan.blockers.length === 0) return null;
  return (
    <div className="alert alert--warning" role="status">
      <div>
        <strong>Can't start yet</strong>
        <ul className="fix-list">
          {plan.blockers.map((b) => (
            <li key={b}>{b}</li>
          ))}
        </ul>
        <p className="small">
          {!options.dataset.canTrain && <Link to={`/models/${modelId}/images`}>Go to the training images</Link>}
          {!options.dataset.canTrain && !options.providerConfigured && ' · '}
          {!options.providerConfigured && 'Setting up Replicate is described in the README ("Configuration").'}
        </p>
      </div>
    </div>
  );
}
