import { useEffect, useState } from 'react';
import { Link, useParams } from 'react-router';
import { isNotFound } from '../api/client.ts';
import { useModel } from '../api/queries.ts';
import { useCancelTraining, useLogs, useLoss, useTraining } from '../api/trainings.ts';
import type { Training } from '../api/training-types.ts';
import { ConfirmDialog } from '../components/ConfirmDialog.tsx';
import { LossChart } from '../components/LossChart.tsx';
import { PageHeading } from '../components/PageHeading.tsx';
import { ErrorState, LoadingState } from '../components/States.tsx';
import { useLive } from '../live/LiveEvents.tsx';
import { formatDuration, formatUsdRange, PRESET_INFO, STAGES, stageIndex, stallInfo, TERMINAL_STATUSES as TERMINAL, trainingStatusLabel } from '../lib/stages.ts';
import { NotFoundPage } from './NotFoundPage.tsx';

/** Step 6 "Monitor Training Progress": live through the shared event stream, same state after a reload. */
export function TrainingPage() {
  const { id = '' } = useParams();
  const training = useTraining(id);
  if (training.isPending) return <LoadingState label="Loading training…" />;
  if (training.isError) {
    if (isNotFound(training.error)) return <NotFoundPage title="Training not found" message="There is no training at this address, or it belongs to someone else." />;
    return <ErrorState title="Couldn't load this training" message={training.error.message} onRetry={() => void training.refetch()} />;
  }
  return <TrainingView training={training.data} />;
}

/** The current time, re-rendering every `intervalMs` so "elapsed" and "no progress for" keep counting between events. */
function useNow(intervalMs: number): number {
  const [, setTick] = useState(0);
  useEffect(() => {
    const t = setInterval(() => setTick((n) => n + 1), intervalMs);
    return () => clearInterval(t);
  }, [intervalMs]);
  // Read at render, not from the last tick: an event re-renders the page between ticks too.
  return Date.now();
}

function TrainingView({ training }: { training: Training }) {
  const model = useModel(training.modelId);
  const loss = useLoss(training.id);
  const cancel = useCancelTraining(training.id);
  const live = useLive();
  const [logsOpen, setLogsOpen] = useState(false);
  const logs = useLogs(training.id, logsOpen);
  const [confirmCancel, setConfirmCancel] = useState(false);
  const now = useNow(5_000);
  const name = model.data?.name ?? 'your model';
  // Succeeded on Replicate is not yet usable here: the weights are still being copied.
  const done = TERMINAL.has(training.status) && (training.status !== 'succeeded' || training.weightsAvailable || training.weightsNotice !== null);
  const index = stageIndex(training.progress.stage, training.status);
  const stage = STAGES[index]!;
  const percent = done && training.status === 'succeeded' ? 100 : Math.min(training.status === 'succeeded' ? 99 : 100, training.progress.percent ?? (index >= 9 ? 99 : 0));
  const started = training.startedAt ? Date.parse(training.startedAt) : training.queuedAt ? Date.parse(training.queuedAt) : Date.parse(training.createdAt);
  const elapsed = Math.max(0, ((training.completedAt ? Date.parse(training.completedAt) : now) - started) / 1000);
  const remaining = done ? 0 : training.progress.stage === 'training' && training.progress.trainerEtaSeconds !== null ? training.progress.trainerEtaSeconds + 60 : Math.max(60, training.estimate.durationSeconds.expected - elapsed);
  const { stalled, silentMs } = stallInfo(training, now);
  const waitingForGpu = training.status === 'starting' || training.progress.stage === 'booting';

  useEffect(() => {
    if (logsOpen && !done) void logs.refetch();
  }, [training.progress.step, logsOpen]); // eslint-disable-line react-hooks/exhaustive-deps

  // The tab title shows progress, so a background tab still tells how far it is.
  useEffect(() => {
    const previous = document.title;
    document.title = done
      ? `${training.status === 'succeeded' ? 'Ready' : training.status === 'failed' ? 'Failed' : 'Canceled'} · ${name} — The Way`
      : `${Math.round(percent)}% · Training ${name} — The Way`;
    return () => {
      document.title = previous;
    };
  }, [done, percent, name, training.status]);

  return (
    <div className="page">
      <nav aria-label="Breadcrumb" className="breadcrumb">
        <Link to="/models">Models</Link> <span aria-hidden="true">/</span> <Link to={`/models/${training.modelId}`}>{name}</Link> <span aria-hidden="true">/</span>{' '}
        <span aria-current="page">Training</span>
      </nav>
      <PageHeading title={`Training ${name}`}>{training.status === 'succeeded' && done ? 'Your model is ready' : training.status === 'failed' ? 'Training failed' : training.status === 'canceled' ? 'Training canceled' : `Training ${name}`}</PageHeading>

      {!done && <p className="muted">You can close this page and return later — training will continue in the background.</p>}

      <section className="panel training-progress" aria-labelledby="progress-heading">
        <h2 id="progress-heading" className="visually-hidden">
          Progress
        </h2>
        <div className="progress-row">
          <div className="progress" role="progressbar" aria-label="Training progress" aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(percent)} aria-valuetext={`${Math.round(percent)}%, ${stage.label}`}>
            <span className={`progress__bar progress__bar--${training.status}`} style={{ width: `${percent}%` }} />
          </div>
          <strong className="progress__percent" data-testid="training-percent">
            {Math.round(percent)}%
          </strong>
        </div>
        <p className="progress__meta">
          <span data-testid="training-stage">{training.status === 'failed' ? 'Failed' : training.status === 'canceled' ? 'Canceled' : stage.label}</span>
          {training.progress.step !== null && training.progress.totalSteps && !done && (
            <span>
              {' '}
              · step {(training.progress.step + 1).toLocaleString()} of {training.progress.totalSteps.toLocaleString()}
            </span>
          )}
          {!done && <span> · about {formatDuration(remaining)} left</span>}
          {!live.connected && !done && <span className="muted"> · reconnecting to live updates…</span>}
        </p>
        {!done && (
          <div className="alert alert--info stage-tip">
            <p>
              <strong>{stage.label}.</strong> {stage.tip}
            </p>
          </div>
        )}
        {stalled && (
          <div className="alert alert--warning stalled" role="status" data-testid="stalled">
            <strong>No progress for {formatDuration(silentMs / 1000)}</strong>
            <p>
              {waitingForGpu
                ? 'Replicate may be waiting for a free GPU; you are not billed while it waits.'
                : 'That is longer than usual for this stage: Replicate may be slow to report, or the trainer may be stuck.'}{' '}
              The platform keeps checking Replicate and this page updates by itself. If it stays like this, you can cancel and start again.
            </p>
          </div>
        )}
        {training.cancelRequested && !done && <div className="alert alert--info">Canceling… waiting for Replicate to confirm it stopped.</div>}
        <ol className="stage-timeline" aria-label="Stages">
          {STAGES.map((s, i) => {
            const stopped = training.status === 'failed' || training.status === 'canceled';
            const state = i < index || (training.status === 'succeeded' && done) ? 'done' : i === index && stopped ? 'stopped' : i === index && !done ? 'current' : 'upcoming';
            return (
              <li key={s.id} className={`stage-timeline__item stage-timeline__item--${state}`} aria-current={state === 'current' ? 'step' : undefined}>
                {s.label}
                <span className="visually-hidden">{state === 'done' ? ' (done)' : state === 'current' ? ' (now)' : state === 'stopped' ? ` (${training.status} here)` : ' (upcoming)'}</span>
              </li>
            );
          })}
        </ol>
      </section>

      {training.status === 'failed' && training.failure && (
        <section className="panel panel--danger" aria-labelledby="failure-heading">
          <h2 id="failure-heading" className="panel__title">
            What went wrong
          </h2>
          <p data-testid="failure-message">{training.failure.message}</p>
          <p>
            <strong>What to do next:</strong> {training.failure.nextStep}
          </p>
          <Link className="button button--primary" to={`/models/${training.modelId}/train?retrain=${training.id}`}>
            Retrain with changes
          </Link>
        </section>
      )}
      {training.status === 'canceled' && (
        <section className="panel" aria-labelledby="canceled-heading">
          <h2 id="canceled-heading" className="panel__title">
            Canceled
          </h2>
          <p data-testid="failure-message">{training.failure?.message ?? 'This training was canceled; billing stopped.'}</p>
          <p>{training.failure?.nextStep ?? 'Your images and settings are kept.'}</p>
          <Link className="button button--primary" to={`/models/${training.modelId}/train?retrain=${training.id}`}>
            Start again with these settings
          </Link>
        </section>
      )}
      {training.status === 'succeeded' && training.weightsNotice !== null && (
        <section className="panel" aria-labelledby="weights-lost-heading">
          <h2 id="weights-lost-heading" className="panel__title">
            Trained, but the weights could not be kept
          </h2>
          <p data-testid="weights-notice">{training.weightsNotice}</p>
          <Link className="button button--primary" to={`/models/${training.modelId}/train?retrain=${training.id}`}>
            Train again with these settings
          </Link>
        </section>
      )}
      {training.status === 'succeeded' && done && training.weightsNotice === null && (
        <section className="panel panel--highlight" aria-labelledby="ready-heading">
          <h2 id="ready-heading" className="panel__title">
            Ready to use
          </h2>
          <p>
            Use the trigger word <code>{training.settings.triggerWord}</code> in your prompts, e.g. “A photo of {training.settings.triggerWord} on a beach”.
          </p>
          <div className="form__actions">
            <Link className="button button--primary" to={`/models/${training.modelId}/generate`}>
              Generate images
            </Link>
            <Link className="button button--secondary" to={`/models/${training.modelId}`}>
              Open {name}
            </Link>
            {training.weightsAvailable && (
              <a className="button button--secondary" href={`/api/trainings/${training.id}/weights`} download>
                Download weights (.safetensors)
              </a>
            )}
          </div>
        </section>
      )}

      <div className="two-columns">
        <section className="panel" aria-labelledby="details-heading">
          <h2 id="details-heading" className="panel__title">
            Training details
          </h2>
          <dl className="details">
            <div><dt>Status</dt><dd data-testid="training-status">{trainingStatusLabel(training.status)}{training.status === 'succeeded' && !done ? ' (copying the weights)' : ''}</dd></div>
            <div><dt>Base model</dt><dd>{training.settings.baseModel === 'flux-dev' ? 'FLUX.1 [dev]' : training.settings.baseModel.toUpperCase()}</dd></div>
            <div><dt>Preset</dt><dd>{PRESET_INFO[training.settings.preset]?.label ?? training.settings.preset}</dd></div>
            <div><dt>Resolution</dt><dd>{training.settings.resolution}×{training.settings.resolution}</dd></div>
            <div><dt>Epochs / steps</dt><dd>{training.settings.epochs} / {training.settings.steps.toLocaleString()}</dd></div>
            <div><dt>Images</dt><dd>{training.settings.imageCount}</dd></div>
            <div><dt>Trigger word</dt><dd><code>{training.settings.triggerWord}</code></dd></div>
            <div><dt>Started</dt><dd>{training.startedAt ? new Date(training.startedAt).toLocaleString() : 'Not yet'}</dd></div>
            <div><dt>Elapsed</dt><dd>{formatDuration(elapsed)}</dd></div>
            <div><dt>Estimated cost</dt><dd>{formatUsdRange(training.estimate.costUsd.min, training.estimate.costUsd.max)}</dd></div>
            {training.progress.loss !== null && <div><dt>Loss</dt><dd>{training.progress.loss.toFixed(4)}</dd></div>}
          </dl>
          {!done && !training.cancelRequested && (
            <div className="training-actions">
              <button type="button" className="button button--danger-ghost" onClick={() => setConfirmCancel(true)}>
                Cancel training
              </button>
            </div>
          )}
          {cancel.isError && <p className="field__error" role="alert">{cancel.error.message}</p>}
        </section>
        <section className="panel" aria-labelledby="loss-heading">
          <h2 id="loss-heading" className="panel__title">
            Loss
          </h2>
          <LossChart points={loss.data ?? []} />
        </section>
      </div>

      <details className="panel logs" onToggle={(e) => setLogsOpen((e.target as HTMLDetailsElement).open)}>
        <summary>Trainer log</summary>
        <pre className="logs__body">{logs.data ? logs.data.split('\n').slice(-200).join('\n') : 'Loading…'}</pre>
      </details>

      <ConfirmDialog
        open={confirmCancel}
        title="Cancel this training?"
        confirmLabel="Cancel training"
        busy={cancel.isPending}
        onCancel={() => setConfirmCancel(false)}
        onConfirm={() => cancel.mutate(undefined, { onSettled: () => setConfirmCancel(false) })}
      >
        Replicate stops the training and stops billing. Your images and settings are kept, so you can start again later.
      </ConfirmDialog>
    </div>
  );
}
