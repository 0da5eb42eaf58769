// Pictures for the reports, as self-contained SVG text (no fonts or scripts to fetch): the latency
// histogram of a load scenario and the fault timeline of a chaos scenario. A reader sees the shape of a
// distribution, and which fault overlapped which, faster than in a table. Attach with image/svg+xml.

import type { FaultRecord } from '../faults/timeline.ts';

export const esc = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
export const FONT = 'font-family="sans-serif"';

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** A bin width of 1, 2 or 5 × 10^k, so axis labels are round numbers. */
export function niceStep(range: number, bins: number): number {
  const raw = Math.max(range / bins, 1e-9);
  const mag = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
}

export const fmtMs = (v: number) =>
  v >= 10_000
    ? `${(v / 1000).toFixed(0)} s`
    : v >= 1000
      ? `${(v / 1000).toFixed(1)} s`
      : `${+v.toFixed(v < 10 ? 1 : 0)} ms`;

export function latencyHistogramSvg(samplesMs: number[], title: string): string {
  const W = 720,
    H = 360,
    L = 60,
    R = 20,
    T = 56,
    B = 48;
  const values = samplesMs.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  const head =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ${FONT} font-size="12">` +
    `<rect width="${W}" height="${H}" fill="#fff"/><text x="${L}" y="22" font-size="16" font-weight="bold">${esc(title)}</text>`;
  if (!values.length) return `${head}<text x="${L}" y="${T + 20}">no samples</text></svg>`;
  const [p50, p95, p99] = [50, 95, 99].map((p) => percentile(values, p)) as [number, number, number];
  const min = values[0]!,
    max = values.at(-1)!;
  const step = niceStep(max - min || 1, Math.min(40, Math.max(5, Math.ceil(Math.sqrt(values.length)))));
  const lo = Math.floor(min / step) * step;
  const n = Math.floor((max - lo) / step + 1e-9) + 1;
  const counts = new Array<number>(n).fill(0);
  for (const v of values) counts[Math.min(n - 1, Math.floor((v - lo) / step))]!++;
  const top = Math.max(...counts);
  const pw = W - L - R,
    ph = H - T - B;
  const x = (v: number) => L + ((v - lo) / (n * step)) * pw;
  const y = (c: number) => T + ph - (c / top) * ph;
  const out = [
    head,
    `<text x="${L}" y="40" fill="#555">${values.length} samples · min ${fmtMs(min)} · p50 ${fmtMs(p50)} · p95 ${fmtMs(p95)} · p99 ${fmtMs(p99)} · max ${fmtMs(max)}</text>`,
  ];
  counts.forEach((c, i) => {
    if (!c) return;
    const x0 = x(lo + i * step);
    out.push(
      `<rect x="${(x0 + 0.5).toFixed(1)}" y="${y(c).toFixed(1)}" width="${Math.max(1, pw / n - 1).toFixed(1)}" height="${(T + ph - y(c)).toFixed(1)}" fill="#4a7fc1"><title>${fmtMs(lo + i * step)}–${fmtMs(lo + (i + 1) * step)}: ${c}</title></rect>`,
    );
  });
  out.push(
    `<line x1="${L}" y1="${T + ph}" x2="${W - R}" y2="${T + ph}" stroke="#333"/><line x1="${L}" y1="${T}" x2="${L}" y2="${T + ph}" stroke="#333"/>`,
  );
  const ticks = Math.min(n, 8);
  for (let i = 0; i <= ticks; i++) {
    const v = lo + (i * n * step) / ticks;
    out.push(`<text x="${x(v).toFixed(1)}" y="${T + ph + 16}" text-anchor="middle">${fmtMs(v)}</text>`);
  }
  out.push(
    `<text x="${L - 8}" y="${T + 4}" text-anchor="end">${top}</text><text x="${L - 8}" y="${T + ph}" text-anchor="end">0</text>`,
  );
  out.push(`<text x="${L + pw / 2}" y="${H - 8}" text-anchor="middle" fill="#555">latency</text>`);
  for (const [label, v, color] of [
    ['p50', p50, '#2a2'],
    ['p95', p95, '#d80'],
    ['p99', p99, '#c22'],
  ] as const) {
    const px = x(v).toFixed(1);
    out.push(
      `<line x1="${px}" y1="${T}" x2="${px}" y2="${T + ph}" stroke="${color}" stroke-dasharray="4 3"/><text x="${px}" y="${T - 4}" fill="${color}" text-anchor="middle">${label}</text>`,
    );
  }
  return out.join('') + '</svg>';
}

export interface TimelineWindow {
  /** When the scenario started (epoch ms): the origin of the time axis. */
  start: number;
  /** When the scenario ended (or now). */
  end: number;
}

export function faultTimelineSvg(records: readonly FaultRecord[], w: TimelineWindow, title = 'Fault timeline'): string {
  const W = 860,
    LBL = 300,
    R = 30,
    T = 44,
    ROW = 30,
    B = 52;
  const H = T + Math.max(1, records.length) * ROW + B;
  const end = Math.max(w.end, ...records.map((r) => r.healedAt ?? r.appliedAt));
  const span = Math.max(1, end - w.start);
  const pw = W - LBL - R;
  const x = (t: number) => LBL + ((t - w.start) / span) * pw;
  // The note goes right of the bar, else left of it, else inside it: never over another label.
  const note = (text: string, x0: number, x1: number, y: number) =>
    x1 + 110 < W
      ? `<text x="${(x1 + 6).toFixed(1)}" y="${y}" fill="#555" font-size="11">${text}</text>`
      : x0 - 110 > LBL
        ? `<text x="${(x0 - 6).toFixed(1)}" y="${y}" fill="#555" font-size="11" text-anchor="end">${text}</text>`
        : `<text x="${(x1 - 6).toFixed(1)}" y="${y}" fill="#fff" font-size="11" text-anchor="end">${text}</text>`;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ${FONT} font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/><text x="10" y="22" font-size="16" font-weight="bold">${esc(title)}</text>`,
  ];
  if (!records.length) out.push(`<text x="10" y="${T + 18}">no faults injected</text>`);
  records.forEach((r, i) => {
    const y = T + i * ROW;
    const label = `${r.kind} ${r.target}`;
    const short = label.length > 44 ? `${label.slice(0, 43)}…` : label;
    const x0 = x(r.appliedAt),
      x1 = x(r.healedAt ?? end);
    const healed = r.healedAt !== undefined;
    const tip =
      `${label}${r.detail ? ` (${r.detail})` : ''}: applied at +${r.appliedAt - w.start} ms, ` +
      (healed ? `healed at +${r.healedAt! - w.start} ms${r.healCheck ? ` — ${r.healCheck}` : ''}` : 'never healed');
    out.push(
      `<g><title>${esc(tip)}</title>`,
      `<text x="10" y="${y + 19}">${esc(short)}</text>`,
      `<rect x="${x0.toFixed(1)}" y="${y + 6}" width="${Math.max(3, x1 - x0).toFixed(1)}" height="${ROW - 12}" rx="3" fill="${healed ? '#e0903a' : '#c0392b'}" ${healed ? '' : 'fill-opacity="0.75"'}/>`,
      note(healed ? `healed +${fmtMs(r.healedAt! - w.start)}` : 'never healed', x0, x1, y + 19),
      `</g>`,
    );
  });
  const axisY = T + Math.max(1, records.length) * ROW + 6;
  out.push(`<line x1="${LBL}" y1="${axisY}" x2="${W - R}" y2="${axisY}" stroke="#333"/>`);
  for (let i = 0; i <= 5; i++) {
    const t = w.start + (span * i) / 5;
    out.push(
      `<line x1="${x(t).toFixed(1)}" y1="${T}" x2="${x(t).toFixed(1)}" y2="${axisY}" stroke="#ddd"/>`,
      `<text x="${x(t).toFixed(1)}" y="${axisY + 16}" text-anchor="middle">+${fmtMs(t - w.start)}</text>`,
    );
  }
  out.push(
    `<text x="${LBL}" y="${H - 6}" fill="#555">time since the scenario started · orange: healed · red: still applied at the end</text>`,
  );
  return out.join('') + '</svg>';
}
