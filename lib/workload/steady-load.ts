// Steady load for the throughput and stability scenarios (INT-014, INT-015), with no fault injected: the
// stack must complete every job. An open loop at a fixed rate measures admission honestly (a slow answer
// never delays the next arrival); a closed loop keeps one worker busy back to back for a soak. Both record
// every job in a History, so the same latency histograms, pictures and checks apply as in a chaos run.

import { randomBytes } from 'node:crypto';
import { Job } from '../clients/job.ts';
import type { QueenClient, TaskRequest } from '../clients/rbee.ts';
import { runOpenLoop, formatOpenLoopReport, type OpenLoopReport } from './open-loop.ts';
import { History, describeEntry, type HistoryEntry, type JobOutcome } from './history.ts';
import { formatLatencies, latenciesOf, type WorkloadLatencies } from './latency.ts';

export interface SteadyLoadOptions {
  queen: Pick<QueenClient, 'submitTask' | 'inference'>;
  ratePerSec: number;
  durationMs: number;
  /** Bound on the number of jobs (default: as many as the rate allows in the duration). */
  maxJobs?: number;
  model: string;
  maxTokens: number;
  /** Correlation id prefix (the scenario id keeps the services' logs searchable). */
  prefix: string;
  /** How long to wait for open jobs after the last submission (default 30 s). */
  drainMs?: number;
}

export interface SteadyLoadRun {
  history: History;
  report: OpenLoopReport;
  latencies: WorkloadLatencies;
}

/** Open-loop load at a fixed rate; every job recorded. */
export async function runSteadyLoad(o: SteadyLoadOptions): Promise<SteadyLoadRun> {
  const { history, report } = await runOpenLoop({
    queen: o.queen,
    task: (k) => ({ model: o.model, prompt: `steady load ${k}: tell me about bees`, max_tokens: o.maxTokens, seed: k }),
    ratePerSec: o.ratePerSec,
    durationMs: o.durationMs,
    maxJobs: o.maxJobs ?? Math.ceil((o.durationMs * o.ratePerSec) / 1000),
    correlationPrefix: `${o.prefix}-${randomBytes(3).toString('hex')}`,
    drainMs: o.drainMs ?? 30_000,
    // A job whose answer or next event takes this long counts as timed out (recorded, not waited for).
    requestTimeoutMs: 20_000,
  });
  return { history, report, latencies: latenciesOf(history) };
}

export interface ClosedLoopOptions {
  queen: QueenClient;
  /** How long to keep submitting (a job started before the end runs to its end). */
  durationMs: number;
  /** Clients, each submitting its next job as soon as the last one ended (default 1). */
  clients?: number;
  task: (index: number) => TaskRequest;
  /** Bound on one job (default 30 s): a job still open then is recorded pending and the client moves on. */
  jobBoundMs?: number;
  prefix: string;
}

/**
 * Closed loop: each client submits, waits for the job to end, and submits again, until the duration has
 * passed. Keeps a worker continuously busy for a soak; not for latency figures (it slows down with the
 * stack). Jobs are recorded as they end (with one client, in submission order). A client whose job got no
 * answer at all stops (the queen is gone; spinning would only add refusals).
 */
export async function runClosedLoop(o: ClosedLoopOptions): Promise<History> {
  const history = new History();
  const end = Date.now() + o.durationMs;
  const bound = o.jobBoundMs ?? 30_000;
  const tag = `${o.prefix}-${randomBytes(3).toString('hex')}`;
  let next = 0;
  const client = async () => {
    while (Date.now() < end) {
      const k = next++;
      const job = Job.begin(o.queen, o.task(k), { correlationId: `${tag}-${k}` });
      let failure: string | undefined;
      await job.done(bound).catch((e: Error) => (failure = e.message));
      const entry = history.recordJob(job);
      if (entry.outcome !== 'pending') continue;
      if (job.status) {
        job.abort();
        history.recordAbandoned(entry, `still open after ${bound} ms; aborted by the harness`);
        continue;
      }
      // No answer at all: the queen is gone or hung; this client stops rather than spin.
      history.recordNoAnswer(entry, failure ?? 'no answer', Date.now() - job.submittedAt);
      return;
    }
  };
  await Promise.all(Array.from({ length: o.clients ?? 1 }, client));
  return history;
}

/**
 * Every job that did not end with an `end` event, grouped by how it ended (refused with which code, error
 * event, cut, timed out), a few named per group. Empty: every job completed.
 */
export function jobsNotCompleted(history: History | readonly HistoryEntry[], namesPerGroup = 5): string[] {
  const entries: readonly HistoryEntry[] = history instanceof History ? history.entries : history;
  const groups = new Map<string, HistoryEntry[]>();
  const label: Record<Exclude<JobOutcome, 'end'>, string> = {
    refused: 'refused',
    error: 'ended with an error event',
    cut: 'cut without an end or error event',
    pending: 'timed out (never ended)',
  };
  for (const e of entries) {
    if (e.outcome === 'end') continue;
    const key = `${label[e.outcome]}${e.failure ? ` ${e.failure.code}${e.admission?.status ? ` (${e.admission.status})` : ''}` : ''}`;
    groups.set(key, [...(groups.get(key) ?? []), e]);
  }
  return [...groups].map(([key, list]) => {
    const named = list.slice(0, namesPerGroup).map(describeEntry).join('; ');
    return `${list.length} ${key}: ${named}${list.length > namesPerGroup ? `; … ${list.length - namesPerGroup} more` : ''}`;
  });
}

/** The run in a few lines: the open loop's report, the latency summaries. */
export function formatSteadyLoad(run: SteadyLoadRun): string {
  return [formatOpenLoopReport(run.report), formatLatencies(run.latencies)].join('\n');
}
