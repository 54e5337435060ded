import type { ModelStatus, Visibility } from '../api/types.ts';
import { statusLabel, visibilityLabel } from '../lib/model-labels.ts';

// Drawn as SVG rather than emoji: emoji fonts are missing on many Linux desktops.
function LockIcon() {
  return (
    <svg className="badge__icon" viewBox="0 0 16 16" width="12" height="12" aria-hidden="true" focusable="false">
      <rect x="3" y="7" width="10" height="7" rx="1.5" fill="currentColor" />
      <path d="M5.5 7V5a2.5 2.5 0 0 1 5 0v2" fill="none" stroke="currentColor" strokeWidth="1.6" />
    </svg>
  );
}

function GlobeIcon() {
  return (
    <svg className="badge__icon" viewBox="0 0 16 16" width="12" height="12" aria-hidden="true" focusable="false">
      <g fill="none" stroke="currentColor" strokeWidth="1.4">
        <circle cx="8" cy="8" r="6" />
        <ellipse cx="8" cy="8" rx="2.6" ry="6" />
        <path d="M2 8h12" />
      </g>
    </svg>
  );
}

export function VisibilityBadge({ visibility }: { visibility: Visibility }) {
  return (
    <span className={`badge badge--${visibility}`}>
      {visibility === 'public' ? <GlobeIcon /> : <LockIcon />}
      {visibilityLabel(visibility)}
    </span>
  );
}

/** A model's state; while training, the live percent from the event stream when known. */
export function StatusBadge({ status, percent }: { status: ModelStatus; percent?: number | null | undefined }) {
  return (
    <span className={`badge badge--status badge--${status}`}>
      <span aria-hidden="true" className="badge__dot" />
      {statusLabel(status)}
      {status === 'training' && percent !== null && percent !== undefined ? ` ${Math.round(percent)}%` : ''}
    </span>
  );
}
