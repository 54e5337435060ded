import { useState } from 'react';
import { Link } from 'react-router';
import { isNotFound } from '../api/client.ts';
import {
  useAdminJobs, useAdminOverview, useAdminTrainings, useRetryJob, type AdminJob, type AdminJobState, type AdminOverview, type AdminTraining,
} from '../api/admin.ts';
import { ConfirmDialog } from '../components/ConfirmDialog.tsx';
import { PageHeading } from '../components/PageHeading.tsx';
import { EmptyState, ErrorState, LoadingState } from '../components/States.tsx';
import { formatDateTime } from '../lib/format.ts';
import { NotFoundPage } from './NotFoundPage.tsx';

const ACTIVE_TRAINING = new Set(['queued', 'submitting', 'starting', 'processing']);

/**
 * The operator's view: what runs, for whom, what failed and why. Only admins get the data; for
 * anyone else the API answers 404 and so does this page (the normal not-found page).
 */
export function AdminPage() {
  const overview = useAdminOverview();
  if (overview.isPending) return <LoadingState label="Loading the admin view…" />;
  if (overview.isError) {
    if (isNotFound(overview.error)) return <NotFoundPage />;
    return <ErrorState title="Couldn't load the admin view" message={overview.error.message} onRetry={() => void overview.refetch()} />;
  }
  return (
    <div className="page admin">
      <div>
        <PageHeading title="Admin">Admin</PageHeading>
        <p className="page-header__lead">What the platform is doing for everyone on it. Refreshes every few seconds.</p>
      </div>
      <OverviewNumbers overview={overview.data} />
      <FailedJobs />
      <WaitingJobs />
      <ActiveTrainings />
    </div>
  );
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

const sum = (rows: Array<{ count: number }>) => rows.reduce((n, r) => n + r.count, 0);

function OverviewNumbers({ overview }: { overview: AdminOverview }) {
  const activeTrainings = sum(overview.trainingsByStatus.filter((r) => ACTIVE_TRAINING.has(r.status)));
  const jobsIn = (state: string) => sum(overview.jobs.filter((j) => j.state === state));
  const stats: Array<[string, string, string?]> = [
    ['Users', String(overview.users)],
    ['Models', String(overview.models)],
    ['Active trainings', String(activeTrainings), byStatus(overview.trainingsByStatus)],
    ['Generations, last 24 h', String(sum(overview.generationsLast24hByStatus)), byStatus(overview.generationsLast24hByStatus)],
    ['Storage used', formatBytes(overview.storageUsedBytes)],
    ['Jobs queued · running', `${jobsIn('queued')} · ${jobsIn('running')}`],
    ['Jobs failed', String(jobsIn('failed')), 'kept 7 days after they finished'],
  ];
  return (
    <section aria-labelledby="admin-overview" className="admin__section">
      <h2 id="admin-overview" className="visually-hidden">
        Overview
      </h2>
      <dl className="admin-stats">
        {stats.map(([label, value, hint]) => (
          <div key={label} className="admin-stats__item">
            <dt>{label}</dt>
            <dd>
              <span className="admin-stats__value">{value}</span>
              {hint && <span className="admin-stats__hint">{hint}</span>}
            </dd>
          </div>
        ))}
      </dl>
    </section>
  );
}

function byStatus(rows: Array<{ status: string; count: number }>): string | undefined {
  return rows.length ? rows.map((r) => `${r.count} ${r.status}`).join(', ') : undefined;
}

function Subject({ job }: { job: AdminJob }) {
  const s = job.subject;
  if (!s) return <span className="muted">—</span>;
  const what = s.kind === 'training' ? 'Training' : s.kind === 'generation' ? 'Generation' : 'User';
  return (
    <span className="admin-subject">
      {s.kind === 'training' ? <Link to={`/trainings/${s.id}`}>{what}</Link> : <span>{what}</span>}
      {s.modelName && <> of <strong>{s.modelName}</strong></>}
      {s.ownerEmail ? <span className="admin-subject__owner">{s.ownerEmail}</span> : <span className="muted"> (deleted)</span>}
    </span>
  );
}

function FailedJobs() {
  const jobs = useAdminJobs('failed');
  const retry = useRetryJob();
  const [retrying, setRetrying] = useState<AdminJob | null>(null);
  return (
    <section className="panel" aria-labelledby="admin-failed">
      <h2 id="admin-failed" className="panel__title">
        Failed jobs
      </h2>
      {retry.isSuccess && (
        <div className="alert alert--success" role="status">
          The job is queued again and will run shortly.
        </div>
      )}
      {jobs.isPending ? (
        <LoadingState label="Loading failed jobs…" />
      ) : jobs.isError ? (
        <ErrorState title="Couldn't load failed jobs" message={jobs.error.message} onRetry={() => void jobs.refetch()} />
      ) : jobs.data.length === 0 ? (
        <EmptyState title="No failed jobs">Jobs that gave up after their last attempt show here, with their error.</EmptyState>
      ) : (
        <div className="table-wrap">
          <table className="table admin-table">
            <thead>
              <tr>
                <th scope="col">Job</th>
                <th scope="col">About</th>
                <th scope="col">Error</th>
                <th scope="col">Attempts</th>
                <th scope="col">Failed</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {jobs.data.map((job) => (
                <tr key={job.id}>
                  <th scope="row" data-label="Job">
                    <code>{job.name}</code>
                  </th>
                  <td data-label="About">
                    <Subject job={job} />
                  </td>
                  <td data-label="Error" className="admin-table__error">
                    {job.lastError ?? <span className="muted">No message</span>}
                  </td>
                  <td data-label="Attempts">
                    {job.attempts} of {job.maxAttempts}
                  </td>
                  <td data-label="Failed">
                    <time dateTime={job.updatedAt}>{formatDateTime(job.updatedAt)}</time>
                  </td>
                  <td className="table__actions">
                    <button type="button" className="button button--secondary button--small" onClick={() => setRetrying(job)}>
                      Retry<span className="visually-hidden"> {job.name}</span>
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <ConfirmDialog
        open={retrying !== null}
        title={`Retry ${retrying?.name ?? 'this job'}?`}
        confirmLabel="Retry job"
        busyLabel="Retrying…"
        busy={retry.isPending}
        error={retry.isError ? retry.error.message : undefined}
        onCancel={() => {
          setRetrying(null);
          retry.reset();
        }}
        onConfirm={() => retrying && retry.mutate(retrying.id, { onSuccess: () => setRetrying(null) })}
      >
        <p>
          It runs again with its attempts starting over. Fix what made it fail first (the error says what), or it will fail the same way.
          Retrying never starts a paid training twice: the job checks first whether its training already exists.
        </p>
      </ConfirmDialog>
    </section>
  );
}

function JobRows({ state }: { state: AdminJobState }) {
  const jobs = useAdminJobs(state);
  if (jobs.isPending) return <LoadingState label={`Loading ${state} jobs…`} />;
  if (jobs.isError) return <ErrorState title={`Couldn't load ${state} jobs`} message={jobs.error.message} onRetry={() => void jobs.refetch()} />;
  if (jobs.data.length === 0) return <p className="muted">No {state} jobs.</p>;
  return (
    <div className="table-wrap">
      <table className="table admin-table">
        <thead>
          <tr>
            <th scope="col">Job</th>
            <th scope="col">About</th>
            <th scope="col">Attempts</th>
            <th scope="col">{state === 'queued' ? 'Runs after' : 'Last change'}</th>
          </tr>
        </thead>
        <tbody>
          {jobs.data.map((job) => (
            <tr key={job.id}>
              <th scope="row" data-label="Job">
                <code>{job.name}</code>
              </th>
              <td data-label="About">
                <Subject job={job} />
              </td>
              <td data-label="Attempts">
                {job.attempts} of {job.maxAttempts}
                {job.lastError && <span className="admin-table__error admin-subject__owner">Last error: {job.lastError}</span>}
              </td>
              <td data-label={state === 'queued' ? 'Runs after' : 'Last change'}>
                <time dateTime={state === 'queued' ? job.runAfter : job.updatedAt}>{formatDateTime(state === 'queued' ? job.runAfter : job.updatedAt)}</time>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function WaitingJobs() {
  return (
    <section className="panel" aria-labelledby="admin-waiting">
      <h2 id="admin-waiting" className="panel__title">
        Running and queued jobs
      </h2>
      <h3 className="admin__subtitle">Running</h3>
      <JobRows state="running" />
      <h3 className="admin__subtitle">Queued</h3>
      <JobRows state="queued" />
    </section>
  );
}

function ActiveTrainings() {
  const trainings = useAdminTrainings('active');
  return (
    <section className="panel" aria-labelledby="admin-trainings">
      <h2 id="admin-trainings" className="panel__title">
        Active trainings
      </h2>
      {trainings.isPending ? (
        <LoadingState label="Loading trainings…" />
      ) : trainings.isError ? (
        <ErrorState title="Couldn't load trainings" message={trainings.error.message} onRetry={() => void trainings.refetch()} />
      ) : trainings.data.length === 0 ? (
        <p className="muted">No training is running.</p>
      ) : (
        <div className="table-wrap">
          <table className="table admin-table">
            <thead>
              <tr>
                <th scope="col">Model</th>
                <th scope="col">Owner</th>
                <th scope="col">Status</th>
                <th scope="col">Progress</th>
                <th scope="col">Started</th>
                <th scope="col">Est. cost</th>
              </tr>
            </thead>
            <tbody>
              {trainings.data.map((t) => (
                <TrainingRow key={t.id} training={t} />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function TrainingRow({ training: t }: { training: AdminTraining }) {
  return (
    <tr>
      <th scope="row" data-label="Model">
        <Link to={`/trainings/${t.id}`}>{t.modelName}</Link>
      </th>
      <td data-label="Owner" className="admin-table__wrap">
        {t.ownerEmail}
      </td>
      <td data-label="Status">
        {t.status}
        {t.stage && t.stage !== t.status && <span className="muted"> · {t.stage}</span>}
      </td>
      <td data-label="Progress">{t.progressPercent === null ? <span className="muted">—</span> : `${Math.round(t.progressPercent)}%`}</td>
      <td data-label="Started">{t.startedAt ? <time dateTime={t.startedAt}>{formatDateTime(t.startedAt)}</time> : <span className="muted">Not yet</span>}</td>
      <td data-label="Est. cost">{t.estimatedCostUsd === null ? <span className="muted">—</span> : `$${t.estimatedCostUsd.toFixed(2)}`}</td>
    </tr>
  );
}
