// Shrinking a failing fault schedule to the few faults that matter, as Jepsen and property-based testing
// do: a dozen overlapping faults explain nothing, two faults and a short window often explain the bug.
// First delta debugging (Zeller's ddmin) over the fault list, then each remaining fault's duration is
// halved while the run still fails. Every attempt is a whole chaos run, so a budget (runs and wall time)
// bounds the search and the best schedule found so far is returned when it runs out. Pure logic: the
// caller's `stillFails` runs the stack; tests use synthetic predicates.

import { withFaults, type FaultSchedule, type ScheduledFault } from './schedule.ts';

export interface ShrinkBudget {
  /** Most calls of `stillFails` (cached repeats are free). */
  maxRuns: number;
  /** Most wall time (ms) from the start of shrinking; a run already started is let finish. */
  maxWallMs: number;
  /** Durations are not halved below this (default 100 ms). */
  minDurationMs?: number;
}

export interface ShrinkOptions {
  /** Run the original first and give up if it no longer fails (a flaky failure shrinks to nonsense). */
  confirm?: boolean;
  /** Clock (ms) for the wall-time budget; tests pass a fake one. */
  now?: () => number;
  /** Called after each attempt (progress lines). */
  onAttempt?: (a: ShrinkAttempt) => void;
}

export type ShrinkPhase = 'confirm' | 'ddmin' | 'no-faults' | 'duration';

export interface ShrinkAttempt {
  run: number;
  phase: ShrinkPhase;
  /** Indices (as in the original schedule) of the faults tried. */
  faults: number[];
  /** Durations that differ from the original, by fault index. */
  durations?: Record<string, number>;
  verdict: 'fails' | 'passes' | 'error';
  /** When `stillFails` threw (counted as "does not fail"). */
  error?: string;
  ms: number;
}

export interface ShrinkResult {
  /** The smallest schedule seen failing (the original when nothing smaller failed). */
  schedule: FaultSchedule;
  attempts: ShrinkAttempt[];
  runs: number;
  /** `done`: ddmin and halving finished (1-minimal in faults); otherwise what cut the search short. */
  stoppedBy: 'done' | 'max-runs' | 'max-wall-time' | 'not-reproduced';
}

class BudgetSpent extends Error {
  constructor(readonly reason: 'max-runs' | 'max-wall-time') {
    super(reason);
  }
}

/** Shrink `schedule` (which failed) to a smaller one that still fails. */
export async function shrink(
  schedule: FaultSchedule,
  stillFails: (s: FaultSchedule) => Promise<boolean>,
  budget: ShrinkBudget,
  o: ShrinkOptions = {},
): Promise<ShrinkResult> {
  const now = o.now ?? Date.now;
  const started = now();
  const attempts: ShrinkAttempt[] = [];
  const cache = new Map<string, boolean>();
  const original = new Map(schedule.faults.map((f) => [f.index, f.durationMs]));
  const minDurationMs = budget.minDurationMs ?? 100;
  let best = withFaults(schedule, schedule.faults);

  const keyOf = (faults: readonly ScheduledFault[]) => faults.map((f) => `${f.index}:${f.durationMs}`).join(',');
  /** One attempt, through the cache and the budget; true when the schedule still fails. */
  const attempt = async (phase: ShrinkPhase, faults: readonly ScheduledFault[]): Promise<boolean> => {
    const key = keyOf(faults);
    const known = cache.get(key);
    if (known !== undefined) return known;
    if (attempts.length >= budget.maxRuns) throw new BudgetSpent('max-runs');
    if (now() - started >= budget.maxWallMs) throw new BudgetSpent('max-wall-time');
    const candidate = withFaults(schedule, faults);
    const t0 = now();
    let verdict: ShrinkAttempt['verdict'];
    let error: string | undefined;
    try {
      verdict = (await stillFails(candidate)) ? 'fails' : 'passes';
    } catch (e) {
      verdict = 'error';
      error = (e as Error)?.message ?? String(e);
    }
    const durations: Record<string, number> = {};
    for (const f of faults) if (original.get(f.index) !== f.durationMs) durations[String(f.index)] = f.durationMs;
    const a: ShrinkAttempt = {
      run: attempts.length + 1,
      phase,
      faults: faults.map((f) => f.index),
      ...(Object.keys(durations).length ? { durations } : {}),
      verdict,
      ...(error !== undefined ? { error } : {}),
      ms: now() - t0,
    };
    attempts.push(a);
    o.onAttempt?.(a);
    const fails = verdict === 'fails';
    cache.set(key, fails);
    if (fails && isSmaller(candidate, best)) best = candidate;
    return fails;
  };

  try {
    if (o.confirm && !(await attempt('confirm', schedule.faults))) {
      return { schedule: best, attempts, runs: attempts.length, stoppedBy: 'not-reproduced' };
    }
    cache.set(keyOf(schedule.faults), true);
    let faults = await ddmin(schedule.faults, (subset) => attempt('ddmin', subset));
    if (faults.length === 1 && (await attempt('no-faults', []))) faults = [];
    for (let i = 0; i < faults.length; i++) {
      for (;;) {
        const f = faults[i]!;
        const half = Math.floor(f.durationMs / 2);
        if (half < minDurationMs) break;
        const shorter = faults.map((x, j) => (j === i ? { ...x, durationMs: half } : x));
        if (!(await attempt('duration', shorter))) break;
        faults = shorter;
      }
    }
    return { schedule: best, attempts, runs: attempts.length, stoppedBy: 'done' };
  } catch (e) {
    if (e instanceof BudgetSpent) return { schedule: best, attempts, runs: attempts.length, stoppedBy: e.reason };
    throw e;
  }
}

/** Fewer faults first, then less total fault time. */
function isSmaller(a: FaultSchedule, b: FaultSchedule): boolean {
  if (a.faults.length !== b.faults.length) return a.faults.length < b.faults.length;
  const total = (s: FaultSchedule) => s.faults.reduce((t, f) => t + f.durationMs, 0);
  return total(a) < total(b);
}

/**
 * Zeller's ddmin: the smallest sub-list (1-minimal: dropping any one item makes it pass) for which
 * `fails` holds, assuming it holds for `items`. Order is kept. Exported for reuse on other lists.
 */
export async function ddmin<T>(items: readonly T[], fails: (subset: T[]) => Promise<boolean>): Promise<T[]> {
  let current = [...items];
  let n = 2;
  while (current.length >= 2) {
    const chunks = split(current, n);
    let reduced = false;
    for (const chunk of chunks) {
      if (await fails(chunk)) {
        current = chunk;
        n = 2;
        reduced = true;
        break;
      }
    }
    // With two chunks each complement is the other chunk, already tried.
    if (!reduced && n > 2) {
      for (const chunk of chunks) {
        const complement = current.filter((x) => !chunk.includes(x));
        if (await fails(complement)) {
          current = complement;
          n = Math.max(n - 1, 2);
          reduced = true;
          break;
        }
      }
    }
    if (!reduced) {
      if (n >= current.length) break;
      n = Math.min(current.length, n * 2);
    }
  }
  return current;
}

/** `n` nearly equal consecutive chunks. */
function split<T>(xs: readonly T[], n: number): T[][] {
  const out: T[][] = [];
  let start = 0;
  for (let i = 0; i < n; i++) {
    const end = start + Math.floor((xs.length - start) / (n - i));
    if (end > start) out.push(xs.slice(start, end));
    start = end;
  }
  return out;
}

/** A readable trail: the result, then one line per attempt. */
export function formatShrink(r: ShrinkResult, originalFaults?: number): string {
  const head =
    `shrunk ${originalFaults !== undefined ? `${originalFaults} → ` : ''}${r.schedule.faults.length} fault(s) in ${r.runs} run(s)` +
    (r.stoppedBy === 'done' ? '' : ` (stopped: ${r.stoppedBy})`) +
    `; kept: ${r.schedule.faults.map((f) => `#${f.index} ${f.kind} ${f.durationMs} ms`).join(', ') || 'none'}`;
  const lines = r.attempts.map(
    (a) =>
      `  run ${a.run} ${a.phase} [${a.faults.map((i) => `#${i}`).join(' ')}]` +
      (a.durations
        ? ` durations ${Object.entries(a.durations)
            .map(([i, d]) => `#${i}=${d} ms`)
            .join(' ')}`
        : '') +
      ` → ${a.verdict}${a.error ? ` (${a.error})` : ''} in ${(a.ms / 1000).toFixed(1)} s`,
  );
  return [head, ...lines].join('\n');
}
