import { Link } from 'react-router';
import { CREATION_STEPS } from '../lib/model-labels.ts';

const STEP_PATHS = ['', '/images', '/train', '/train'];

/**
 * The guide's creation steps. Once the model exists, the steps link to their pages so a person
 * can move back and forth (e.g. from the parameters back to the images).
 */
export function StepIndicator({ current, completedThrough = 0, modelId }: { current: number | null; completedThrough?: number; modelId?: string }) {
  // On a phone only one step shows its name: the current one, else the next to do (else the last).
  const expanded = current ?? Math.min(completedThrough + 1, CREATION_STEPS.length);
  return (
    <nav aria-label="Model creation steps" className="steps">
      <ol className="steps__list">
        {CREATION_STEPS.map((label, i) => {
          const n = i + 1;
          const state = n === current ? 'current' : n <= completedThrough ? 'done' : 'upcoming';
          const to = modelId && n > 1 ? `/models/${modelId}${STEP_PATHS[i]}` : modelId && n === 1 ? `/models/${modelId}` : null;
          const text = (
            <>
              <span className="steps__number" aria-hidden="true">
                {state === 'done' ? '✓' : n}
              </span>
              <span className="steps__text">
                <span className="steps__label">{label}</span>
                <span className="steps__state">{state === 'current' ? 'Current step' : state === 'done' ? 'Done' : 'Next'}</span>
              </span>
            </>
          );
          return (
            <li key={label} className={`steps__item steps__item--${state}${n === expanded ? ' steps__item--expanded' : ''}`} aria-current={state === 'current' ? 'step' : undefined}>
              {to && state !== 'current' ? (
                <Link to={to} className="steps__link">
                  {text}
                </Link>
              ) : (
                text
              )}
            </li>
          );
        })}
      </ol>
    </nav>
  );
}
