import { useEffect, useRef, useState, type FormEvent } from 'react';
import { useCreateToken, useRevokeToken, useTokens } from '../api/queries.ts';
import type { ApiToken, CreatedToken } from '../api/types.ts';
import { ConfirmDialog } from '../components/ConfirmDialog.tsx';
import { TextField } from '../components/Field.tsx';
import { PageHeading } from '../components/PageHeading.tsx';
import { EmptyState, ErrorState, FormAlert, LoadingState } from '../components/States.tsx';
import { toFormErrors, type FormErrors } from '../lib/field-errors.ts';
import { formatDate, formatDateTime } from '../lib/format.ts';
import { focusFirstInvalid } from '../lib/focus.ts';

const EXPIRY_OPTIONS = [
  { value: '', label: 'Never' },
  { value: '30', label: 'In 30 days' },
  { value: '90', label: 'In 90 days' },
  { value: '365', label: 'In 1 year' },
];

export function TokensPage() {
  const [created, setCreated] = useState<CreatedToken | null>(null);
  const [revoking, setRevoking] = useState<ApiToken | null>(null);
  const revoke = useRevokeToken();

  return (
    <div className="page page--narrow">
      <div>
        <PageHeading title="API tokens">API tokens</PageHeading>
        <p className="page-header__lead">
          API tokens let scripts and other tools use The Way's API as you. Treat them like passwords.
        </p>
      </div>

      {created ? (
        <NewTokenSecret name={created.token.name} secret={created.secret} onDone={() => setCreated(null)} />
      ) : (
        <CreateTokenForm onCreated={setCreated} />
      )}

      <section className="panel" aria-labelledby="tokens-heading">
        <h2 id="tokens-heading" className="panel__title">
          Your tokens
        </h2>
        <TokenList onRevoke={setRevoking} />
      </section>

      <ConfirmDialog
        open={revoking !== null}
        title={`Revoke “${revoking?.name ?? ''}”?`}
        confirmLabel="Revoke token"
        busyLabel="Revoking…"
        busy={revoke.isPending}
        error={revoke.isError ? revoke.error.message : undefined}
        onCancel={() => {
          setRevoking(null);
          revoke.reset();
        }}
        onConfirm={() => revoking && revoke.mutate(revoking.id, { onSuccess: () => setRevoking(null) })}
      >
        <p>Anything that uses this token stops working immediately. This cannot be undone.</p>
      </ConfirmDialog>
    </div>
  );
}

function CreateTokenForm({ onCreated }: { onCreated: (result: CreatedToken) => void }) {
  const create = useCreateToken();
  const [name, setName] = useState('');
  const [expiry, setExpiry] = useState('');
  const [errors, setErrors] = useState<FormErrors<'name' | 'expiresInDays'>>({ fields: {} });
  const formRef = useRef<HTMLFormElement>(null);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!name.trim()) {
      setErrors({ fields: { name: 'Give the token a name so you can recognise it later.' } });
      focusFirstInvalid(formRef.current);
      return;
    }
    setErrors({ fields: {} });
    create.mutate(
      { name: name.trim(), ...(expiry ? { expiresInDays: Number(expiry) } : {}) },
      {
        onSuccess: (result) => {
          setName('');
          setExpiry('');
          onCreated(result);
        },
        onError: (err) => {
          setErrors(toFormErrors(err, ['name', 'expiresInDays'] as const));
          focusFirstInvalid(formRef.current);
        },
      },
    );
  };

  return (
    <section className="panel" aria-labelledby="create-token-heading">
      <h2 id="create-token-heading" className="panel__title">
        Create a token
      </h2>
      <FormAlert message={errors.form} />
      <form ref={formRef} className="token-form" onSubmit={submit} noValidate>
        <TextField
          label="Token name"
          name="tokenName"
          hint="Something that tells you where it is used, like “laptop script”."
          value={name}
          onChange={(e) => setName(e.target.value)}
          error={errors.fields.name}
          maxLength={80}
          autoComplete="off"
          required
        />
        <div className="field">
          <label htmlFor="token-expiry" className="field__label">
            Expires
          </label>
          <select id="token-expiry" className="input" value={expiry} onChange={(e) => setExpiry(e.target.value)}>
            {EXPIRY_OPTIONS.map((o) => (
              <option key={o.value} value={o.value}>
                {o.label}
              </option>
            ))}
          </select>
          {errors.fields.expiresInDays && <p className="field__error">{errors.fields.expiresInDays}</p>}
        </div>
        <div className="form__actions">
          <button type="submit" className="button button--primary" disabled={create.isPending}>
            {create.isPending ? 'Creating…' : 'Create token'}
          </button>
        </div>
      </form>
    </section>
  );
}

function NewTokenSecret({ name, secret, onDone }: { name: string; secret: string; onDone: () => void }) {
  const [copied, setCopied] = useState<'idle' | 'copied' | 'failed'>('idle');
  const inputRef = useRef<HTMLInputElement>(null);
  const headingRef = useRef<HTMLHeadingElement>(null);
  // Take the reader straight to the one-time secret.
  useEffect(() => headingRef.current?.focus(), []);

  const copy = async () => {
    try {
      await navigator.clipboard.writeText(secret);
      setCopied('copied');
    } catch {
      // Clipboard access can be refused (permissions, plain http): select it for a manual copy.
      inputRef.current?.select();
      setCopied('failed');
    }
  };

  return (
    <section className="panel panel--highlight" aria-labelledby="secret-heading">
      <h2 id="secret-heading" className="panel__title" tabIndex={-1} ref={headingRef}>
        Copy your new token “{name}”
      </h2>
      <div className="alert alert--warning">
        <strong>This is the only time the token is shown.</strong> Store it somewhere safe now. If you lose it, revoke
        it and create a new one.
      </div>
      <p className="field__hint secret__usage">
        Send it with each API request as the header <code>Authorization: Bearer &lt;token&gt;</code>.
      </p>
      <div className="secret">
        <label htmlFor="token-secret" className="visually-hidden">
          Token secret
        </label>
        <input
          id="token-secret"
          ref={inputRef}
          className="input secret__value"
          readOnly
          value={secret}
          onFocus={(e) => e.currentTarget.select()}
          spellCheck={false}
        />
        <button type="button" className="button button--primary" onClick={() => void copy()}>
          {copied === 'copied' ? 'Copied' : 'Copy'}
        </button>
      </div>
      <p className="secret__feedback" role="status" aria-live="polite">
        {copied === 'copied' ? 'Token copied to the clipboard.' : copied === 'failed' ? 'Copying failed: the token is selected, press Ctrl+C (⌘C) to copy it.' : ''}
      </p>
      <div className="form__actions">
        <button type="button" className="button button--secondary" onClick={onDone}>
          I've saved it
        </button>
      </div>
    </section>
  );
}

function TokenList({ onRevoke }: { onRevoke: (token: ApiToken) => void }) {
  const tokens = useTokens();
  if (tokens.isPending) return <LoadingState label="Loading tokens…" />;
  if (tokens.isError) return <ErrorState title="Couldn't load tokens" message={tokens.error.message} onRetry={() => void tokens.refetch()} />;
  if (tokens.data.length === 0) {
    return (
      <EmptyState title="No API tokens yet">
        <p>Create one above when a script or tool needs to reach your models.</p>
      </EmptyState>
    );
  }
  return (
    <div className="table-wrap">
      <table className="table">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Token</th>
            <th scope="col">Created</th>
            <th scope="col">Last used</th>
            <th scope="col">Expires</th>
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {tokens.data.map((t) => (
            <tr key={t.id}>
              <th scope="row" data-label="Name">
                {t.name}
              </th>
              <td data-label="Token">
                <code>{t.prefix}…</code>
              </td>
              <td data-label="Created">
                <time dateTime={t.createdAt}>{formatDate(t.createdAt)}</time>
              </td>
              <td data-label="Last used">
                {t.lastUsedAt ? <time dateTime={t.lastUsedAt}>{formatDateTime(t.lastUsedAt)}</time> : <span className="muted">Never</span>}
              </td>
              <td data-label="Expires">
                {t.expiresAt ? <time dateTime={t.expiresAt}>{formatDate(t.expiresAt)}</time> : <span className="muted">Never</span>}
              </td>
              <td className="table__actions">
                <button type="button" className="button button--danger-ghost button--small" onClick={() => onRevoke(t)}>
                  Revoke<span className="visually-hidden"> {t.name}</span>
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
