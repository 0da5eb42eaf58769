// Is a series of samples (a worker's resident memory over a soak run) going up? A least-squares line
// through the samples says how fast it rises per minute, which a scenario can bound: JS garbage collection
// makes memory a sawtooth, so comparing the first sample with the last is noise, while a leak of a fixed
// amount per job shows as a steady slope over many samples.

/** One sample: when (epoch ms) and what was read. */
export interface TimedValue {
  at: number;
  value: number;
}

export interface LinearTrend {
  /** Samples the line was fitted to. */
  n: number;
  /** Change of the value per minute along the fitted line (NaN with fewer than two distinct times). */
  perMinute: number;
  /** The fitted value at the first and at the last sample's time. */
  fittedStart: number;
  fittedEnd: number;
  /** Time of the first sample (epoch ms) and span of the samples (ms). */
  from: number;
  spanMs: number;
  /** Smallest and largest value seen. */
  min: number;
  max: number;
}

/** Least-squares fit of value against time. Non-finite samples are left out. */
export function linearTrend(samples: readonly TimedValue[]): LinearTrend {
  const pts = samples.filter((s) => Number.isFinite(s.at) && Number.isFinite(s.value));
  const n = pts.length;
  if (!n) return { n: 0, perMinute: NaN, fittedStart: NaN, fittedEnd: NaN, from: NaN, spanMs: 0, min: NaN, max: NaN };
  const t0 = Math.min(...pts.map((p) => p.at));
  const t1 = Math.max(...pts.map((p) => p.at));
  // Centred sums: times relative to t0 in minutes keep the numbers small and the fit exact enough.
  const xs = pts.map((p) => (p.at - t0) / 60_000);
  const ys = pts.map((p) => p.value);
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxx = 0;
  let sxy = 0;
  for (let i = 0; i < n; i++) {
    sxx += (xs[i]! - mx) ** 2;
    sxy += (xs[i]! - mx) * (ys[i]! - my);
  }
  const slope = sxx > 0 ? sxy / sxx : NaN;
  const at = (x: number) => (Number.isNaN(slope) ? my : my + slope * (x - mx));
  return {
    n,
    perMinute: slope,
    fittedStart: at(0),
    fittedEnd: at((t1 - t0) / 60_000),
    from: t0,
    spanMs: t1 - t0,
    min: Math.min(...ys),
    max: Math.max(...ys),
  };
}

/** The samples taken at or after `skipMs` past the first one (a warm-up left out of the trend). */
export function afterWarmUp<T extends { at: number }>(samples: readonly T[], skipMs: number): T[] {
  if (!samples.length) return [];
  const from = Math.min(...samples.map((s) => s.at)) + skipMs;
  return samples.filter((s) => s.at >= from);
}

export const MIB = 1024 * 1024;

/** "+1.23 MiB/min over 20 samples in 20.0 s (fitted 80.1 → 80.5 MiB; min 79.8, max 81.0)", for byte series. */
export function formatByteTrend(t: LinearTrend): string {
  if (!t.n) return 'no samples';
  const m = (b: number) => (b / MIB).toFixed(1);
  const slope = Number.isNaN(t.perMinute)
    ? 'no slope (one instant)'
    : `${t.perMinute >= 0 ? '+' : ''}${(t.perMinute / MIB).toFixed(2)} MiB/min`;
  return `${slope} over ${t.n} samples in ${(t.spanMs / 1000).toFixed(1)} s (fitted ${m(t.fittedStart)} → ${m(t.fittedEnd)} MiB; min ${m(t.min)}, max ${m(t.max)})`;
}
