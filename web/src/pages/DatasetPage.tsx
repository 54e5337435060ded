import { useCallback, useState } from 'react';
import { useDropzone } from 'react-dropzone';
import { Link, useParams } from 'react-router';
import { useQueryClient } from '@tanstack/react-query';
import { isNotFound } from '../api/client.ts';
import { useModel } from '../api/queries.ts';
import { trainingKeys, uploadFile, useDataset, useDeleteImage, useSetCaption, useUpdateDatasetSettings } from '../api/trainings.ts';
import type { Badge, DatasetImage, UploadResult } from '../api/training-types.ts';
import { PageHeading } from '../components/PageHeading.tsx';
import { ErrorState, LoadingState } from '../components/States.tsx';
import { StepIndicator } from '../components/StepIndicator.tsx';
import { NotFoundPage } from './NotFoundPage.tsx';

interface QueuedUpload {
  key: string;
  name: string;
  progress: number;
  state: 'waiting' | 'uploading' | 'done' | 'failed';
  results: UploadResult[];
  error?: string;
}

const ACCEPT = { 'image/jpeg': [], 'image/png': [], 'image/webp': [], 'image/avif': [], 'image/heic': [], 'application/zip': ['.zip'], 'application/x-zip-compressed': ['.zip'] };
const PARALLEL_UPLOADS = 3;

export function DatasetPage() {
  const { id = '' } = useParams();
  const model = useModel(id);
  const dataset = useDataset(id);
  if (model.isPending || dataset.isPending) return <LoadingState label="Loading training images…" />;
  if (model.isError || dataset.isError) {
    const error = model.error ?? dataset.error;
    if (isNotFound(error)) return <NotFoundPage title="Model not found" message="There is no model at this address, or it belongs to someone else." />;
    return <ErrorState title="Couldn't load the training images" message={error?.message ?? ''} onRetry={() => void dataset.refetch()} />;
  }
  const { summary } = dataset.data;
  return (
    <div className="page">
      <nav aria-label="Breadcrumb" className="breadcrumb">
        <Link to="/models">Models</Link> <span aria-hidden="true">/</span> <Link to={`/models/${id}`}>{model.data.name}</Link> <span aria-hidden="true">/</span>{' '}
        <span aria-current="page">Training images</span>
      </nav>
      <StepIndicator current={2} completedThrough={1} modelId={id} />
      <PageHeading title={`Training images · ${model.data.name}`}>Upload training images</PageHeading>
      <p className="page-header__lead">
        Drag and drop or click to select 15-20 high-quality images: clear, well-lit, at least 512×512 pixels, with a variety of poses, angles and backgrounds, and the subject
        clearly visible in each. Avoid multiple subjects, blurry images and heavily filtered photos.
      </p>
      <Uploader modelId={id} />
      <Summary modelId={id} count={summary.count} readiness={summary.readiness} badges={summary.badges} duplicateGroups={summary.nearDuplicateGroups.length} />
      <DatasetSettingsForm modelId={id} triggerWord={dataset.data.settings.triggerWord} isDefault={dataset.data.settings.triggerWordIsDefault} captionPrefix={dataset.data.settings.captionPrefix} />
      <ImageGrid modelId={id} images={dataset.data.images} groups={summary.nearDuplicateGroups} />
    </div>
  );
}

function Uploader({ modelId }: { modelId: string }) {
  const qc = useQueryClient();
  const [queue, setQueue] = useState<QueuedUpload[]>([]);
  const update = (key: string, patch: Partial<QueuedUpload>) => setQueue((q) => q.map((u) => (u.key === key ? { ...u, ...patch } : u)));

  const onDrop = useCallback(
    async (files: File[]) => {
      const items = files.map((f, i) => ({ key: `${Date.now()}-${i}-${f.name}`, name: f.name, progress: 0, state: 'waiting' as const, results: [], file: f }));
      setQueue((q) => [...items.map(({ file: _f, ...u }) => u), ...q]);
      let next = 0;
      const worker = async () => {
        while (next < items.length) {
          const item = items[next++]!;
          update(item.key, { state: 'uploading' });
          try {
            const results = await uploadFile(modelId, item.file, (p) => update(item.key, { progress: p }));
            update(item.key, { state: 'done', progress: 1, results });
          } catch (error) {
            update(item.key, { state: 'failed', error: (error as Error).message });
          }
          void qc.invalidateQueries({ queryKey: trainingKeys.dataset(modelId) });
        }
      };
      await Promise.all(Array.from({ length: Math.min(PARALLEL_UPLOADS, items.length) }, worker));
    },
    [modelId, qc],
  );
  // Files the picker's type filter would drop are uploaded too: the server names the exact reason.
  const { getRootProps, getInputProps, isDragActive } = useDropzone({
    onDrop: (accepted, rejected) => void onDrop([...accepted, ...rejected.map((r) => r.file)]),
    accept: ACCEPT,
    multiple: true,
  });

  return (
    <section className="panel" aria-labelledby="upload-heading">
      <h2 id="upload-heading" className="panel__title">
        Add images
      </h2>
      <div {...getRootProps({ className: `dropzone${isDragActive ? ' dropzone--active' : ''}` })}>
        <input {...getInputProps({ 'aria-label': 'Choose images to upload' })} />
        <p className="dropzone__title">
          {isDragActive ? (
            'Drop the images here'
          ) : (
            <>
              <span className="for-pointer">Drag and drop images here, or click to select</span>
              <span className="for-touch">Tap to choose images from your photos or files</span>
            </>
          )}
        </p>
        <p className="muted">JPEG, PNG, WebP or AVIF, or a .zip of images (a same-name .txt next to an image becomes its caption). Up to 30 MB per image.</p>
      </div>
      {queue.length > 0 && (
        <ul className="upload-list" aria-label="Uploads">
          {queue.map((u) => (
            <li key={u.key} className={`upload upload--${u.state}`}>
              <div className="upload__row">
                <span className="upload__name">{u.name}</span>
                <span className="upload__state">{uploadLabel(u)}</span>
              </div>
              {(u.state === 'uploading' || u.state === 'waiting') && <progress max={1} value={u.progress} aria-label={`Upload progress of ${u.name}`} />}
              {u.error && <p className="field__error">{u.error}</p>}
              {u.results
                .filter((r) => r.status === 'rejected' || r.status === 'skipped' || r.status === 'duplicate')
                .map((r, i) => (
                  <p key={i} className={r.status === 'rejected' ? 'field__error' : 'muted'}>
                    {r.status === 'rejected' ? r.error.message : r.status === 'skipped' ? `${r.filename}: skipped (${r.reason})` : `${r.filename}: already in this training set`}
                  </p>
                ))}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function uploadLabel(u: QueuedUpload): string {
  if (u.state === 'waiting') return 'Waiting…';
  if (u.state === 'uploading') return u.progress >= 1 ? 'Checking…' : `${Math.round(u.progress * 100)}%`;
  if (u.state === 'failed') return 'Failed';
  const added = u.results.filter((r) => r.status === 'added').length;
  const rejected = u.results.filter((r) => r.status === 'rejected').length;
  if (rejected && !added) return 'Not added';
  return u.results.length > 1 ? `${added} added${rejected ? `, ${rejected} refused` : ''}` : added ? 'Added' : 'Already there';
}

function Summary(props: { modelId: string; count: number; readiness: { ready: boolean; canTrain: boolean; verdict: string; topFixes: string[] }; badges: Badge[]; duplicateGroups: number }) {
  const { count, readiness } = props;
  const tone = readiness.verdict === 'ready' ? 'success' : readiness.verdict === 'blocked' ? 'error' : 'warning';
  return (
    <section className={`panel readiness readiness--${readiness.verdict}`} aria-labelledby="readiness-heading">
      <h2 id="readiness-heading" className="panel__title">
        {readiness.verdict === 'ready' ? 'Ready to train' : readiness.verdict === 'blocked' ? 'Not ready to train yet' : 'Ready to train, with suggestions'}
      </h2>
      <p>
        <strong>{count}</strong> image{count === 1 ? '' : 's'} · 15-20 recommended · at least 10 needed
        {props.duplicateGroups > 0 && ` · ${props.duplicateGroups} group${props.duplicateGroups === 1 ? '' : 's'} of near-duplicates`}
      </p>
      <div className="meter" role="img" aria-label={`${count} of 20 recommended images`}>
        <span style={{ width: `${Math.min(100, (count / 20) * 100)}%` }} />
      </div>
      {readiness.topFixes.length > 0 && (
        <div className={`alert alert--${tone}`} role="status">
          <div>
            <strong>Top fixes</strong>
            <ol className="fix-list">
              {readiness.topFixes.map((f) => (
                <li key={f}>{f}</li>
              ))}
            </ol>
          </div>
        </div>
      )}
      <div className="form__actions">
        {readiness.canTrain ? (
          <Link className="button button--primary" to={`/models/${props.modelId}/train`}>
            Next: training parameters
          </Link>
        ) : (
          <span className="muted">Add images to continue to the training parameters.</span>
        )}
      </div>
    </section>
  );
}

function DatasetSettingsForm({ modelId, triggerWord, isDefault, captionPrefix }: { modelId: string; triggerWord: string; isDefault: boolean; captionPrefix: string }) {
  const save = useUpdateDatasetSettings(modelId);
  const [word, setWord] = useState(triggerWord);
  const [prefix, setPrefix] = useState(captionPrefix);
  const [saved, setSaved] = useState(false);
  const issue = save.error && 'fieldIssues' in save.error ? (save.error as { fieldIssues: Array<{ path: (string | number)[]; message: string }> }).fieldIssues.find((f) => f.path.includes('triggerWord')) : undefined;
  return (
    <section className="panel" aria-labelledby="captions-heading">
      <h2 id="captions-heading" className="panel__title">
        Trigger word and captions
      </h2>
      <form
        className="form form--inline"
        onSubmit={(e) => {
          e.preventDefault();
          setSaved(false);
          save.mutate({ triggerWord: word.trim() || null, captionPrefix: prefix }, { onSuccess: () => setSaved(true) });
        }}
      >
        <div className={`field${issue ? ' field--invalid' : ''}`}>
          <label className="field__label" htmlFor="trigger-word">
            Trigger word
          </label>
          <input id="trigger-word" className="input" value={word} onChange={(e) => setWord(e.target.value)} aria-describedby="trigger-hint" />
          <p id="trigger-hint" className="field__hint">
            Use it in prompts to call up your subject, e.g. “a photo of {word || triggerWord} on a beach”. {isDefault ? 'Suggested from the model name.' : ''} It is added to every caption that lacks it.
          </p>
          {(issue || save.error) && <p className="field__error">{issue?.message ?? save.error?.message}</p>}
        </div>
        <div className="field">
          <label className="field__label" htmlFor="caption-prefix">
            Caption prefix <span className="field__optional">(optional)</span>
          </label>
          <input id="caption-prefix" className="input" value={prefix} onChange={(e) => setPrefix(e.target.value)} placeholder="a photo of" />
          <p className="field__hint">Put in front of every caption, e.g. “a watercolor painting of”.</p>
        </div>
        <div className="form__actions">
          <button type="submit" className="button button--secondary" disabled={save.isPending}>
            {save.isPending ? 'Saving…' : 'Save'}
          </button>
          {saved && <span role="status">Saved.</span>}
        </div>
      </form>
    </section>
  );
}

function ImageGrid({ modelId, images, groups }: { modelId: string; images: DatasetImage[]; groups: string[][] }) {
  const remove = useDeleteImage(modelId);
  const [open, setOpen] = useState<DatasetImage | null>(null);
  const groupOf = new Map<string, string[]>();
  for (const g of groups) for (const id of g) groupOf.set(id, g);
  const nameOf = new Map(images.map((i) => [i.id, i.filename]));
  if (images.length === 0) return <p className="muted">No images yet.</p>;
  return (
    <section aria-labelledby="review-heading">
      <h2 id="review-heading" className="section-title">
        Review your images
      </h2>
      <p className="muted">Remove any that don't fit well. Badges explain what the checks found. Captions left empty are written automatically.</p>
      <ul className="image-grid">
        {images.map((image) => (
          <li key={image.id} className="image-card" data-testid="dataset-image">
            <button type="button" className="image-card__open" onClick={() => setOpen(image)} aria-label={`Open ${image.filename} large`}>
              <img src={image.thumbnailUrl} alt={image.caption || image.filename} loading="lazy" />
            </button>
            <div className="image-card__body">
              <p className="image-card__name" title={image.filename}>
                {image.filename}
              </p>
              <p className="muted small">
                {image.width}×{image.height}
              </p>
              <ul className="image-badges" aria-label={`Checks for ${image.filename}`}>
                {image.badges.length === 0 && <li className="badge badge--ok">Looks good</li>}
                {image.badges.map((b) => (
                  <li key={b.code} className={`badge badge--${b.severity}`} title={b.message}>
                    {b.message}
                  </li>
                ))}
                {groupOf.has(image.id) && (
                  <li className="badge badge--warning">
                    Looks like {groupOf.get(image.id)!.filter((x) => x !== image.id).map((x) => nameOf.get(x)).join(', ')}
                  </li>
                )}
              </ul>
              <CaptionEditor modelId={modelId} image={image} />
              <button type="button" className="button button--danger-ghost button--small" onClick={() => remove.mutate(image.id)} disabled={remove.isPending}>
                Remove
              </button>
            </div>
          </li>
        ))}
      </ul>
      {open && (
        <dialog open className="dialog dialog--image" aria-label={open.filename} onClose={() => setOpen(null)}>
          <div className="dialog__panel">
            <img src={open.fileUrl} alt={open.caption || open.filename} className="image-large" />
            <div className="dialog__actions">
              <span className="muted">
                {open.filename} · {open.width}×{open.height}
              </span>
              <button type="button" className="button button--secondary" onClick={() => setOpen(null)} autoFocus>
                Close
              </button>
            </div>
          </div>
        </dialog>
      )}
    </section>
  );
}

function CaptionEditor({ modelId, image }: { modelId: string; image: DatasetImage }) {
  const save = useSetCaption(modelId);
  const [value, setValue] = useState(image.caption);
  const dirty = value !== image.caption;
  return (
    <form
      className="caption-form"
      onSubmit={(e) => {
        e.preventDefault();
        save.mutate({ imageId: image.id, caption: value });
      }}
    >
      <label className="visually-hidden" htmlFor={`caption-${image.id}`}>
        Caption for {image.filename}
      </label>
      <textarea id={`caption-${image.id}`} className="input input--multiline" rows={2} value={value} placeholder="Caption (optional)" onChange={(e) => setValue(e.target.value)} />
      {dirty && (
        <button type="submit" className="button button--small button--secondary" disabled={save.isPending}>
          Save caption
        </button>
      )}
    </form>
  );
}
