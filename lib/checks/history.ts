// The chaos checker (Jepsen's "checker" over a history): it reads what every client saw (the History)
// and what the services say about themselves (evidence: job spans from worker logs, deaths reported by
// hives, counters, convergence) and lists EVERY anomaly, each naming the jobs involved. It is pure: the
// caller gathers the evidence (logs, /metrics) into the plain object below, so each rule is unit-tested
// on synthetic histories. A rule whose evidence was not given is not run (see uncheckedKinds).

import type { FaultWindow } from '../chaos/executor.ts';
import type { Sample } from '../clients/metrics.ts';
import type { LogLine } from '../observe/logs.ts';
import { shapeOf, summarizeTypes } from './stream.ts';
import { describeEntry, History, type HistoryEntry } from '../workload/history.ts';

export const ANOMALY_KINDS = [
  'lost',
  'silent-truncation',
  'tokens-out-of-order',
  'tokens-duplicated',
  'tokens-over-max',
  'ran-on-two-workers',
  'concurrent-on-worker',
  'idle-while-running',
  'fault-error-not-retryable',
  'routed-to-dead-worker',
  'counters-mismatch',
  'no-convergence',
  'failed-without-fault',
] as const;
/**
 * - lost: never terminated (accepted and never ended, or never answered at all);
 * - silent-truncation: the stream closed with neither an end nor an error event (unless the connection broke
 *   while the queen itself was being restarted: the client saw that, and no one could have said more);
 * - tokens-out-of-order / tokens-duplicated / tokens-over-max: token indices not 0,1,2… (or missing,
 *   or fewer than end.tokens_out) / an index twice / more tokens than max_tokens;
 * - ran-on-two-workers: one job id started on two workers (workers' own log spans);
 * - concurrent-on-worker: more jobs at once on one worker than it has slots (spans);
 * - idle-while-running: its hive listed a worker idle (free to take a job) while, by the worker's own log, it
 *   ran one — the state a second job is routed on; it shows even when no second job came in time;
 * - fault-error-not-retryable: a fault-caused failure (see isFaultCaused) without `retryable: true`;
 * - routed-to-dead-worker: dispatched to a worker while its hive had reported it dead;
 * - counters-mismatch: the queen's jobs-by-outcome or a worker's job count cannot be reconciled with the history;
 * - no-convergence: the stack did not converge within its bound after the last heal;
 * - failed-without-fault (opt-in): a failure not caused by the request while no fault was active.
 */
export type AnomalyKind = (typeof ANOMALY_KINDS)[number];

export interface Anomaly {
  kind: AnomalyKind;
  /** History ids of the jobs involved (may be empty, e.g. a counter or convergence anomaly). */
  jobs: number[];
  detail: string;
}

/** One job's run on a worker, from the worker's own log (job.started → job.finished/cancelled/failed). */
export interface JobSpan {
  worker: string;
  /** The queen's job id (the narration's job_id). */
  jobId: string;
  /** Epoch ms. */
  start: number;
  /** Absent when the worker never logged an end (it died): closed at its next death, else open. */
  end?: number;
}

/** One answer of a hive's GET /v1/workers/list: the states it held somewhere between sentAt and receivedAt. */
export interface HiveListing {
  hive: string;
  /** Epoch ms. */
  sentAt: number;
  receivedAt: number;
  workers: ReadonlyArray<{ worker_id: string; state: string }>;
}

/** A worker its hive reported dead (worker.crashed / worker.removed), and when it was ready again, if ever. */
export interface DeadWorker {
  worker: string;
  deadAt: number;
  revivedAt?: number;
}

export interface Convergence {
  /** Epoch ms of the last heal. */
  lastHealAt: number;
  /** When the caller saw the stack converged (its own probe), or absent if it never did. */
  convergedAt?: number;
  boundMs: number;
  /** What "converged" meant, and the last observation when it did not. */
  what?: string;
  lastObservation?: string;
}

/** What the services say, gathered by the caller. Leave a field out and its rule is not run. */
export interface HistoryEvidence {
  /** Fault windows (executor's faultWindowsOf); without them every failure counts as outside a fault. */
  faults?: readonly FaultWindow[];
  /** For ran-on-two-workers and concurrent-on-worker (jobSpansFromLogs). */
  jobSpans?: readonly JobSpan[];
  /** For routed-to-dead-worker (deadWorkersFromLogs); also closes spans of workers that died mid-job. */
  deadWorkers?: readonly DeadWorker[];
  /**
   * The queen's rbee_queen_jobs_total by outcome label, counted over the workload only (after − before)
   * and from one queen process: after a queen restart the counters restart, so leave it out then.
   */
  queenJobsByOutcome?: Readonly<Record<string, number>>;
  /** For idle-while-running: the hives' worker lists sampled during the run (together with jobSpans). */
  hiveListings?: readonly HiveListing[];
  /** rbee_worker_jobs_total (all outcomes) per worker id, over the workload, for workers that never restarted. */
  workerJobCounts?: Readonly<Record<string, number>>;
  convergence?: Convergence;
}

export type QueenOutcome = 'completed' | 'failed' | 'rejected' | 'cancelled';

export interface HistoryCheckOptions {
  /** A failure this long after a fault healed still counts as caused by it (default 5000 ms). */
  faultGraceMs?: number;
  /** How long the queen may take to learn of a death the hive reported (default 0; give it ~2 heartbeats). */
  routingGraceMs?: number;
  /**
   * idle-while-running needs the job to have run this long before the listing was asked for and after it
   * was answered (default 500 ms): a job's start and end reach the hive and the worker in either order.
   */
  listingMarginMs?: number;
  /** Jobs a worker may run at once (MOCK_SLOTS; default 1). */
  slotsPerWorker?: number;
  /** Also flag failures that overlap no fault window (default false). */
  flagFailuresOutsideFaults?: boolean;
  /** How the queen counts a job (default: the reference stack's rule, queenOutcomeOf). */
  queenOutcome?: (e: HistoryEntry) => QueenOutcome | 'ambiguous';
}

/** Codes that say the request itself was wrong (contract §0/§1): never caused by a fault. */
export const CLIENT_CAUSED_CODES: ReadonlySet<string> = new Set([
  'INVALID_JSON',
  'INVALID_REQUEST',
  'VALIDATION_FAILED',
  'MISSING_API_KEY',
  'INVALID_API_KEY',
  'INVALID_TOKEN',
  'NODE_NOT_FOUND',
  'MODEL_NOT_FOUND',
  'DEADLINE_EXCEEDED',
  'PAYLOAD_TOO_LARGE',
]);

/** Codes the contract names for failures of the stack (a lost worker, hive or capacity): retryable by contract. */
export const FAULT_CAUSED_CODES: ReadonlySet<string> = new Set([
  'NO_CAPACITY',
  'HIVE_UNAVAILABLE',
  'WORKER_CRASHED',
  'WORKER_UNREACHABLE',
  'ALL_SLOTS_BUSY',
  'SHUTTING_DOWN',
]);

/** Did the job fail (an error event, or a refusal that had an HTTP answer / none at all)? A cancel is not a failure. */
export function isFailure(e: HistoryEntry): boolean {
  return e.outcome === 'error' || e.outcome === 'refused';
}

/** The request was at fault: a client-caused code, or a 4xx other than 408/429. */
export function isClientCaused(e: HistoryEntry): boolean {
  if (e.failure && CLIENT_CAUSED_CODES.has(e.failure.code)) return true;
  const s = e.admission?.status ?? 0;
  return e.outcome === 'refused' && s >= 400 && s < 500 && s !== 408 && s !== 429;
}

/**
 * A failure is fault-caused when the request was not at fault and either it overlaps a fault window
 * (its life from submission to termination meets [applied, healed + grace]) or its code is one the
 * contract names for stack failures. Such a failure must say `retryable: true` — except a refusal with
 * no HTTP answer at all (status 0: connection refused while the queen is down), which carries no flag
 * to check and is retryable by nature; the fault-error-not-retryable rule skips it.
 */
export function isFaultCaused(e: HistoryEntry, windows: readonly FaultWindow[], graceMs: number): boolean {
  if (!isFailure(e) || isClientCaused(e)) return false;
  return overlapsFault(e, windows, graceMs) || FAULT_CAUSED_CODES.has(e.failure?.code ?? '');
}

/** Windows (kind + target) the job's life overlaps, with the grace after each heal. */
export function faultsDuring(e: HistoryEntry, windows: readonly FaultWindow[], graceMs: number): FaultWindow[] {
  const from = e.submittedAt;
  const to =
    e.finishedAt ??
    (e.durations.totalMs !== undefined ? e.submittedAt + e.durations.totalMs : Number.POSITIVE_INFINITY);
  return windows.filter((w) => from <= w.end + graceMs && to >= w.start);
}

function overlapsFault(e: HistoryEntry, windows: readonly FaultWindow[], graceMs: number): boolean {
  return faultsDuring(e, windows, graceMs).length > 0;
}

/**
 * How the reference queen counts a job in rbee_queen_jobs_total{outcome} (stack/queen/tasks.ts): an end
 * event → completed (cancelled when stop_reason is CANCELLED), an error event → failed, a refusal with
 * 4xx/503/504 → rejected and other statuses → failed. A cut or pending stream, or a refusal without an
 * answer, may have been counted any way or not at all: ambiguous.
 */
export function queenOutcomeOf(e: HistoryEntry): QueenOutcome | 'ambiguous' {
  switch (e.outcome) {
    case 'end':
      return e.end?.stopReason === 'CANCELLED' ? 'cancelled' : 'completed';
    case 'error':
      return 'failed';
    case 'refused': {
      const s = e.admission?.status ?? 0;
      if (s === 0) return 'ambiguous';
      return s < 500 || s === 503 || s === 504 ? 'rejected' : 'failed';
    }
    default:
      return 'ambiguous';
  }
}

/** Check a history against the evidence; every anomaly found, in rule order, then job order. */
export function checkHistory(
  history: History | readonly HistoryEntry[],
  evidence: HistoryEvidence = {},
  o: HistoryCheckOptions = {},
): Anomaly[] {
  const entries: readonly HistoryEntry[] = history instanceof History ? history.entries : history;
  const graceMs = o.faultGraceMs ?? 5000;
  const windows = evidence.faults ?? [];
  const out: Anomaly[] = [];
  const byJobId = new Map<string, HistoryEntry>();
  for (const e of entries) if (e.dispatch?.job_id) byJobId.set(e.dispatch.job_id, e);
  const idsOf = (jobIds: readonly string[]) =>
    jobIds.map((j) => byJobId.get(j)?.id).filter((x): x is number => x !== undefined);

  for (const e of entries) {
    if (e.outcome === 'pending') {
      const why = e.admission?.stream
        ? `accepted (${e.admission.status}) and never terminated: ${e.events.length} event(s), last ${e.events.at(-1)?.type ?? 'none'}`
        : 'the queen never answered';
      out.push({
        kind: 'lost',
        jobs: [e.id],
        detail: `${describeEntry(e)}: ${why}${e.abandoned ? ` (${e.abandoned})` : ''}`,
      });
    }
  }
  // A client whose connection broke while the queen itself was being killed saw the failure (a transport
  // error, not a clean end): nobody was left to send an error event, and the outcome is indeterminate, as
  // Jepsen's :info. A stream that ended cleanly without end or error is silent truncation whenever it happens.
  const queenDied = (e: HistoryEntry) =>
    !!e.stream?.transportError &&
    e.finishedAt !== undefined &&
    windows.some((w) => w.kind === 'restart-queen' && e.finishedAt! >= w.start && e.finishedAt! <= w.end + 1000);
  for (const e of entries) {
    if (e.outcome !== 'cut' || queenDied(e)) continue;
    const types = summarizeTypes(e.events.map((x) => x.type ?? '?'));
    out.push({
      kind: 'silent-truncation',
      jobs: [e.id],
      detail: `${describeEntry(e)}: the stream closed without an end or error event after ${types}${e.stream?.transportError ? ` (${e.stream.transportError})` : ''}${e.stream?.done ? ' and [DONE]' : ''}`,
    });
  }
  for (const e of entries) out.push(...tokenAnomalies(e));

  if (evidence.jobSpans) {
    const spans = closeSpans(evidence.jobSpans, evidence.deadWorkers ?? []);
    const workersOf = new Map<string, Set<string>>();
    for (const s of spans) workersOf.set(s.jobId, (workersOf.get(s.jobId) ?? new Set()).add(s.worker));
    for (const [jobId, workers] of workersOf) {
      if (workers.size < 2) continue;
      const e = byJobId.get(jobId);
      out.push({
        kind: 'ran-on-two-workers',
        jobs: e ? [e.id] : [],
        detail: `${e ? describeEntry(e) : `job ${jobId} (not in the history)`} was started on ${[...workers].sort().join(' and ')} (workers' logs)`,
      });
    }
    out.push(...concurrency(spans, o.slotsPerWorker ?? 1, idsOf));
    if (evidence.hiveListings)
      out.push(...idleWhileRunning(evidence.hiveListings, spans, o.listingMarginMs ?? 500, idsOf));
  }

  for (const e of entries) {
    if (!isFaultCaused(e, windows, graceMs) || e.failure?.retryable === true || e.admission?.status === 0) continue;
    const during = faultsDuring(e, windows, graceMs);
    const why = during.length
      ? `during ${during.map((w) => `${w.kind} ${w.target}`).join(', ')}`
      : `a ${e.failure?.code} failure (retryable by contract)`;
    out.push({
      kind: 'fault-error-not-retryable',
      jobs: [e.id],
      detail: `${describeEntry(e)}: ${e.outcome === 'refused' ? `refused ${e.admission?.status}` : 'error event'} ${e.failure?.code} has retryable=${e.failure?.retryable ?? '(absent)'}, ${why}`,
    });
  }
  if (o.flagFailuresOutsideFaults) {
    for (const e of entries) {
      if (!isFailure(e) || isClientCaused(e) || overlapsFault(e, windows, graceMs)) continue;
      out.push({
        kind: 'failed-without-fault',
        jobs: [e.id],
        detail: `${describeEntry(e)}: ${e.outcome} ${e.failure?.code ?? ''} while no fault was active (grace ${graceMs} ms)`,
      });
    }
  }

  if (evidence.deadWorkers) {
    const grace = o.routingGraceMs ?? 0;
    for (const e of entries) {
      const w = e.dispatch?.worker_id;
      if (!w) continue;
      const dispatchedAt = e.submittedAt + e.dispatch!.atMs;
      for (const d of evidence.deadWorkers) {
        // The routing decision lies between submission and the narration: both inside the dead span.
        if (
          d.worker !== w ||
          e.submittedAt <= d.deadAt + grace ||
          dispatchedAt >= (d.revivedAt ?? Number.POSITIVE_INFINITY)
        )
          continue;
        out.push({
          kind: 'routed-to-dead-worker',
          jobs: [e.id],
          detail: `${describeEntry(e)}: submitted ${e.submittedAt - d.deadAt} ms after the hive reported ${w} dead${d.revivedAt ? ` (ready again ${d.revivedAt - d.deadAt} ms after)` : ' (never ready again)'}`,
        });
        break;
      }
    }
  }

  if (evidence.queenJobsByOutcome)
    out.push(...queenCounters(entries, evidence.queenJobsByOutcome, o.queenOutcome ?? queenOutcomeOf));
  if (evidence.workerJobCounts) out.push(...workerCounters(entries, evidence.workerJobCounts));

  const c = evidence.convergence;
  if (c) {
    if (c.convergedAt === undefined) {
      out.push({
        kind: 'no-convergence',
        jobs: [],
        detail: `${c.what ?? 'the stack'} did not converge within ${c.boundMs} ms after the last heal${c.lastObservation ? `; last observation: ${c.lastObservation}` : ''}`,
      });
    } else if (c.convergedAt - c.lastHealAt > c.boundMs) {
      out.push({
        kind: 'no-convergence',
        jobs: [],
        detail: `${c.what ?? 'the stack'} converged ${c.convergedAt - c.lastHealAt} ms after the last heal, bound ${c.boundMs} ms${c.lastObservation ? `; last seen not yet ${c.lastObservation}` : ''}`,
      });
    }
  }
  return out;
}

/** Anomaly kinds whose rule could not run for lack of evidence, with what was missing. */
export function uncheckedKinds(
  evidence: HistoryEvidence,
  o: HistoryCheckOptions = {},
): Array<{ kind: AnomalyKind; missing: string }> {
  const out: Array<{ kind: AnomalyKind; missing: string }> = [];
  if (!evidence.jobSpans)
    out.push(
      { kind: 'ran-on-two-workers', missing: 'jobSpans' },
      { kind: 'concurrent-on-worker', missing: 'jobSpans' },
    );
  if (!evidence.jobSpans || !evidence.hiveListings)
    out.push({ kind: 'idle-while-running', missing: evidence.jobSpans ? 'hiveListings' : 'jobSpans' });
  if (!evidence.deadWorkers) out.push({ kind: 'routed-to-dead-worker', missing: 'deadWorkers' });
  if (!evidence.queenJobsByOutcome && !evidence.workerJobCounts)
    out.push({ kind: 'counters-mismatch', missing: 'queenJobsByOutcome and workerJobCounts' });
  if (!evidence.convergence) out.push({ kind: 'no-convergence', missing: 'convergence' });
  if (!o.flagFailuresOutsideFaults)
    out.push({ kind: 'failed-without-fault', missing: 'flagFailuresOutsideFaults (off)' });
  return out;
}

function tokenAnomalies(e: HistoryEntry): Anomaly[] {
  if (!e.events.length) return [];
  // The same split by event type as the stream checks use.
  const { tokens, end } = shapeOf({
    events: e.events.map((x) => ({ data: x.data, raw: '', atMs: x.atMs })),
    done: e.stream?.done ?? false,
    malformed: [],
    endMs: 0,
  });
  if (!tokens.length && !end) return [];
  const out: Anomaly[] = [];
  const indices: unknown[] = tokens.map((t) => t?.i);
  const seen = new Map<unknown, number>();
  for (const i of indices) seen.set(i, (seen.get(i) ?? 0) + 1);
  const dups = [...seen].filter(([, n]) => n > 1);
  if (dups.length)
    out.push({
      kind: 'tokens-duplicated',
      jobs: [e.id],
      detail: `${describeEntry(e)}: token ${dups.map(([i, n]) => `i=${String(i)} ×${n}`).join(', ')}`,
    });
  const distinct = [...seen.keys()];
  const firstWrong = distinct.findIndex((i, k) => i !== k);
  if (firstWrong >= 0) {
    out.push({
      kind: 'tokens-out-of-order',
      jobs: [e.id],
      detail: `${describeEntry(e)}: token #${firstWrong} has i=${String(distinct[firstWrong])} (indices ${abbreviate(indices)})`,
    });
  } else if (end && typeof end.tokens_out === 'number' && end.tokens_out > distinct.length) {
    out.push({
      kind: 'tokens-out-of-order',
      jobs: [e.id],
      detail: `${describeEntry(e)}: end.tokens_out=${end.tokens_out} but only ${distinct.length} token(s) arrived (tokens missing)`,
    });
  }
  const max = e.request.max_tokens;
  const most = Math.max(tokens.length, typeof end?.tokens_out === 'number' ? end.tokens_out : 0);
  if (most > max)
    out.push({
      kind: 'tokens-over-max',
      jobs: [e.id],
      detail: `${describeEntry(e)}: ${tokens.length} token event(s)${end ? `, end.tokens_out=${end.tokens_out}` : ''}, max_tokens ${max}`,
    });
  return out;
}

function abbreviate(xs: unknown[]): string {
  const s = xs.map(String);
  return s.length > 12 ? `${s.slice(0, 12).join(',')},… (${s.length})` : s.join(',');
}

/** Spans with a missing end closed at the worker's next reported death (a crash ends its job). */
function closeSpans(spans: readonly JobSpan[], dead: readonly DeadWorker[]): JobSpan[] {
  const seen = new Set<string>();
  const out: JobSpan[] = [];
  for (const s of spans) {
    const key = `${s.worker}\u0000${s.jobId}`;
    if (seen.has(key)) continue;
    seen.add(key);
    if (s.end !== undefined) out.push(s);
    else {
      const death = dead
        .filter((d) => d.worker === s.worker && d.deadAt >= s.start)
        .map((d) => d.deadAt)
        .sort((a, b) => a - b)[0];
      out.push(death !== undefined ? { ...s, end: death } : s);
    }
  }
  return out;
}

function concurrency(
  spans: readonly JobSpan[],
  slots: number,
  idsOf: (jobIds: readonly string[]) => number[],
): Anomaly[] {
  const out: Anomaly[] = [];
  const byWorker = new Map<string, JobSpan[]>();
  for (const s of spans) byWorker.set(s.worker, [...(byWorker.get(s.worker) ?? []), s]);
  const iso = (t: number | undefined) => (t === undefined ? 'never' : new Date(t).toISOString().slice(11, 23));
  for (const [worker, list] of [...byWorker].sort(([a], [b]) => a.localeCompare(b))) {
    list.sort((a, b) => a.start - b.start || a.jobId.localeCompare(b.jobId));
    for (let i = 0; i < list.length; i++) {
      const cur = list[i]!;
      const running = list.slice(0, i).filter((p) => (p.end ?? Number.POSITIVE_INFINITY) > cur.start);
      if (running.length < slots) continue;
      const jobIds = [...running.map((r) => r.jobId), cur.jobId];
      out.push({
        kind: 'concurrent-on-worker',
        jobs: idsOf(jobIds),
        detail: `${worker} (${slots} slot${slots === 1 ? '' : 's'}): job ${cur.jobId} started at ${iso(cur.start)} while ${running.map((r) => `${r.jobId} (${iso(r.start)}–${iso(r.end)})`).join(', ')} still ran`,
      });
    }
  }
  return out;
}

function idleWhileRunning(
  listings: readonly HiveListing[],
  spans: readonly JobSpan[],
  marginMs: number,
  idsOf: (jobIds: readonly string[]) => number[],
): Anomaly[] {
  const out: Anomaly[] = [];
  const seen = new Set<string>();
  const iso = (t: number) => new Date(t).toISOString().slice(11, 23);
  for (const l of [...listings].sort((a, b) => a.sentAt - b.sentAt)) {
    for (const w of l.workers) {
      if (w.state !== 'idle') continue;
      for (const s of spans) {
        const key = `${s.worker}\u0000${s.jobId}`;
        if (s.worker !== w.worker_id || seen.has(key)) continue;
        if (s.start > l.sentAt - marginMs || (s.end ?? Number.POSITIVE_INFINITY) < l.receivedAt + marginMs) continue;
        seen.add(key);
        out.push({
          kind: 'idle-while-running',
          jobs: idsOf([s.jobId]),
          detail: `${l.hive} listed ${w.worker_id} idle at ${iso(l.sentAt)}–${iso(l.receivedAt)} while it ran job ${s.jobId} (${iso(s.start)}–${s.end === undefined ? 'never ended' : iso(s.end)}, its own log)`,
        });
      }
    }
  }
  return out;
}

function queenCounters(
  entries: readonly HistoryEntry[],
  actual: Readonly<Record<string, number>>,
  outcomeOf: (e: HistoryEntry) => QueenOutcome | 'ambiguous',
): Anomaly[] {
  const expected: Record<string, number> = {};
  const ambiguous: number[] = [];
  for (const e of entries) {
    const o = outcomeOf(e);
    if (o === 'ambiguous') ambiguous.push(e.id);
    else expected[o] = (expected[o] ?? 0) + 1;
  }
  const labels = [...new Set([...Object.keys(expected), ...Object.keys(actual)])].sort();
  const short = labels.filter((l) => (actual[l] ?? 0) < (expected[l] ?? 0));
  const excess = labels.reduce((sum, l) => sum + Math.max(0, (actual[l] ?? 0) - (expected[l] ?? 0)), 0);
  if (!short.length && excess <= ambiguous.length) return [];
  const table = labels.map((l) => `${l} ${actual[l] ?? 0} (history ${expected[l] ?? 0})`).join(', ');
  const why = short.length
    ? `fewer than the history for ${short.join(', ')}`
    : `${excess} more than the history, which allows at most ${ambiguous.length} more (jobs that could have been counted either way)`;
  return [{ kind: 'counters-mismatch', jobs: [], detail: `queen jobs_total by outcome: ${table} — ${why}` }];
}

function workerCounters(entries: readonly HistoryEntry[], actual: Readonly<Record<string, number>>): Anomaly[] {
  const out: Anomaly[] = [];
  for (const [worker, count] of Object.entries(actual).sort(([a], [b]) => a.localeCompare(b))) {
    const mine = entries.filter((e) => e.dispatch?.worker_id === worker);
    // A job that ended is counted by its worker; one that failed, was cut or is pending may not be (the worker died).
    const definite = mine.filter((e) => e.outcome === 'end');
    const maybe = mine.filter((e) => e.outcome !== 'end');
    if (count >= definite.length && count <= definite.length + maybe.length) continue;
    out.push({
      kind: 'counters-mismatch',
      jobs: count < definite.length ? definite.map((e) => e.id) : [],
      detail: `worker ${worker} counted ${count} job(s); the history dispatched ${mine.length} to it (${definite.length} ended, ${maybe.length} failed/cut/pending) — ${count < definite.length ? 'jobs the client saw end were not counted' : 'it ran jobs no client was told about'}`,
    });
  }
  return out;
}

/** One line per anomaly: kind, job ids (with correlation ids when the history is given), detail. */
export function formatAnomalies(anomalies: readonly Anomaly[], history?: History | readonly HistoryEntry[]): string {
  if (!anomalies.length) return 'no anomalies';
  const entries: readonly HistoryEntry[] | undefined = history instanceof History ? history.entries : history;
  const name = (id: number) => {
    const e = entries?.[id];
    return e ? `#${id} (${e.correlationId})` : `#${id}`;
  };
  return anomalies
    .map((a) => {
      const jobs = a.jobs.length
        ? ` [jobs ${a.jobs.slice(0, 10).map(name).join(', ')}${a.jobs.length > 10 ? `, … ${a.jobs.length - 10} more` : ''}]`
        : '';
      return `${a.kind}${jobs}: ${a.detail}`;
    })
    .join('\n');
}

/** Counts per kind ("lost 2, tokens-duplicated 1"). */
export function summarizeAnomalies(anomalies: readonly Anomaly[]): string {
  const counts = new Map<string, number>();
  for (const a of anomalies) counts.set(a.kind, (counts.get(a.kind) ?? 0) + 1);
  return [...counts].map(([k, n]) => `${k} ${n}`).join(', ') || 'no anomalies';
}

// ── evidence from the services' logs ─────────────────────────────────────────────────────────────

const ms = (ts: string) => Date.parse(ts);

/**
 * Job spans from workers' own log lines: job.started → the first job.finished, job.cancelled or
 * job.failed of the same job on the same worker. Keyed by worker AND job, so a job started on two
 * workers gives two spans (a check keyed by job only would hide exactly that).
 * Only lines of `service` (default 'worker') count: the queen logs job.* lines with a worker_id too.
 */
export function jobSpansFromLogs(lines: readonly LogLine[], service = 'worker'): JobSpan[] {
  const open = new Map<string, JobSpan>();
  const out: JobSpan[] = [];
  const sorted = [...lines]
    .filter((l) => l.service === service && l.job_id && l.worker_id)
    .sort((a, b) => a.ts.localeCompare(b.ts));
  for (const l of sorted) {
    const key = `${l.worker_id}\u0000${l.job_id}`;
    if (l.event === 'job.started') {
      const span: JobSpan = { worker: l.worker_id!, jobId: l.job_id!, start: ms(l.ts) };
      open.set(key, span);
      out.push(span);
    } else if (l.event === 'job.finished' || l.event === 'job.cancelled' || l.event === 'job.failed') {
      const span = open.get(key);
      if (span && span.end === undefined) span.end = ms(l.ts);
    }
  }
  return out;
}

/**
 * Deaths as the hives reported them: the first worker.crashed / worker.removed line of a worker starts a
 * death, its next worker.ready / worker.recovered (a restart under on-crash) ends it.
 */
export function deadWorkersFromLogs(
  lines: readonly LogLine[],
  o: { deathEvents?: string[]; revivalEvents?: string[] } = {},
): DeadWorker[] {
  const deathEvents = new Set(o.deathEvents ?? ['worker.crashed', 'worker.removed']);
  const revivalEvents = new Set(o.revivalEvents ?? ['worker.ready', 'worker.recovered']);
  const dead = new Map<string, DeadWorker>();
  const out: DeadWorker[] = [];
  for (const l of [...lines].filter((x) => x.worker_id && x.event).sort((a, b) => a.ts.localeCompare(b.ts))) {
    const w = l.worker_id!;
    if (deathEvents.has(l.event!) && !dead.has(w)) {
      const d: DeadWorker = { worker: w, deadAt: ms(l.ts) };
      dead.set(w, d);
      out.push(d);
    } else if (revivalEvents.has(l.event!) && dead.has(w)) {
      dead.get(w)!.revivedAt = ms(l.ts);
      dead.delete(w);
    }
  }
  return out;
}

// ── evidence from /metrics ───────────────────────────────────────────────────────────────────────

/** A counter's values by one label (e.g. rbee_queen_jobs_total by outcome), summed over other labels. */
export function countsByLabel(samples: readonly Sample[], name: string, label: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samples) {
    if (s.name !== name) continue;
    const k = s.labels[label] ?? '';
    out[k] = (out[k] ?? 0) + s.value;
  }
  return out;
}

/** after − before per key (counters taken around the workload). */
export function countsDelta(
  after: Readonly<Record<string, number>>,
  before: Readonly<Record<string, number>>,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of new Set([...Object.keys(after), ...Object.keys(before)])) out[k] = (after[k] ?? 0) - (before[k] ?? 0);
  return out;
}
