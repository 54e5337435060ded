import { Fragment, useState } from 'react';
import { Link, useLocation, useNavigate, useParams } from 'react-router';
import { isNotFound } from '../api/client.ts';
import { useDeleteModel, useModel, useUpdateModel } from '../api/queries.ts';
import type { Model, ModelChanges, ModelInput } from '../api/types.ts';
import { StatusBadge, VisibilityBadge } from '../components/Badges.tsx';
import { ConfirmDialog } from '../components/ConfirmDialog.tsx';
import { ModelForm } from '../components/ModelForm.tsx';
import { PageHeading } from '../components/PageHeading.tsx';
import { ErrorState, LoadingState } from '../components/States.tsx';
import { StepIndicator } from '../components/StepIndicator.tsx';
import { formatDateTime } from '../lib/format.ts';
import { modelTypeLabel, statusLabel, visibilityLabel } from '../lib/model-labels.ts';
import { NotFoundPage } from './NotFoundPage.tsx';
import { useModelTrainings } from '../api/trainings.ts';
import { useLive } from '../live/LiveEvents.tsx';
import { PRESET_INFO, trainingStatusLabel } from '../lib/stages.ts';
import { useModelCard, useShowcase } from '../api/generations.ts';

/** "Person/Character" may wrap after its slash in a narrow column instead of mid-word. */
function wrapAfterSlashes(text: string) {
  return text.split('/').map((part, i) => (
    <Fragment key={i}>
      {i > 0 && (
        <>
          /<wbr />
        </>
      )}
      {part}
    </Fragment>
  ));
}

/** The model card: how a ready model was trained, its weights, and what people made with it. */
function ModelCardSection({ model }: { model: Model }) {
  const card = useModelCard(model.id, model.status === 'ready');
  const showcase = useShowcase(model.id, model.status === 'ready');
  if (!card.data) return null;
  const c = card.data;
  return (
    <section className="panel" aria-labelledby="card-heading">
      <h2 id="card-heading" className="panel__title">
        Model card
      </h2>
      <dl className="details">
        <div><dt>Base model</dt><dd>{c.baseModelLabel}</dd></div>
        <div><dt>Trigger word</dt><dd><code>{c.triggerWord}</code></dd></div>
        <div><dt>Training</dt><dd>{c.preset}, {c.resolution}×{c.resolution}, {c.epochs} epoch{c.epochs === 1 ? '' : 's'}, {c.steps} steps</dd></div>
        <div><dt>Trained on</dt><dd>{c.imageCount} images</dd></div>
        {c.trainedAt && <div><dt>Trained</dt><dd>{formatDateTime(c.trainedAt)}</dd></div>}
      </dl>
      <p>
        Use <code>{c.triggerWord}</code> in your prompts. <a href={c.weightsUrl} download>Download the LoRA weights (.safetensors)</a>
      </p>
      {showcase.data && showcase.data.length > 0 && (
        <ul className="gallery" aria-label="Sample images">
          {showcase.data.flatMap((g) =>
            g.images.map((img) => (
              <li key={img.url} className="gallery__item">
                <img src={img.url} alt={g.params.prompt} width={img.width} height={img.height} loading="lazy" />
                <p className="muted small">{g.params.prompt}</p>
              </li>
            )),
          )}
        </ul>
      )}
    </section>
  );
}

function TrainingSection({ model }: { model: Model }) {
  const trainings = useModelTrainings(model.id);
  const live = useLive();
  const active = trainings.data?.find((t) => !['succeeded', 'failed', 'canceled'].includes(t.status));
  const livePercent = live.progressByModel[model.id];
  return (
    <section className="panel" aria-labelledby="next-heading">
      <h2 id="next-heading" className="panel__title">
        Training
      </h2>
      <StepIndicator current={null} completedThrough={model.status === 'draft' ? (model.imageCount >= 10 ? 2 : 1) : 4} modelId={model.id} />
      <p data-testid="model-image-count">
        <strong>
          {model.imageCount} training {model.imageCount === 1 ? 'image' : 'images'}
        </strong>
        {model.imageCount < 10 ? ' · at least 10 are needed to train; 15–20 give the best results.' : model.imageCount < 15 ? ' · enough to train; the guide recommends 15–20.' : ''}
      </p>
      {active ? (
        <p>
          Training now{livePercent !== null && livePercent !== undefined ? ` (${Math.round(livePercent)}%)` : ''}.{' '}
          <Link to={`/trainings/${active.id}`}>Watch the progress</Link>
        </p>
      ) : (
        <div className="form__actions">
          <Link className="button button--secondary" to={`/models/${model.id}/images`}>
            Training images
          </Link>
          <Link className="button button--primary" to={`/models/${model.id}/train`}>
            {model.status === 'ready' ? 'Train again' : 'Train this model'}
          </Link>
        </div>
      )}
      {trainings.data && trainings.data.length > 0 && (
        <table className="table">
          <caption className="visually-hidden">Trainings of this model</caption>
          <thead>
            <tr>
              <th scope="col">Started</th>
              <th scope="col">Settings</th>
              <th scope="col">Status</th>
            </tr>
          </thead>
          <tbody>
            {trainings.data.map((t) => (
              <tr key={t.id}>
                <td data-label="Started">
                  <Link to={`/trainings/${t.id}`}>{formatDateTime(t.createdAt)}</Link>
                </td>
                <td data-label="Settings">
                  {PRESET_INFO[t.settings.preset]?.label ?? t.settings.preset}, {t.settings.resolution}×{t.settings.resolution}, {t.settings.steps.toLocaleString()} steps
                </td>
                <td data-label="Status">
                  {trainingStatusLabel(t.status)}
                  {t.id === active?.id && livePercent !== null && livePercent !== undefined ? ` ${Math.round(livePercent)}%` : ''}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

export function ModelPage() {
  const { id = '' } = useParams();
  const model = useModel(id);

  if (model.isPending) return <LoadingState label="Loading model…" />;
  if (model.isError) {
    if (isNotFound(model.error)) {
      return (
        <NotFoundPage
          title="Model not found"
          message="There is no model at this address, or it is private and belongs to someone else."
        />
      );
    }
    return <ErrorState title="Couldn't load this model" message={model.error.message} onRetry={() => void model.refetch()} />;
  }
  return <ModelDetails key={model.data.id} model={model.data} />;
}

function changedFields(before: Model, after: ModelInput): ModelChanges {
  const changes: ModelChanges = {};
  if (after.name !== before.name) changes.name = after.name;
  if (after.description !== before.description) changes.description = after.description;
  if (after.visibility !== before.visibility) changes.visibility = after.visibility;
  if (after.modelType !== before.modelType) changes.modelType = after.modelType;
  return changes;
}

function ModelDetails({ model }: { model: Model }) {
  const live = useLive();
  const location = useLocation();
  const navigate = useNavigate();
  const update = useUpdateModel(model.id);
  const remove = useDeleteModel(model.id);
  const [editing, setEditing] = useState(false);
  const [confirmingDelete, setConfirmingDelete] = useState(false);
  const [notice, setNotice] = useState<string | null>(
    (location.state as { created?: boolean } | null)?.created ? 'Model created.' : null,
  );

  return (
    <div className="page page--narrow">
      <nav aria-label="Breadcrumb" className="breadcrumb">
        <Link to={model.isOwner ? '/models' : '/models?tab=public'}>{model.isOwner ? 'Models' : 'Public models'}</Link>
        <span aria-hidden="true"> / </span>
        <span aria-current="page">{model.name}</span>
      </nav>

      {notice && (
        <div className="alert alert--success" role="status">
          <span>{notice}</span>
          <button type="button" className="alert__dismiss" onClick={() => setNotice(null)} aria-label="Dismiss message">
            ×
          </button>
        </div>
      )}

      {model.status === 'ready' && (
        <div className="alert alert--success">
          <span>This model is ready to use.</span>
          <Link className="button button--primary button--small" to={`/models/${model.id}/generate`}>
            Generate images
          </Link>
        </div>
      )}
      <div className="model-header">
        <div className={`model-header__thumb model-card__thumb--${model.modelType}`} aria-hidden="true">
          <span>{model.name.trim().charAt(0).toUpperCase()}</span>
        </div>
        <div className="model-header__text">
          <PageHeading title={model.name}>{model.name}</PageHeading>
          <div className="model-card__badges">
            <VisibilityBadge visibility={model.visibility} />
            <StatusBadge status={model.status} percent={live.progressByModel[model.id]} imageCount={model.imageCount} />
            <span className="badge badge--neutral">{modelTypeLabel(model.modelType)}</span>
          </div>
        </div>
        {model.isOwner && !editing && (
          <div className="model-header__actions">
            <button type="button" className="button button--secondary" onClick={() => setEditing(true)}>
              Edit details
            </button>
          </div>
        )}
      </div>

      {editing ? (
        <section className="panel" aria-labelledby="edit-heading">
          <h2 id="edit-heading" className="panel__title">
            Edit details
          </h2>
          <ModelForm
            initial={{ name: model.name, description: model.description, visibility: model.visibility, modelType: model.modelType }}
            submitLabel="Save changes"
            busyLabel="Saving…"
            busy={update.isPending}
            onSubmit={async (input) => {
              const changes = changedFields(model, input);
              if (Object.keys(changes).length > 0) await update.mutateAsync(changes);
              setEditing(false);
              setNotice(Object.keys(changes).length > 0 ? 'Changes saved.' : 'Nothing to change.');
            }}
            secondaryAction={
              <button type="button" className="button button--ghost" onClick={() => setEditing(false)}>
                Cancel
              </button>
            }
          />
        </section>
      ) : (
        <>
          <section className="panel" aria-labelledby="about-heading">
            <h2 id="about-heading" className="panel__title">
              About this model
            </h2>
            {model.description ? (
              <p className="model-description">{model.description}</p>
            ) : (
              <p className="muted">{model.isOwner ? 'No description yet. Adding one helps you write prompts later.' : 'No description.'}</p>
            )}
            <dl className="details">
              <div>
                <dt>Type</dt>
                <dd>{wrapAfterSlashes(modelTypeLabel(model.modelType))}</dd>
              </div>
              <div>
                <dt>Visibility</dt>
                <dd>{visibilityLabel(model.visibility)}</dd>
              </div>
              <div>
                <dt>Status</dt>
                <dd>{statusLabel(model.status)}</dd>
              </div>
              <div>
                <dt>Owner</dt>
                <dd>{model.isOwner ? `${model.owner.displayName} (you)` : model.owner.displayName}</dd>
              </div>
              <div>
                <dt>Created</dt>
                <dd>
                  <time dateTime={model.createdAt}>{formatDateTime(model.createdAt)}</time>
                </dd>
              </div>
              <div>
                <dt>Last updated</dt>
                <dd>
                  <time dateTime={model.updatedAt}>{formatDateTime(model.updatedAt)}</time>
                </dd>
              </div>
            </dl>
          </section>

          <ModelCardSection model={model} />
          {model.isOwner && <TrainingSection model={model} />}

          {model.isOwner && (
            <section className="panel panel--danger" aria-labelledby="danger-heading">
              <h2 id="danger-heading" className="panel__title">
                Delete this model
              </h2>
              <p>Deleting a model removes it and everything it owns. This cannot be undone.</p>
              <button type="button" className="button button--danger" onClick={() => setConfirmingDelete(true)}>
                Delete model
              </button>
            </section>
          )}
        </>
      )}

      <ConfirmDialog
        open={confirmingDelete}
        title={`Delete “${model.name}”?`}
        confirmLabel="Delete model"
        busyLabel="Deleting…"
        busy={remove.isPending}
        error={remove.isError ? remove.error.message : undefined}
        onCancel={() => {
          setConfirmingDelete(false);
          remove.reset();
        }}
        onConfirm={() =>
          remove.mutate(undefined, {
            onSuccess: () => navigate('/models', { replace: true, state: { deletedModel: model.name } }),
          })
        }
      >
        <p>
          This permanently deletes the model and everything it owns: its training images, its trainings and their
          results, and every image generated with it.
        </p>
        <p>
          <strong>This cannot be undone.</strong>
        </p>
      </ConfirmDialog>
    </div>
  );
}
