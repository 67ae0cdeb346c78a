import { formatBytes } from "@/lib/format";

export interface StatsPoint {
  t: number;
  cpu: number;
  memory: number;
}

function path(points: StatsPoint[], pick: (p: StatsPoint) => number, max: number, width: number, height: number, t0: number, span: number) {
  return points
    .map((p, i) => {
      const x = ((p.t - t0) / span) * width;
      const y = height - (pick(p) / max) * (height - 4) - 2;
      return `${i === 0 ? "M" : "L"}${x.toFixed(1)},${y.toFixed(1)}`;
    })
    .join(" ");
}

/** A small line plot of one series over the rolling window (SVG, no chart library). */
function Spark({ title, points, pick, format, color, windowMs }: { title: string; points: StatsPoint[]; pick: (p: StatsPoint) => number; format: (v: number) => string; color: string; windowMs: number }) {
  const width = 300;
  const height = 70;
  const last = points[points.length - 1];
  const max = Math.max(...points.map(pick), title === "CPU" ? 5 : 1);
  const tEnd = last?.t ?? Date.now();
  const t0 = tEnd - windowMs;
  const d = points.length > 1 ? path(points, pick, max, width, height, t0, windowMs) : "";
  return (
    <figure className="min-w-0 flex-1 rounded-lg border bg-card p-3">
      <figcaption className="flex items-baseline justify-between text-xs text-muted-foreground">
        <span>{title}</span>
        <span className="font-mono text-sm text-foreground">{last ? format(pick(last)) : "—"}</span>
      </figcaption>
      <svg viewBox={`0 0 ${width} ${height}`} className="mt-2 h-16 w-full" preserveAspectRatio="none" role="img" aria-label={`${title} over the last minutes`}>
        <line x1="0" y1={height - 1} x2={width} y2={height - 1} stroke="var(--border)" />
        {d && <path d={`${d} L${width},${height} L${((points[0].t - t0) / windowMs) * width},${height} Z`} fill={color} opacity="0.12" />}
        {d && <path d={d} fill="none" stroke={color} strokeWidth="1.8" vectorEffect="non-scaling-stroke" />}
      </svg>
    </figure>
  );
}

export function StatsChart({ points, windowMs }: { points: StatsPoint[]; windowMs: number }) {
  return (
    <div className="flex flex-col gap-3 sm:flex-row">
      <Spark title="CPU" points={points} pick={(p) => p.cpu} format={(v) => `${v.toFixed(1)} %`} color="var(--primary)" windowMs={windowMs} />
      <Spark title="Memory" points={points} pick={(p) => p.memory} format={formatBytes} color="oklch(0.6 0.15 155)" windowMs={windowMs} />
    </div>
  );
}
