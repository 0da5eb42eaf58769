// Pictures of a load scenario with no faults (throughput, soak), as self-contained SVG: the jobs over time
// and the latency histograms drawn as for a chaos run, and a value sampled over time (a worker's memory)
// with its fitted trend line, so a reader sees whether memory climbs or only saws up and down with GC.

import type { History, HistoryEntry } from '../workload/history.ts';
import type { LinearTrend, TimedValue } from '../observe/trend.ts';
import type { Picture } from './pictures.ts';
import { chaosLatencyHistogramSvg, jobsOverTimeSvg } from './chaos-pictures.ts';
import { FONT, esc, fmtMs, niceStep } from './svg.ts';

/** Jobs over time, and the admission and total-time histograms. */
export function loadPictures(
  history: History | readonly HistoryEntry[],
  o: { origin: number; end: number; title?: string },
): Picture[] {
  return [
    {
      fileName: 'jobs-over-time.svg',
      svg: jobsOverTimeSvg(history, [], { origin: o.origin, end: o.end, title: o.title ?? 'Jobs over time' }),
    },
    { fileName: 'latency-admission.svg', svg: chaosLatencyHistogramSvg(history, 'admission') },
    { fileName: 'latency-total.svg', svg: chaosLatencyHistogramSvg(history, 'total') },
  ];
}

export interface SeriesOptions {
  title: string;
  /** Axis label of the values (e.g. "MiB"). */
  unit: string;
  /** Values are divided by this before drawing (e.g. 1 MiB). */
  scale?: number;
  /** Drawn as a dashed line from its fitted start to its fitted end over its span. */
  trend?: LinearTrend;
  /** Shaded from the first sample up to this epoch ms (a warm-up left out of the trend). */
  warmUpUntil?: number;
}

/** One sampled series over time: points joined by a line, y from the series' own range. */
export function timeSeriesSvg(points: readonly TimedValue[], o: SeriesOptions): string {
  const W = 720,
    H = 360,
    L = 70,
    R = 20,
    T = 56,
    B = 48;
  const scale = o.scale ?? 1;
  const head =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ${FONT} font-size="12">` +
    `<rect width="${W}" height="${H}" fill="#fff"/><text x="${L}" y="22" font-size="16" font-weight="bold">${esc(o.title)}</text>`;
  const pts = points
    .filter((p) => Number.isFinite(p.value) && Number.isFinite(p.at))
    .map((p) => ({ at: p.at, v: p.value / scale }));
  if (!pts.length) return `${head}<text x="${L}" y="${T + 20}">no samples</text></svg>`;
  const t0 = Math.min(...pts.map((p) => p.at));
  const span = Math.max(1, Math.max(...pts.map((p) => p.at)) - t0);
  let lo = Math.min(...pts.map((p) => p.v));
  let hi = Math.max(...pts.map((p) => p.v));
  const pad = Math.max((hi - lo) * 0.1, Math.abs(hi) * 0.02, 1e-9);
  lo -= pad;
  hi += pad;
  const pw = W - L - R,
    ph = H - T - B;
  const x = (t: number) => L + ((t - t0) / span) * pw;
  const y = (v: number) => T + ph - ((v - lo) / (hi - lo)) * ph;
  const out = [
    head,
    `<text x="${L}" y="40" fill="#555">${pts.length} samples over ${fmtMs(span)} · min ${fmt(Math.min(...pts.map((p) => p.v)))} · max ${fmt(Math.max(...pts.map((p) => p.v)))} ${esc(o.unit)}</text>`,
  ];
  if (o.warmUpUntil !== undefined && o.warmUpUntil > t0) {
    out.push(
      `<rect x="${L}" y="${T}" width="${Math.min(pw, x(o.warmUpUntil) - L).toFixed(1)}" height="${ph}" fill="#999" fill-opacity="0.12"/><text x="${L + 4}" y="${T + 14}" fill="#777">warm-up (not in the trend)</text>`,
    );
  }
  const yStep = niceStep(hi - lo, 6);
  for (let v = Math.ceil(lo / yStep) * yStep; v <= hi; v += yStep) {
    out.push(
      `<line x1="${L}" y1="${y(v).toFixed(1)}" x2="${W - R}" y2="${y(v).toFixed(1)}" stroke="#eee"/><text x="${L - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${fmt(v)}</text>`,
    );
  }
  const tStep = niceStep(span, 8);
  for (let dt = 0; dt <= span + 1e-6; dt += tStep) {
    out.push(`<text x="${x(t0 + dt).toFixed(1)}" y="${T + ph + 16}" text-anchor="middle">+${fmtMs(dt)}</text>`);
  }
  out.push(
    `<line x1="${L}" y1="${T + ph}" x2="${W - R}" y2="${T + ph}" stroke="#333"/><line x1="${L}" y1="${T}" x2="${L}" y2="${T + ph}" stroke="#333"/>`,
  );
  out.push(
    `<text x="${L + pw / 2}" y="${H - 8}" text-anchor="middle" fill="#555">time since the first sample · ${esc(o.unit)}</text>`,
  );
  out.push(
    `<polyline fill="none" stroke="#4a7fc1" stroke-width="1.5" points="${pts.map((p) => `${x(p.at).toFixed(1)},${y(p.v).toFixed(1)}`).join(' ')}"/>`,
  );
  for (const p of pts)
    out.push(
      `<circle cx="${x(p.at).toFixed(1)}" cy="${y(p.v).toFixed(1)}" r="2" fill="#4a7fc1"><title>+${fmtMs(p.at - t0)}: ${fmt(p.v)} ${esc(o.unit)}</title></circle>`,
    );
  const tr = o.trend;
  if (tr && tr.n >= 2 && Number.isFinite(tr.perMinute)) {
    const perMin = tr.perMinute / scale;
    out.push(
      `<line x1="${x(tr.from).toFixed(1)}" y1="${y(tr.fittedStart / scale).toFixed(1)}" x2="${x(tr.from + tr.spanMs).toFixed(1)}" y2="${y(tr.fittedEnd / scale).toFixed(1)}" stroke="#c22" stroke-width="1.5" stroke-dasharray="6 4"/>`,
      `<text x="${W - R}" y="40" text-anchor="end" fill="#c22">trend ${perMin >= 0 ? '+' : ''}${perMin.toFixed(2)} ${esc(o.unit)}/min</text>`,
    );
  }
  return out.join('') + '</svg>';
}

const fmt = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2));
