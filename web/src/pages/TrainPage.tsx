import { useEffect, useMemo, useState } from 'react';
import { Link, useNavigate, useParams, useSearchParams } from 'react-router';
import { isNotFound } from '../api/client.ts';
import { useModel } from '../api/queries.ts';
import { useStartTraining, useTraining, useTrainingOptions, useTrainingPlan } from '../api/trainings.ts';
import type { TrainingSettings } from '../api/training-types.ts';
import { PageHeading } from '../components/PageHeading.tsx';
import { ErrorState, FormAlert, LoadingState } from '../components/States.tsx';
import { StepIndicator } from '../components/StepIndicator.tsx';
import { formatDuration, formatUsd, PRESET_INFO, RESOLUTION_INFO } from '../lib/stages.ts';
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
  if (previous.isPending) return <LoadingState label="Loading the earlier settings…" />;
  if (previous.isError) return <TrainForm modelId={modelId} modelName={modelName} />;
  const s = previous.data.settings;
  return <TrainForm modelId={modelId} modelName={modelName} initial={{ baseModel: s.baseModel, preset: s.preset, resolution: s.resolution, epochs: s.epochs, retrainOf }} />;
}

function TrainForm({ modelId, modelName, initial }: { modelId: string; modelName: string; initial?: TrainingSettings }) {
  const navigate = useNavigate();
  const options = useTrainingOptions(modelId).data!;
  const firstAvailable = options.baseModels.find((b) => b.available)?.id ?? 'flux-dev';
  const [settings, setSettings] = useState<TrainingSettings>(initial ?? { baseModel: firstAvailable, preset: 'standard', resolution: 1024 });
  const [overrides, setOverrides] = useState<Record<string, string>>({});
  const baseInfo = options.baseModels.find((b) => b.id === settings.baseModel);
  const request = useMemo<TrainingSettings>(() => {
    const o = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v.trim() !== '').map(([k, v]) => [k, v === 'true' ? true : v === 'false' ? false : Number.isNaN(Number(v)) ? v : Number(v)]));
    return { ...settings, ...(settings.preset === 'expert' && Object.keys(o).length ? { overrides: o } : { overrides: undefined }) };
  }, [settings, overrides]);
  const plan = useTrainingPlan(modelId, request, true);
  const start = useStartTraining(modelId);
  useEffect(() => setOverrides({}), [settings.baseModel]);
  const set = (patch: Partial<TrainingSettings>) => setSettings((s) => ({ ...s, ...patch }));
  const p = plan.data;

  return (
    <div className="page">
      <nav aria-label="Breadcrumb" className="breadcrumb">
        <Link to="/models">Models</Link> <span aria-hidden="true">/</span> <Link to={`/models/${modelId}`}>{modelName}</Link> <span aria-hidden="true">/</span>{' '}
        <span aria-current="page">Training parameters</span>
      </nav>
      <StepIndicator current={3} completedThrough={options.dataset.canTrain ? 2 : 1} modelId={modelId} />
      <PageHeading title={`Training parameters · ${modelName}`}>Configure training parameters</PageHeading>
      {initial?.retrainOf && <div className="alert alert--info">These settings come from the earlier training. Change what you need, then start again.</div>}
      <div className="train-layout">
        <form
          className="form"
          onSubmit={(e) => {
            e.preventDefault();
            start.mutate(request, { onSuccess: ({ training }) => navigate(`/trainings/${training.id}`) });
          }}
        >
          <fieldset className="fieldset">
            <legend className="field__label">Preset difficulty level</legend>
            <div className="radio-cards__options">
              {options.presets.map((preset) => (
                <label key={preset} className="radio-card">
                  <input type="radio" name="preset" value={preset} checked={settings.preset === preset} onChange={() => set({ preset })} />
                  <span className="radio-card__body">
                    <span className="radio-card__label">{PRESET_INFO[preset]?.label ?? preset}</span>
                    <span className="radio-card__description">{PRESET_INFO[preset]?.guide}</span>
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
            <p id="epochs-hint" className="field__hint">
              More epochs means more training iterations, improving quality but increasing training time. 1 epoch: quick results, good for testing. 2-3 epochs: balanced. 4+
              epochs: better results but longer training.
            </p>
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
              <table className="table">
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
          <FormAlert message={start.error?.message ?? (plan.error ? plan.error.message : undefined)} />
          <div className="form__actions">
            <button type="submit" className="button button--primary" disabled={!p?.canStart || start.isPending}>
              {start.isPending ? 'Starting…' : 'Start Training'}
            </button>
            <Link className="button button--ghost" to={`/models/${modelId}/images`}>
              Back to images
            </Link>
          </div>
        </form>
        <aside className="panel panel--highlight plan" aria-labelledby="plan-heading" aria-live="polite">
          <h2 id="plan-heading" className="panel__title">
            Before you pay
          </h2>
          {!p ? (
            <LoadingState label="Calculating…" />
          ) : (
            <>
              <dl className="details details--stacked">
                <div>
                  <dt>Training steps</dt>
                  <dd data-testid="plan-steps">{p.plan.steps.toLocaleString()}</dd>
                </div>
                <div>
                  <dt>How they are counted</dt>
                  <dd className="small">{p.plan.formula}</dd>
                </div>
                <div>
                  <dt>Estimated duration</dt>
                  <dd data-testid="plan-duration">
                    {formatDuration(p.estimate.durationSeconds.min)} – {formatDuration(p.estimate.durationSeconds.max)}
                  </dd>
                </div>
                <div>
                  <dt>Estimated cost</dt>
                  <dd data-testid="plan-cost">
                    {formatUsd(p.estimate.costUsd.min)} – {formatUsd(p.estimate.costUsd.max)}
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
              {p.blockers.length > 0 && (
                <div className="alert alert--warning" role="status">
                  <div>
                    <strong>Can't start yet</strong>
                    <ul className="fix-list">
                      {p.blockers.map((b) => (
                        <li key={b}>{b}</li>
                      ))}
                    </ul>
                  </div>
                </div>
              )}
            </>
          )}
        </aside>
      </div>
    </div>
  );
}
