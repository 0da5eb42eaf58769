// Exclusive use: from workers' own log lines (job.started / job.finished|job.cancelled), find jobs that
// ran at the same time on one worker. Returns a description of each overlap.

import type { LogLine } from '../observe/logs.ts';

export function overlappingJobs(lines: LogLine[]): string[] {
  const spans = new Map<string, { worker: string; start: string; end?: string }>();
  for (const l of lines) {
    if (!l.job_id || !l.worker_id) continue;
    if (l.event === 'job.started') spans.set(l.job_id, { worker: l.worker_id, start: l.ts });
    else if (l.event === 'job.finished' || l.event === 'job.cancelled') {
      const s = spans.get(l.job_id);
      if (s) s.end = l.ts;
    }
  }
  const byWorker = new Map<string, Array<{ job: string; start: string; end: string }>>();
  for (const [job, s] of spans) {
    const list = byWorker.get(s.worker) ?? [];
    list.push({ job, start: s.start, end: s.end ?? '9999' });
    byWorker.set(s.worker, list);
  }
  const overlaps: string[] = [];
  for (const [worker, list] of byWorker) {
    list.sort((a, b) => a.start.localeCompare(b.start));
    for (let i = 1; i < list.length; i++) {
      const prev = list[i - 1]!;
      const cur = list[i]!;
      if (cur.start < prev.end)
        overlaps.push(`${worker}: job ${cur.job} started at ${cur.start} before job ${prev.job} ended at ${prev.end}`);
    }
  }
  return overlaps;
}
