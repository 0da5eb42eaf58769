// An open-loop workload: jobs are submitted at a fixed arrival rate whatever the stack does — the k-th
// submission is due at t0 + k/rate and a slow or hung answer never delays the next one. A closed loop
// (submit, wait, submit) slows down exactly when the stack does and so hides the latency it should
// measure (coordinated omission). Each job gets its own correlation id and is recorded in a History
// as it progresses; at the end the loop waits, within a bound, for the jobs still running.

import { randomBytes } from 'node:crypto';
import type { QueenClient, TaskRequest } from '../clients/rbee.ts';
import type { StreamResponse } from '../clients/http.ts';
import { History, JOB_OUTCOMES, type HistoryEntry, type JobOutcome } from './history.ts';
import { sleepUntil } from '../observe/eventually.ts';

export interface OpenLoopOptions {
  /** The queen to submit to (only its submitTask / inference are used). */
  queen: Pick<QueenClient, 'submitTask' | 'inference'>;
  /** The job to submit as the k-th arrival (k = 0, 1, 2 …). */
  task: (index: number) => TaskRequest;
  /** Target arrivals per second. */
  ratePerSec: number;
  /** Bound on the number of jobs. */
  maxJobs: number;
  /** Bound on the submission window (ms): no submission is due at or after t0 + durationMs. */
  durationMs: number;
  /** After the last submission, how long to wait for open jobs (default 30 s); the rest stay `pending` and are aborted. */
  drainMs?: number;
  /** Correlation ids are `<prefix>-<index>` (default `ol-<8 hex>`); must fit the contract's charset. */
  correlationPrefix?: string;
  /** `/v2/tasks` (default) or `/v1/inference`. */
  route?: 'tasks' | 'inference';
  /** Extra headers per job (e.g. x-deadline). */
  headers?: (index: number) => Record<string, string>;
  bearer?: string | null;
  /** Passed to the HTTP client: bound on the answer's headers and on each gap in the body. */
  requestTimeoutMs?: number;
  /** Record into this history (default: a new one). */
  history?: History;
  /** Stops submitting (the jobs already sent still drain). */
  signal?: AbortSignal;
  /** Called once per job when it terminates (not for jobs abandoned at the end). */
  onJobEnd?: (entry: HistoryEntry) => void;
}

export interface OpenLoopReport {
  targetRatePerSec: number;
  /** Submissions per second over the submission window, counting each one's slot (= target when on time). */
  achievedRatePerSec: number;
  /** Jobs the bounds allowed: min(maxJobs, ceil(durationMs × rate)). */
  planned: number;
  submitted: number;
  stoppedBy: 'count' | 'duration' | 'signal';
  /** Epoch ms of the first due submission (t0). */
  startedAt: number;
  /** Epoch ms when the last job terminated or was abandoned. */
  endedAt: number;
  /** How late submissions went out compared with their due time (ms). */
  lagMs: { mean: number; max: number };
  /** True when every job terminated within the drain bound. */
  drained: boolean;
  /** Jobs still open at the end of the drain bound (left `pending`, aborted). */
  abandoned: number;
  outcomes: Record<JobOutcome, number>;
}

export interface OpenLoopResult {
  history: History;
  report: OpenLoopReport;
}

export interface OpenLoopRun {
  /** Filled in while the loop runs. */
  readonly history: History;
  /** Resolves once every job terminated or was abandoned. Never rejects for a job's failure. */
  readonly done: Promise<OpenLoopResult>;
  /** Stop submitting now (the jobs already sent still drain). */
  stop(): void;
}

/** Run a workload to the end. */
export function runOpenLoop(o: OpenLoopOptions): Promise<OpenLoopResult> {
  return startOpenLoop(o).done;
}

/** Start a workload in the background (a chaos run starts the nemesis beside it). */
export function startOpenLoop(o: OpenLoopOptions): OpenLoopRun {
  if (!(o.ratePerSec > 0) || !Number.isFinite(o.ratePerSec))
    throw new Error(`open loop: rate must be a positive number, got ${o.ratePerSec}`);
  if (!(o.maxJobs >= 0) || !Number.isInteger(o.maxJobs))
    throw new Error(`open loop: maxJobs must be a whole number ≥ 0, got ${o.maxJobs}`);
  if (!(o.durationMs >= 0)) throw new Error(`open loop: durationMs must be ≥ 0, got ${o.durationMs}`);
  const prefix = o.correlationPrefix ?? `ol-${randomBytes(4).toString('hex')}`;
  if (!/^[A-Za-z0-9._:-]{1,110}$/.test(prefix))
    throw new Error(`open loop: correlation prefix "${prefix}" is not 1–110 chars of [A-Za-z0-9._:-]`);
  const history = o.history ?? new History();
  const stopper = new AbortController();
  const onOuterAbort = () => stopper.abort();
  if (o.signal?.aborted) stopper.abort();
  else o.signal?.addEventListener('abort', onOuterAbort, { once: true });
  const done = drive(o, prefix, history, stopper.signal).finally(() =>
    o.signal?.removeEventListener('abort', onOuterAbort),
  );
  return { history, done, stop: () => stopper.abort() };
}

async function drive(o: OpenLoopOptions, prefix: string, history: History, stop: AbortSignal): Promise<OpenLoopResult> {
  const intervalMs = 1000 / o.ratePerSec;
  const planned = Math.min(o.maxJobs, Math.ceil((o.durationMs * o.ratePerSec) / 1000 - 1e-9));
  const running = new Map<number, { settled: Promise<void>; abort: () => void }>();
  const lags: number[] = [];
  const ids: number[] = [];
  const t0 = performance.now();
  const startedAt = Date.now();
  let stoppedBy: OpenLoopReport['stoppedBy'] = planned >= o.maxJobs ? 'count' : 'duration';
  let lastDue = t0;

  for (let k = 0; k < planned; k++) {
    const due = t0 + k * intervalMs;
    if (!(await sleepUntil(due, stop, () => performance.now()))) {
      stoppedBy = 'signal';
      break;
    }
    let job: ReturnType<typeof submitOne>;
    try {
      job = submitOne(o, history, `${prefix}-${k}`, k, due - t0);
    } catch (e) {
      // The task factory (the caller's code) threw: stop the jobs already sent and say which one.
      for (const j of running.values()) j.abort();
      throw new Error(`open loop: building job ${k} failed: ${(e as Error).message}`);
    }
    lastDue = due;
    lags.push(performance.now() - due);
    ids.push(job.entry.id);
    running.set(job.entry.id, job);
    void job.settled.then(() => running.delete(job.entry.id));
  }
  const submitted = lags.length;

  // Drain: wait for the open jobs, within the bound; whatever is left stays pending and is aborted.
  const drainMs = o.drainMs ?? 30_000;
  const all = Promise.all([...running.values()].map((j) => j.settled));
  let timer: NodeJS.Timeout | undefined;
  const drained = await Promise.race([
    all.then(() => true),
    new Promise<false>((r) => (timer = setTimeout(() => r(false), drainMs))),
  ]);
  clearTimeout(timer);
  let abandoned = 0;
  if (!drained) {
    for (const [id, job] of running) {
      const entry = history.get(id);
      if (!entry || entry.outcome !== 'pending' || entry.abandoned) continue;
      history.recordAbandoned(entry, `still open ${drainMs} ms after the last submission; aborted by the harness`);
      job.abort();
      abandoned++;
    }
  }
  const outcomes = Object.fromEntries(JOB_OUTCOMES.map((x) => [x, 0])) as Record<JobOutcome, number>;
  for (const id of ids) outcomes[history.get(id)!.outcome]++;
  const report: OpenLoopReport = {
    targetRatePerSec: o.ratePerSec,
    achievedRatePerSec: submitted ? round2((submitted * 1000) / lastSubmitSpan(lags, lastDue - t0, intervalMs)) : 0,
    planned,
    submitted,
    stoppedBy,
    startedAt,
    endedAt: Date.now(),
    lagMs: {
      mean: round2(lags.reduce((a, b) => a + b, 0) / Math.max(1, lags.length)),
      max: round2(Math.max(0, ...lags)),
    },
    drained,
    abandoned,
    outcomes,
  };
  return { history, report };
}

/** The span the submissions really took: the last one's actual send time plus one slot. */
function lastSubmitSpan(lags: number[], lastDueOffset: number, intervalMs: number): number {
  return lastDueOffset + (lags.at(-1) ?? 0) + intervalMs;
}

function submitOne(
  o: OpenLoopOptions,
  history: History,
  correlationId: string,
  index: number,
  scheduledAtMs: number,
): { entry: HistoryEntry; settled: Promise<void>; abort: () => void } {
  const task = o.task(index);
  const entry = history.recordSubmitted({
    correlationId,
    request: {
      model: task.model,
      max_tokens: task.max_tokens,
      ...(task.node !== undefined ? { node: task.node } : {}),
    },
    scheduledAtMs,
  });
  const sent = performance.now();
  const since = () => performance.now() - sent;
  let abort = () => {};
  let aborted = false;
  const call = o.route === 'inference' ? o.queen.inference.bind(o.queen) : o.queen.submitTask.bind(o.queen);
  const settled = (async () => {
    let res: StreamResponse;
    try {
      res = await call(task, {
        headers: { ...(o.headers?.(index) ?? {}), 'x-correlation-id': correlationId },
        ...(o.bearer !== undefined ? { bearer: o.bearer } : {}),
        ...(o.requestTimeoutMs !== undefined ? { timeoutMs: o.requestTimeoutMs } : {}),
        onEvent: (e) => history.recordEvent(entry, e.data, since()),
      });
    } catch (e) {
      history.recordNoAnswer(entry, (e as Error).message, since());
      return;
    }
    history.recordAnswer(entry, res, since());
    if (res.error) return;
    abort = res.abort;
    if (aborted) res.abort();
    const result = await res.result;
    history.recordStreamEnd(entry, result, since());
  })().then(
    () => {
      if (entry.outcome !== 'pending') o.onJobEnd?.(entry);
    },
    (e) => {
      // Not a job failure (those are recorded above): a bug in a callback. Keep the run going, say it.
      history.recordAbandoned(entry, `harness error while recording the job: ${(e as Error).message}`);
    },
  );
  return { entry, settled, abort: () => ((aborted = true), abort()) };
}

const round2 = (v: number) => Math.round(v * 100) / 100;

/** One line: target vs achieved rate, how many, lag, outcomes. */
export function formatOpenLoopReport(r: OpenLoopReport): string {
  const outcomes =
    Object.entries(r.outcomes)
      .filter(([, n]) => n)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ') || 'none';
  return (
    `open loop: ${r.submitted}/${r.planned} jobs at ${r.achievedRatePerSec}/s (target ${r.targetRatePerSec}/s, stopped by ${r.stoppedBy}); ` +
    `submission lag mean ${r.lagMs.mean} ms, max ${r.lagMs.max} ms; outcomes: ${outcomes}` +
    (r.drained ? '' : `; ${r.abandoned} job(s) still open at the drain bound, left pending`)
  );
}
