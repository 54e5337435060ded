import { useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { apiRequest } from '../api/client.ts';
import type { WebhookInput, WebhookResponse, WebhookSetResponse, WebhookTestResponse } from '../api/types.ts';
import { PageHeading } from '../components/PageHeading.tsx';
import { FormAlert, LoadingState } from '../components/States.tsx';
import { formatDateTime } from '../lib/format.ts';

const KEY = ['user-webhook'];

/** Settings → Webhook: a signed POST to the user's own URL when a training ends. */
export function WebhookPage() {
  const qc = useQueryClient();
  const current = useQuery({ queryKey: KEY, queryFn: async ({ signal }) => (await apiRequest<WebhookResponse>('GET', '/api/settings/webhook', undefined, signal)).webhook });
  const [url, setUrl] = useState('');
  const [secret, setSecret] = useState<string | null>(null);
  const save = useMutation({
    mutationFn: (u: string) => apiRequest<WebhookSetResponse>('PUT', '/api/settings/webhook', { url: u } satisfies WebhookInput),
    onSuccess: (r) => {
      setSecret(r.secret);
      qc.setQueryData(KEY, r.webhook);
    },
  });
  const remove = useMutation({ mutationFn: () => apiRequest<void>('DELETE', '/api/settings/webhook'), onSuccess: () => qc.setQueryData(KEY, null) });
  const test = useMutation({ mutationFn: () => apiRequest<WebhookTestResponse>('POST', '/api/settings/webhook/test'), onSuccess: () => setTimeout(() => void qc.invalidateQueries({ queryKey: KEY }), 1500) });
  if (current.isPending) return <LoadingState label="Loading…" />;
  const hook = current.data;
  return (
    <div className="page page--narrow">
      <div>
        <PageHeading title="Webhook">Webhook</PageHeading>
        <p className="page-header__lead">
          When one of your trainings ends (ready, failed or canceled), The Way sends a signed JSON POST to this URL. Signatures follow the Standard Webhooks scheme
          (headers <code>webhook-id</code>, <code>webhook-timestamp</code>, <code>webhook-signature</code>); failed deliveries are retried.
        </p>
      </div>
      {secret && (
        <div className="alert alert--warning" role="status">
          <div>
            <strong>Signing secret — shown once.</strong> Store it now to verify deliveries: <code className="secret__value">{secret}</code>
          </div>
        </div>
      )}
      <section className="panel" aria-labelledby="webhook-form-heading">
        <h2 id="webhook-form-heading" className="panel__title">
          {hook ? 'Current webhook' : 'Set a webhook'}
        </h2>
        {hook && (
          <dl className="details details--first">
            <div className="details__wide"><dt>URL</dt><dd><code>{hook.url}</code></dd></div>
            <div><dt>Set</dt><dd>{formatDateTime(hook.createdAt)}</dd></div>
            <div><dt>Last delivery</dt><dd>{hook.lastDeliveryAt ? `${formatDateTime(hook.lastDeliveryAt)} (${hook.lastDeliveryStatus})` : 'None yet'}</dd></div>
          </dl>
        )}
        <form
          className="form"
          onSubmit={(e) => {
            e.preventDefault();
            save.mutate(url.trim());
          }}
        >
          <div className="field">
            <label className="field__label" htmlFor="webhook-url">
              {hook ? 'Replace the URL (a new secret is made)' : 'Webhook URL'}
            </label>
            <input id="webhook-url" className="input" type="url" required placeholder="https://example.com/hooks/theway" value={url} onChange={(e) => setUrl(e.target.value)} />
          </div>
          <FormAlert message={save.error?.message ?? remove.error?.message ?? test.error?.message} />
          <div className="form__actions">
            <button type="submit" className="button button--primary" disabled={save.isPending}>
              {save.isPending ? 'Saving…' : 'Save webhook'}
            </button>
            {hook && (
              <>
                <button type="button" className="button button--secondary" onClick={() => test.mutate()} disabled={test.isPending}>
                  Send a test event
                </button>
                <button type="button" className="button button--danger-ghost" onClick={() => remove.mutate()} disabled={remove.isPending}>
                  Remove
                </button>
              </>
            )}
            {test.isSuccess && <span role="status">Test event queued.</span>}
          </div>
        </form>
      </section>
    </div>
  );
}
