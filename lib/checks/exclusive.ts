// Exclusive use of a single-slot worker, from the workers' own job spans (job.started → job.finished,
// cancelled or failed; history.ts reads them from the logs): every job must have exactly one ended span, on
// the worker the queen named — without that the overlap check would pass on nothing — and no two spans may
// overlap on one worker. Each returns a description per problem (empty: none).

import type { JobSpan } from './history.ts';

/** A job as the queen dispatched it (narration): `label` names it in messages (e.g. its correlation id). */
export interface DispatchedJob {
  label: string;
  jobId?: string;
  workerId?: string;
}

/** Jobs without exactly one ended span, on the worker the queen named. */
export function jobsWithoutOneEndedSpan(jobs: readonly DispatchedJob[], spans: readonly JobSpan[]): string[] {
  const problems: string[] = [];
  for (const job of jobs) {
    const mine = spans.filter((sp) => sp.jobId === job.jobId);
    if (mine.length !== 1 || mine[0]!.worker !== job.workerId || mine[0]!.end === undefined)
      problems.push(`${job.label} (job ${job.jobId} on ${job.workerId}): worker log spans ${JSON.stringify(mine)}`);
  }
  return problems;
}

/** Jobs that started on a worker before the job before them there had ended. */
export function overlappingJobs(spans: readonly JobSpan[]): string[] {
  const byWorker = new Map<string, JobSpan[]>();
  for (const s of spans) byWorker.set(s.worker, [...(byWorker.get(s.worker) ?? []), s]);
  const iso = (ms: number | undefined) => (ms === undefined ? 'never' : new Date(ms).toISOString());
  const overlaps: string[] = [];
  for (const [worker, list] of byWorker) {
    list.sort((a, b) => a.start - b.start);
    for (let i = 1; i < list.length; i++) {
      const prev = list[i - 1]!;
      const cur = list[i]!;
      if (cur.start < (prev.end ?? Infinity))
        overlaps.push(
          `${worker}: job ${cur.jobId} started at ${iso(cur.start)} before job ${prev.jobId} ended at ${iso(prev.end)}`,
        );
    }
  }
  return overlaps;
}
