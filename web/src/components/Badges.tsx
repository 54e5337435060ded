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

/** Fewer images than this cannot train (the server's rule; the guide recommends 15–20). */
const MIN_IMAGES_TO_TRAIN = 10;

/**
 * A model's state as the dashboard shows it: a draft is "Draft" (no images yet), "Dataset needs
 * attention" (too few to train) or "Ready to train"; while training, the live percent when known.
 */
export function StatusBadge({ status, percent, imageCount }: { status: ModelStatus; percent?: number | null | undefined; imageCount?: number | undefined }) {
  const draftState = status !== 'draft' || imageCount === undefined || imageCount === 0 ? null : imageCount < MIN_IMAGES_TO_TRAIN ? 'attention' : 'trainable';
  const label = draftState === 'attention' ? 'Dataset needs attention' : draftState === 'trainable' ? 'Ready to train' : statusLabel(status);
  return (
    <span className={`badge badge--status badge--${draftState ?? status}`}>
      <span aria-hidden="true" className="badge__dot" />
      {label}
      {status === 'training' && percent !== null && percent !== undefined ? ` ${Math.round(percent)}%` : ''}
    </span>
  );
}
