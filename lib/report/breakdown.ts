// Where a scenario's time goes: starting its stack, its body (the steps), and teardown (healing, pictures,
// diagnostics, stopping the stack). Each scenario attaches its own breakdown; the run's summary adds them
// up, so a slow run says which of the three to cut before anyone guesses.

import { attachmentText, type RunModel } from './run-model.ts';

export const BREAKDOWN_FILE = 'time-breakdown.json';

export interface Breakdown {
  start_ms: number;
  body_ms: number;
  teardown_ms: number;
  total_ms: number;
}

export function scenarioBreakdown(o: {
  startedAt: number;
  stackStartMs: number;
  teardownFrom: number;
  now: number;
}): Breakdown {
  const round = (x: number) => Math.max(0, Math.round(x));
  const total = o.now - o.startedAt;
  const teardown = o.now - o.teardownFrom;
  return {
    start_ms: round(o.stackStartMs),
    body_ms: round(total - teardown - o.stackStartMs),
    teardown_ms: round(teardown),
    total_ms: round(total),
  };
}

export interface RunBreakdown {
  scenarios: number;
  sum: Breakdown;
  /** The slowest scenarios, slowest first. */
  slowest: Array<{ name: string; breakdown: Breakdown }>;
}

/** The breakdowns attached to the last attempt of every scenario, added up. */
export function runBreakdown(model: RunModel, top = 3): RunBreakdown {
  const lastAttempt = new Map<string, RunModel['attempts'][number]>();
  for (const a of model.attempts) lastAttempt.set(a.pickleId, a);
  const rows: RunBreakdown['slowest'] = [];
  for (const a of lastAttempt.values()) {
    const att = a.attachments.find((x) => x.fileName === BREAKDOWN_FILE);
    if (!att) continue;
    rows.push({
      name: model.pickles.get(a.pickleId)?.name ?? a.pickleId,
      breakdown: JSON.parse(attachmentText(att)) as Breakdown,
    });
  }
  const sum: Breakdown = { start_ms: 0, body_ms: 0, teardown_ms: 0, total_ms: 0 };
  for (const r of rows) for (const k of Object.keys(sum) as Array<keyof Breakdown>) sum[k] += r.breakdown[k];
  rows.sort((a, b) => b.breakdown.total_ms - a.breakdown.total_ms);
  return { scenarios: rows.length, sum, slowest: rows.slice(0, top) };
}

const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** One line for the run's summary, e.g. "time in 52 scenarios: start 40.1 s, body 120.3 s, teardown 8.2 s …". */
export function breakdownLine(b: RunBreakdown): string {
  if (!b.scenarios) return 'time: no scenario recorded a breakdown';
  const slow = b.slowest.map(
    (r) =>
      `${r.name.slice(0, 50)} ${s(r.breakdown.total_ms)} (start ${s(r.breakdown.start_ms)}, body ${s(r.breakdown.body_ms)}, teardown ${s(r.breakdown.teardown_ms)})`,
  );
  return `time in ${b.scenarios} scenarios: start ${s(b.sum.start_ms)}, body ${s(b.sum.body_ms)}, teardown ${s(b.sum.teardown_ms)}; slowest: ${slow.join('; ')}`;
}
