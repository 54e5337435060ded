import type { ReactNode } from 'react';

export function Spinner({ label = 'Loading…' }: { label?: string }) {
  return (
    <span className="spinner" role="status">
      <span className="spinner__circle" aria-hidden="true" />
      <span className="visually-hidden">{label}</span>
    </span>
  );
}

export function LoadingState({ label = 'Loading…' }: { label?: string }) {
  return (
    <div className="state state--loading" role="status" aria-live="polite">
      <span className="spinner__circle" aria-hidden="true" />
      <p>{label}</p>
    </div>
  );
}

export function ErrorState({ title = 'Something went wrong', message, onRetry }: { title?: string; message: string; onRetry?: () => void }) {
  return (
    <div className="state state--error" role="alert">
      <h2 className="state__title">{title}</h2>
      <p>{message}</p>
      {onRetry && (
        <button type="button" className="button button--secondary" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}

export function EmptyState({ title, children, action }: { title: string; children?: ReactNode; action?: ReactNode }) {
  return (
    <div className="state state--empty">
      <div className="state__art" aria-hidden="true">
        <svg viewBox="0 0 64 64" width="64" height="64">
          <rect x="8" y="14" width="40" height="32" rx="6" fill="var(--accent-soft)" />
          <rect x="16" y="20" width="40" height="32" rx="6" fill="#fff" stroke="var(--accent)" strokeWidth="2" />
          <circle cx="28" cy="32" r="4" fill="var(--highlight)" />
          <path d="M20 48 L32 38 L40 44 L48 36 L52 40 L52 48 Z" fill="var(--accent)" opacity="0.8" />
        </svg>
      </div>
      <h2 className="state__title">{title}</h2>
      {children && <div className="state__body">{children}</div>}
      {action && <div className="state__action">{action}</div>}
    </div>
  );
}

export function FormAlert({ message }: { message?: string | undefined }) {
  if (!message) return null;
  return (
    <div className="alert alert--error" role="alert">
      {message}
    </div>
  );
}
