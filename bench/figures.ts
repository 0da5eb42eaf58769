// The bench's bookkeeping, kept apart from what it measures so every figure is reported the same honest
// way: a failed sample is recorded with its one-line reason instead of ending the bench, every figure
// shows min / median / max with the machine's load while it was taken, and the figures that have a target
// (from the issue "A PR run in about a minute on two cores") say whether their median meets it.

import os from 'node:os';

export type Unit = 'ms' | 'ms CPU';

export interface Figure {
  what: string;
  /** process, docker, or "host" for figures that do not depend on a runtime. */
  runtime: string;
  unit: Unit;
  values: number[];
  /** One line per failed sample. */
  failures: string[];
  /** os.loadavg()[0] when the figure was finished. */
  load: number;
  cpus: number;
  /** Median of another figure this one is compared to (process-start CPU against `node -e 0`). */
  ratioTo?: { what: string; median: number };
}

export interface Stats {
  min: number;
  median: number;
  max: number;
}

export function stats(xs: readonly number[]): Stats | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length / 2;
  const median = s.length % 2 ? s[Math.floor(mid)]! : (s[mid - 1]! + s[mid]!) / 2;
  return { min: s[0]!, median, max: s.at(-1)! };
}

/** The first line of what went wrong, whatever was thrown. */
export function reasonOf(e: unknown): string {
  const text = e instanceof Error ? e.message || e.name : String(e);
  const line =
    text
      .split('\n')
      .map((l) => l.trim())
      .find((l) => l !== '') ?? 'unknown error';
  return line.length > 200 ? line.slice(0, 199) + '…' : line;
}

/** Run `fn` n times; a sample that throws is recorded with its reason and the others still run. */
export async function sample(n: number, fn: () => Promise<number>): Promise<{ values: number[]; failures: string[] }> {
  const values: number[] = [];
  const failures: string[] = [];
  for (let i = 0; i < n; i++) {
    try {
      values.push(await fn());
    } catch (e) {
      failures.push(reasonOf(e));
    }
  }
  return { values, failures };
}

export interface Target {
  /** What the issue asks, as printed: "default stack healthy process ≤ 0.5 s". */
  text: string;
  applies(f: Figure): boolean;
  /** The median (or the ratio of medians) a figure must not exceed. */
  max: number;
  ratio?: boolean;
}

export const PR_SUITE = 'PR suite wall time (default parallelism)';
export const PR_SUITE_SERIAL = 'PR suite wall time (--parallel 1)';
export const HEALTHY_STACK = 'healthy default stack (1 hive, 1 worker)';
export const SIXTEEN_WORKERS = 'bring up 16 worker(s)';
export const START_NODE = 'process start CPU: node -e 0';
export const START_TSX = 'process start CPU: worker via tsx';
export const START_BUNDLE = 'process start CPU: worker bundled';
export const START_HARNESS = 'process start CPU: worker, harness bundle';
export const CI_RUN = '.ci/run in total (its last run here)';

export const TARGETS: readonly Target[] = [
  { text: 'PR wall time process ≤ 60 s', applies: (f) => f.what === PR_SUITE && f.runtime === 'process', max: 60_000 },
  { text: 'PR wall time docker ≤ 120 s', applies: (f) => f.what === PR_SUITE && f.runtime === 'docker', max: 120_000 },
  {
    text: 'default stack healthy process ≤ 0.5 s',
    applies: (f) => f.what === HEALTHY_STACK && f.runtime === 'process',
    max: 500,
  },
  {
    text: 'one service process start CPU ≤ 1.5× node -e 0',
    applies: (f) => f.what === START_TSX || f.what === START_BUNDLE || f.what === START_HARNESS,
    max: 1.5,
    ratio: true,
  },
  { text: '16 workers healthy ≤ 3 s', applies: (f) => f.what === SIXTEEN_WORKERS, max: 3_000 },
  { text: '.ci/run in total ≤ 15 min', applies: (f) => f.what === CI_RUN, max: 15 * 60_000 },
];

/**
 * The target a figure has, and whether its median meets it (undefined: nothing was measured). A figure
 * with a failed sample does not meet its target, whatever the samples that worked say.
 */
export function judge(f: Figure): { target: Target; met: boolean | undefined; value?: number } | undefined {
  const target = TARGETS.find((t) => t.applies(f));
  if (!target) return undefined;
  const s = stats(f.values);
  if (!s) return { target, met: undefined };
  const value = target.ratio ? (f.ratioTo && f.ratioTo.median > 0 ? s.median / f.ratioTo.median : undefined) : s.median;
  if (value === undefined) return { target, met: undefined };
  return { target, met: value <= target.max && f.failures.length === 0, value };
}

const n0 = (x: number) => x.toFixed(0);
const load = (f: Figure) => `load ${f.load.toFixed(2)} on ${f.cpus} cpus`;

/** `412 / 436 / 502 ms`, or `3 ok, 2 failed: <reason>` and the numbers of the ones that worked. */
export function figureText(f: Figure): string {
  const s = stats(f.values);
  const numbers = s ? `${n0(s.min)} / ${n0(s.median)} / ${n0(s.max)} ${f.unit}` : 'no value';
  const ratio =
    s && f.ratioTo
      ? ` (${(s.median / f.ratioTo.median).toFixed(2)}× ${f.ratioTo.what.replace(/^process start CPU: /, '')})`
      : '';
  const counts = f.failures.length
    ? `${f.values.length} ok, ${f.failures.length} failed: ${mostCommon(f.failures)}`
    : `n=${f.values.length}`;
  return `${numbers}${ratio}  ${counts}`;
}

function mostCommon(xs: readonly string[]): string {
  const count = new Map<string, number>();
  for (const x of xs) count.set(x, (count.get(x) ?? 0) + 1);
  const [top, n] = [...count.entries()].sort((a, b) => b[1] - a[1])[0]!;
  return count.size > 1 ? `${top} (×${n}; ${count.size - 1} other reason(s))` : top;
}

export function verdictText(f: Figure): string {
  const j = judge(f);
  if (!j) return '';
  const failed = f.failures.length ? `, ${f.failures.length} sample(s) failed` : '';
  const state =
    j.met === undefined
      ? 'not measured'
      : j.met
        ? 'met'
        : `NOT met${j.value !== undefined ? ` (median ${fmt(j)}${failed})` : ''}`;
  return `target ${j.target.text}: ${state}`;
}

export class Figures {
  readonly all: Figure[] = [];

  record(
    what: string,
    runtime: string,
    unit: Unit,
    r: { values: number[]; failures: string[] },
    ratioTo?: Figure,
  ): Figure {
    const base = ratioTo ? stats(ratioTo.values) : undefined;
    const f: Figure = {
      what,
      runtime,
      unit,
      values: r.values,
      failures: r.failures,
      load: os.loadavg()[0]!,
      cpus: os.cpus().length,
      ...(ratioTo && base ? { ratioTo: { what: ratioTo.what, median: base.median } } : {}),
    };
    this.all.push(f);
    const verdict = verdictText(f);
    console.log(
      `  ${what.padEnd(42)} ${runtime.padEnd(8)} ${figureText(f)}  [${load(f)}]${verdict ? `  ${verdict}` : ''}`,
    );
    return f;
  }

  /** The closing Markdown table: every figure, its load, the docker/process ratio, its target. */
  table(): string {
    const lines = [
      '| measurement | runtime | ok | failed | min | median | max | unit | load (1 min) | docker / process (median) | target | met |',
      '|---|---|---|---|---|---|---|---|---|---|---|---|',
    ];
    for (const f of this.all) {
      const s = stats(f.values);
      const base = this.all.find((x) => x.what === f.what && x.runtime === 'process');
      const bs = base ? stats(base.values) : undefined;
      const ratio = s && bs && f.runtime === 'docker' ? (s.median / bs.median).toFixed(2) : '';
      const j = judge(f);
      const num = (k: keyof Stats) => (s ? n0(s[k]) : '');
      lines.push(
        `| ${f.what}${f.failures.length ? ` (${mostCommon(f.failures)})` : ''} | ${f.runtime} | ${f.values.length} | ${f.failures.length} | ${num('min')} | ${num('median')} | ${num('max')} | ${f.unit} | ${f.load.toFixed(2)} / ${f.cpus} cpus | ${ratio} | ${j?.target.text ?? ''} | ${j ? (j.met === undefined ? 'not measured' : `${j.met ? 'yes' : 'no'} (${fmt(j)}${f.failures.length ? `, ${f.failures.length} failed` : ''})`) : ''} |`,
      );
    }
    return lines.join('\n');
  }
}

function fmt(j: { target: Target; value?: number }): string {
  if (j.value === undefined) return '';
  return j.target.ratio
    ? `${j.value.toFixed(2)}×`
    : j.value >= 1000
      ? `${(j.value / 1000).toFixed(2)} s`
      : `${j.value.toFixed(0)} ms`;
}
