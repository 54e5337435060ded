import { CREATION_STEPS } from '../lib/model-labels.ts';

/**
 * The guide's creation steps. Only the steps the product can do today are live; the rest are
 * shown as upcoming so nobody fills in a form that goes nowhere.
 */
export function StepIndicator({ current, completedThrough = 0 }: { current: number | null; completedThrough?: number }) {
  return (
    <nav aria-label="Model creation steps" className="steps">
      <ol className="steps__list">
        {CREATION_STEPS.map((label, i) => {
          const n = i + 1;
          const state = n === current ? 'current' : n <= completedThrough ? 'done' : 'upcoming';
          return (
            <li key={label} className={`steps__item steps__item--${state}`} aria-current={state === 'current' ? 'step' : undefined}>
              <span className="steps__number" aria-hidden="true">
                {state === 'done' ? '✓' : n}
              </span>
              <span className="steps__text">
                <span className="steps__label">{label}</span>
                <span className="steps__state">
                  {state === 'current' ? 'Current step' : state === 'done' ? 'Done' : 'Coming soon'}
                </span>
              </span>
            </li>
          );
        })}
      </ol>
    </nav>
  );
}
