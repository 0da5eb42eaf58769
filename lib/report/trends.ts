// Trends across runs, for the stakeholders' front page: each run appends one point (pass rate, anomalies the
// chaos checker found by kind, detection and recovery times, admission p99) to reports/trends.jsonl, which
// survives runs like Allure's history; the index page draws the kept points as small line charts.

import fs from 'node:fs';
import { attachmentText, type RunModel } from './run-model.ts';
import { summarize } from './summary.ts';
import { esc, FONT, fmtMs } from './svg.ts';

export const TRENDS_FILE = 'trends.jsonl';
/** What a chaos scenario attaches for the trends (steps/chaos.steps.ts). */
export const CHAOS_SUMMARY_FILE = 'chaos-summary.json';
const KEEP_POINTS = 60;

export interface ChaosSummary {
  anomalies: Record<string, number>;
  admissionP99Ms?: number;
}

export interface TrendPoint {
  at: string;
  runId: string;
  profile: string;
  runtime: string;
  passed: number;
  failed: number;
  skipped: number;
  /** Anomalies by kind, over every chaos scenario of the run. */
  anomalies: Record<string, number>;
  /** Detection and recovery figures (ms) by "<scenario> <measure>", from the scenarios' measurements. */
  timings: Record<string, number>;
  /** The worst admission p99 (ms) of the run's load and chaos scenarios. */
  admissionP99Ms?: number;
}

const TIMING_RE = /detect|recover|dropped|convergence|seen/i;

/** The run's point: counts from the message stream, chaos summaries and measurements from attachments. */
export function trendPoint(
  run: RunModel,
  meta: { runId: string; profile: string; runtime: string; at?: Date },
): TrendPoint {
  const s = summarize(run);
  const point: TrendPoint = {
    at: (meta.at ?? new Date()).toISOString(),
    runId: meta.runId,
    profile: meta.profile,
    runtime: meta.runtime,
    passed: s.passed,
    failed: s.failed,
    skipped: s.skipped,
    anomalies: {},
    timings: {},
  };
  const last = new Map<string, RunModel['attempts'][number]>();
  for (const a of run.attempts) last.set(a.pickleId, a);
  for (const a of last.values()) {
    const id =
      run.pickles
        .get(a.pickleId)
        ?.tags.find((t) => /^@[A-Z]+-\d+$/.test(t))
        ?.slice(1) ?? 'scenario';
    for (const att of a.attachments) {
      if (att.fileName === CHAOS_SUMMARY_FILE) {
        const c = JSON.parse(attachmentText(att)) as ChaosSummary;
        for (const [k, n] of Object.entries(c.anomalies)) point.anomalies[k] = (point.anomalies[k] ?? 0) + n;
        if (c.admissionP99Ms !== undefined)
          point.admissionP99Ms = Math.max(point.admissionP99Ms ?? 0, c.admissionP99Ms);
      }
      if (att.fileName === 'measurements.json') {
        for (const m of JSON.parse(attachmentText(att)) as Array<{ name: string; value: number; unit: string }>) {
          if (m.unit !== 'ms') continue;
          if (TIMING_RE.test(m.name)) point.timings[`${id} ${m.name}`] = m.value;
          if (/admission/i.test(m.name) && /p99/i.test(m.name))
            point.admissionP99Ms = Math.max(point.admissionP99Ms ?? 0, m.value);
        }
      }
    }
  }
  return point;
}

/** Append the point to the kept history (the newest KEEP_POINTS) and return the whole history. */
export function appendTrend(file: string, point: TrendPoint): TrendPoint[] {
  const old = fs.existsSync(file)
    ? fs
        .readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .flatMap((l) => {
          try {
            return [JSON.parse(l) as TrendPoint];
          } catch {
            return []; // a torn line from a killed run is dropped, not fatal
          }
        })
    : [];
  const points = [...old, point].slice(-KEEP_POINTS);
  fs.writeFileSync(file, points.map((p) => JSON.stringify(p)).join('\n') + '\n');
  return points;
}

interface Series {
  name: string;
  values: Array<number | undefined>;
}

const COLOURS = [
  '#1f77b4',
  '#d62728',
  '#2ca02c',
  '#ff7f0e',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
  '#17becf',
];

/** A small line chart of several series over the runs (x = run index, oldest left). */
export function trendChartSvg(title: string, series: Series[], fmt: (v: number) => string): string {
  const W = 520,
    H = 220,
    L = 56,
    R = 12,
    T = 30,
    B = 24;
  const n = Math.max(0, ...series.map((s) => s.values.length));
  const all = series.flatMap((s) => s.values.filter((v): v is number => v !== undefined));
  const head = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H + 16 * Math.min(series.length, 6)}" viewBox="0 0 ${W} ${H + 16 * Math.min(series.length, 6)}" ${FONT} font-size="11"><rect width="100%" height="100%" fill="#fff"/><text x="${L}" y="18" font-size="14" font-weight="bold">${esc(title)}</text>`;
  if (!all.length) return `${head}<text x="${L}" y="${T + 20}">no data in the kept runs yet</text></svg>`;
  const max = Math.max(...all) || 1;
  const x = (i: number) => L + (n <= 1 ? (W - L - R) / 2 : (i / (n - 1)) * (W - L - R));
  const y = (v: number) => T + (1 - v / max) * (H - T - B);
  let out = head;
  out += `<line x1="${L}" y1="${y(0)}" x2="${W - R}" y2="${y(0)}" stroke="#999"/><text x="${L - 4}" y="${y(max) + 4}" text-anchor="end">${esc(fmt(max))}</text><text x="${L - 4}" y="${y(0) + 4}" text-anchor="end">${esc(fmt(0))}</text>`;
  out += `<text x="${L}" y="${H - 6}">oldest</text><text x="${W - R}" y="${H - 6}" text-anchor="end">latest run</text>`;
  series.slice(0, 10).forEach((s, k) => {
    const c = COLOURS[k % COLOURS.length]!;
    const pts = s.values
      .map((v, i) => (v === undefined ? undefined : `${x(i).toFixed(1)},${y(v).toFixed(1)}`))
      .filter(Boolean);
    if (pts.length > 1) out += `<polyline fill="none" stroke="${c}" stroke-width="2" points="${pts.join(' ')}"/>`;
    for (const p of pts) out += `<circle cx="${p!.split(',')[0]}" cy="${p!.split(',')[1]}" r="3" fill="${c}"/>`;
    if (k < 6)
      out += `<rect x="${L}" y="${H + 16 * k - 8}" width="10" height="10" fill="${c}"/><text x="${L + 14}" y="${H + 16 * k + 1}">${esc(s.name.slice(0, 70))}</text>`;
  });
  return `${out}</svg>`;
}

/** The four charts a stakeholder asks about, from the kept points. */
export function trendCharts(points: readonly TrendPoint[]): string[] {
  const keys = (f: (p: TrendPoint) => Record<string, number>) =>
    [...new Set(points.flatMap((p) => Object.keys(f(p))))].sort();
  const passRate = points.map((p) => (p.passed + p.failed ? (100 * p.passed) / (p.passed + p.failed) : undefined));
  const timingKeys = keys((p) => p.timings);
  return [
    trendChartSvg(
      'Pass rate per run (%)',
      [{ name: 'scenarios passed / run', values: passRate }],
      (v) => `${v.toFixed(0)}%`,
    ),
    trendChartSvg(
      'Anomalies found by the chaos checker, by kind',
      keys((p) => p.anomalies).map((k) => ({ name: k, values: points.map((p) => p.anomalies[k] ?? 0) })),
      (v) => v.toFixed(0),
    ),
    trendChartSvg(
      'Detection and recovery times',
      timingKeys.map((k) => ({ name: k, values: points.map((p) => p.timings[k]) })),
      fmtMs,
    ),
    trendChartSvg(
      'Admission p99 (time to first byte)',
      [{ name: 'worst admission p99 of the run', values: points.map((p) => p.admissionP99Ms) }],
      fmtMs,
    ),
  ];
}
