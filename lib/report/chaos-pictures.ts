// Pictures of a chaos run, as self-contained SVG: every job as a point (when it was submitted, how long
// it took, coloured by how it ended) over the shaded fault windows — so a reader sees at a glance which
// fault the failures and slow jobs line up with — and the latency histogram of the run.

import type { FaultWindow } from '../chaos/executor.ts';
import type { History, HistoryEntry, JobOutcome } from '../workload/history.ts';
import type { Picture } from './pictures.ts';
import { FONT, esc, fmtMs, latencyHistogramSvg, niceStep } from './svg.ts';

export const OUTCOME_COLOURS: Readonly<Record<JobOutcome, string>> = {
  end: '#2a9d4a',
  error: '#e08a1e',
  cut: '#c0392b',
  refused: '#7b4fb8',
  pending: '#222222',
};

export interface JobsOverTimeOptions {
  /** Epoch ms of the run's start (x = 0). */
  origin: number;
  /** Epoch ms of the run's end (default: the last job or fault). */
  end?: number;
  title?: string;
  /** Points carry a tooltip each up to this many jobs (default 3000), to keep the file small. */
  tooltipsUpTo?: number;
}

const entriesOf = (h: History | readonly HistoryEntry[]): readonly HistoryEntry[] =>
  Array.isArray(h) ? h : (h as History).entries;

/** The latency a job is plotted at: its total time, or its admission for a refusal; pending: none. */
function latencyOf(e: HistoryEntry): number | undefined {
  if (e.outcome === 'pending') return undefined;
  return e.durations.totalMs ?? e.durations.admissionMs;
}

/**
 * Jobs over time: x = submission time since the run started, y = latency (log scale), one point per job
 * coloured by outcome; jobs that never ended sit on the top edge as crosses. Fault windows are shaded
 * and labelled above the plot (labels in lanes so they never overlap).
 */
export function jobsOverTimeSvg(
  history: History | readonly HistoryEntry[],
  windows: readonly FaultWindow[],
  o: JobsOverTimeOptions,
): string {
  const entries = entriesOf(history);
  const W = 960,
    L = 70,
    R = 24,
    B = 64,
    PH = 300;
  const end = Math.max(
    o.end ?? 0,
    ...entries.map((e) => e.finishedAt ?? e.submittedAt),
    ...windows.map((w) => w.end),
    o.origin + 1,
  );
  const span = end - o.origin;
  const pw = W - L - R;
  const x = (t: number) => L + ((t - o.origin) / span) * pw;

  // Fault labels in lanes above the plot.
  const labelled = [...windows]
    .sort((a, b) => a.start - b.start)
    .map((w) => {
      const label = `${w.index !== undefined ? `#${w.index} ` : ''}${w.kind} ${w.target}`;
      return { w, label: label.length > 48 ? `${label.slice(0, 47)}…` : label, x0: x(w.start), x1: x(w.end) };
    });
  const laneEnds: number[] = [];
  const lanes = labelled.map((l) => {
    const width = l.label.length * 6.2 + 8;
    let lane = laneEnds.findIndex((e) => e <= l.x0);
    if (lane < 0) lane = laneEnds.length;
    laneEnds[lane] = l.x0 + width;
    return lane;
  });
  const T = 52 + Math.max(0, laneEnds.length) * 16;
  const H = T + PH + B;

  const lat = entries.map(latencyOf).filter((v): v is number => v !== undefined && Number.isFinite(v));
  const lo = 10 ** Math.floor(Math.log10(Math.max(1, Math.min(...lat, 10))));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(lo * 10, ...lat)));
  const y = (v: number) =>
    T + PH - ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * PH;

  const counts = new Map<JobOutcome, number>();
  for (const e of entries) counts.set(e.outcome, (counts.get(e.outcome) ?? 0) + 1);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ${FONT} font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/><text x="${L}" y="22" font-size="16" font-weight="bold">${esc(o.title ?? 'Jobs over time')}</text>`,
    `<text x="${L}" y="40" fill="#555">${entries.length} jobs · ${[...counts].map(([k, n]) => `${k} ${n}`).join(' · ') || 'none'} · ${windows.length} fault window(s)</text>`,
  ];
  labelled.forEach((l, i) => {
    const ly = 52 + lanes[i]! * 16 + 10;
    const tip = `${l.label}: +${fmtMs(l.w.start - o.origin)} → +${fmtMs(l.w.end - o.origin)}`;
    out.push(
      `<g><title>${esc(tip)}</title>`,
      `<rect x="${l.x0.toFixed(1)}" y="${T}" width="${Math.max(2, l.x1 - l.x0).toFixed(1)}" height="${PH}" fill="#e0903a" fill-opacity="0.18"/>`,
      `<line x1="${l.x0.toFixed(1)}" y1="${ly + 3}" x2="${l.x0.toFixed(1)}" y2="${T + PH}" stroke="#e0903a" stroke-opacity="0.6"/>`,
      `<text x="${(l.x0 + 3).toFixed(1)}" y="${ly}" fill="#a0561a" font-size="11">${esc(l.label)}</text></g>`,
    );
  });
  // Axes and grid.
  out.push(
    `<line x1="${L}" y1="${T + PH}" x2="${W - R}" y2="${T + PH}" stroke="#333"/><line x1="${L}" y1="${T}" x2="${L}" y2="${T + PH}" stroke="#333"/>`,
  );
  for (let d = lo; d <= hi * 1.0001; d *= 10) {
    out.push(
      `<line x1="${L}" y1="${y(d).toFixed(1)}" x2="${W - R}" y2="${y(d).toFixed(1)}" stroke="#eee"/><text x="${L - 6}" y="${(y(d) + 4).toFixed(1)}" text-anchor="end">${fmtMs(d)}</text>`,
    );
  }
  const step = niceStep(span, 8);
  for (let dt = 0; dt <= span + 1e-6; dt += step) {
    out.push(
      `<line x1="${x(o.origin + dt).toFixed(1)}" y1="${T + PH}" x2="${x(o.origin + dt).toFixed(1)}" y2="${T + PH + 4}" stroke="#333"/>`,
      `<text x="${x(o.origin + dt).toFixed(1)}" y="${T + PH + 16}" text-anchor="middle">+${fmtMs(dt)}</text>`,
    );
  }
  out.push(
    `<text x="${L + pw / 2}" y="${T + PH + 34}" text-anchor="middle" fill="#555">submitted at (since the run started) · latency on a log scale (total; a refusal: its answer)</text>`,
  );
  // Points.
  const tips = entries.length <= (o.tooltipsUpTo ?? 3000);
  for (const e of entries) {
    const px = x(e.submittedAt).toFixed(1);
    const v = latencyOf(e);
    const tip = tips
      ? `<title>${esc(`job #${e.id} ${e.correlationId}: ${e.outcome}${e.failure ? ` ${e.failure.code}${e.failure.retryable === true ? ' (retryable)' : ''}` : ''}${v !== undefined ? `, ${fmtMs(v)}` : ''}${e.dispatch?.worker_id ? ` on ${e.dispatch.worker_id}` : ''}`)}</title>`
      : '';
    const colour = OUTCOME_COLOURS[e.outcome];
    if (v === undefined) {
      const py = T + 4;
      out.push(`<path d="M${+px - 3} ${py - 3}l6 6m0 -6l-6 6" stroke="${colour}" stroke-width="1.5">${tip}</path>`);
    } else {
      out.push(
        `<circle cx="${px}" cy="${y(v).toFixed(1)}" r="2.6" fill="${colour}" fill-opacity="0.85">${tip}</circle>`,
      );
    }
  }
  // Legend.
  let lx = L;
  for (const k of Object.keys(OUTCOME_COLOURS) as JobOutcome[]) {
    const text = k === 'pending' ? `never ended (${counts.get(k) ?? 0})` : `${k} (${counts.get(k) ?? 0})`;
    const mark =
      k === 'pending'
        ? `<path d="M${lx + 2} ${H - 17}l6 6m0 -6l-6 6" stroke="${OUTCOME_COLOURS[k]}" stroke-width="1.5"/>`
        : `<circle cx="${lx + 5}" cy="${H - 14}" r="4" fill="${OUTCOME_COLOURS[k]}"/>`;
    out.push(`${mark}<text x="${lx + 13}" y="${H - 10}">${esc(text)}</text>`);
    lx += text.length * 7 + 30;
  }
  out.push(
    `<rect x="${lx}" y="${H - 20}" width="14" height="12" fill="#e0903a" fill-opacity="0.3"/><text x="${lx + 19}" y="${H - 10}">fault window</text>`,
  );
  return out.join('') + '</svg>';
}

export type LatencyMeasure = 'admission' | 'firstToken' | 'total';

/** Durations of one measure over the history (admission: every answered job; others: jobs that reached end/error). */
export function latencySamples(history: History | readonly HistoryEntry[], measure: LatencyMeasure): number[] {
  const out: number[] = [];
  for (const e of entriesOf(history)) {
    if (measure === 'admission') {
      if (e.admission && e.admission.status !== 0 && e.durations.admissionMs !== undefined)
        out.push(e.durations.admissionMs);
      continue;
    }
    if (e.outcome !== 'end' && e.outcome !== 'error') continue;
    const v = measure === 'total' ? e.durations.totalMs : e.durations.firstTokenMs;
    if (v !== undefined) out.push(v);
  }
  return out;
}

const MEASURE_TITLES: Record<LatencyMeasure, string> = {
  admission: 'Admission latency (time to first byte)',
  firstToken: 'Time to first token',
  total: 'Total job time',
};

/** The latency histogram of one measure (the same drawing as the load scenarios' histograms). */
export function chaosLatencyHistogramSvg(
  history: History | readonly HistoryEntry[],
  measure: LatencyMeasure = 'total',
  title = MEASURE_TITLES[measure],
): string {
  return latencyHistogramSvg(latencySamples(history, measure), title);
}

/** Both pictures of a chaos run, ready to attach (image/svg+xml) or write next to the schedule. */
export function chaosPictures(
  history: History | readonly HistoryEntry[],
  windows: readonly FaultWindow[],
  o: JobsOverTimeOptions & { measure?: LatencyMeasure },
): Picture[] {
  return [
    { fileName: 'chaos-jobs-over-time.svg', svg: jobsOverTimeSvg(history, windows, o) },
    {
      fileName: `chaos-latency-${o.measure ?? 'total'}.svg`,
      svg: chaosLatencyHistogramSvg(history, o.measure ?? 'total'),
    },
  ];
}
