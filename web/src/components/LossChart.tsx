/** The loss over training steps as an inline SVG line (mean loss per sample, raw loss as dots). */
export function LossChart({ points }: { points: Array<{ step: number; loss: number; meanLoss: number }> }) {
  if (points.length < 2) return <p className="muted">The loss chart appears once training steps are reported.</p>;
  const width = 640;
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
  const first = points[0]!.meanLoss;
  const last = points.at(-1)!.meanLoss;
  const summary = `Loss went from ${first.toFixed(3)} at step ${minStep} to ${last.toFixed(3)} at step ${maxStep} (${last < first ? 'down' : 'up'} ${Math.abs(((last - first) / first) * 100).toFixed(0)}%).`;
  return (
    <figure className="loss-chart">
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-labelledby="loss-title loss-desc" preserveAspectRatio="none">
        <title id="loss-title">Training loss over steps</title>
        <desc id="loss-desc">{summary}</desc>
        {[0, 0.5, 1].map((f) => (
          <g key={f}>
            <line x1={pad.left} x2={width - pad.right} y1={y(lo + f * span)} y2={y(lo + f * span)} className="loss-chart__grid" />
            <text x={pad.left - 6} y={y(lo + f * span) + 4} textAnchor="end" className="loss-chart__label">
              {(lo + f * span).toFixed(2)}
            </text>
          </g>
        ))}
        {points.map((p) => (
          <circle key={p.step} cx={x(p.step)} cy={y(p.loss)} r={1.6} className="loss-chart__dot" />
        ))}
        <path d={line} className="loss-chart__line" />
        <text x={pad.left} y={height - 6} className="loss-chart__label">
          step {minStep}
        </text>
        <text x={width - pad.right} y={height - 6} textAnchor="end" className="loss-chart__label">
          step {maxStep}
        </text>
      </svg>
      <figcaption className="muted small">{summary}</figcaption>
    </figure>
  );
}
