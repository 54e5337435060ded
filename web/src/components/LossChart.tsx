import { useEffect, useId, useRef, useState } from 'react';

type Point = { step: number; loss: number; meanLoss: number };

/** The width of an element in CSS pixels, kept current as it resizes. */
function useWidth<T extends HTMLElement>(fallback: number) {
  const ref = useRef<T>(null);
  const [width, setWidth] = useState(fallback);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    setWidth(el.clientWidth || fallback);
    const observer = new ResizeObserver(([entry]) => entry && setWidth(Math.round(entry.contentRect.width) || fallback));
    observer.observe(el);
    return () => observer.disconnect();
  }, [fallback]);
  return [ref, width] as const;
}

export function lossSummary(points: Point[]): string {
  const first = points[0]!;
  const last = points.at(-1)!;
  const change = first.meanLoss === 0 ? 0 : ((last.meanLoss - first.meanLoss) / first.meanLoss) * 100;
  const direction = Math.abs(change) < 1 ? 'about flat' : `${change < 0 ? 'down' : 'up'} ${Math.abs(change).toFixed(0)}%`;
  return `Average loss went from ${first.meanLoss.toFixed(3)} at step ${first.step} to ${last.meanLoss.toFixed(3)} at step ${last.step} (${direction}); latest raw loss ${last.loss.toFixed(3)}.`;
}

/**
 * The loss over training steps as inline SVG: the running mean as a line, each raw sample as a dot.
 * Drawn at the element's real pixel width (not a stretched viewBox) so the labels stay legible on a phone.
 */
export function LossChart({ points }: { points: Point[] }) {
  const [ref, width] = useWidth<HTMLElement>(600);
  const id = useId();
  // The figure is always rendered so its width is known when the first points arrive.
  if (points.length < 2)
    return (
      <figure className="loss-chart" ref={ref}>
        <p className="muted">The loss chart appears once training steps are reported.</p>
      </figure>
    );
  const height = 200;
  const pad = { left: 44, right: 12, top: 10, bottom: 26 };
  const maxStep = Math.max(...points.map((p) => p.step));
  const minStep = Math.min(...points.map((p) => p.step));
  const values = points.flatMap((p) => [p.loss, p.meanLoss]);
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const span = hi - lo || 1;
  const x = (s: number) => pad.left + ((s - minStep) / (maxStep - minStep || 1)) * (width - pad.left - pad.right);
  const y = (v: number) => pad.top + (1 - (v - lo) / span) * (height - pad.top - pad.bottom);
  const line = points.map((p, i) => `${i ? 'L' : 'M'}${x(p.step).toFixed(1)},${y(p.meanLoss).toFixed(1)}`).join(' ');
  const summary = lossSummary(points);
  return (
    <figure className="loss-chart" ref={ref}>
      <svg width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img" aria-labelledby={`${id}-title ${id}-desc`}>
        <title id={`${id}-title`}>Training loss over steps</title>
        <desc id={`${id}-desc`}>{summary}</desc>
        {[0, 0.5, 1].map((f) => (
          <g key={f}>
            <line x1={pad.left} x2={width - pad.right} y1={y(lo + f * span)} y2={y(lo + f * span)} className="loss-chart__grid" />
            <text x={pad.left - 6} y={y(lo + f * span) + 4} textAnchor="end" className="loss-chart__label">
              {(lo + f * span).toFixed(2)}
            </text>
          </g>
        ))}
        {points.map((p) => (
          <circle key={p.step} cx={x(p.step)} cy={y(p.loss)} r={1.8} className="loss-chart__dot" />
        ))}
        <path d={line} className="loss-chart__line" />
        <text x={pad.left} y={height - 6} className="loss-chart__label">
          step {minStep.toLocaleString()}
        </text>
        <text x={width - pad.right} y={height - 6} textAnchor="end" className="loss-chart__label">
          step {maxStep.toLocaleString()}
        </text>
      </svg>
      <figcaption className="muted small">
        <span className="loss-chart__key loss-chart__key--line" aria-hidden="true" /> average{' '}
        <span className="loss-chart__key loss-chart__key--dot" aria-hidden="true" /> each sample. {summary}
      </figcaption>
    </figure>
  );
}
