// The jobs a fault scenario drove one by one (Job.begin / Job.submit) judged like a chaos run's: each is
// waited for (bounded), recorded in a History, and checked for the anomalies that need no service
// evidence — a job accepted and never terminated (lost) and a token delivered twice (duplicated). A fault
// scenario's own steps look at the job they are about; this looks at every job it ran.

import type { Job } from '../clients/job.ts';
import { History } from '../workload/history.ts';
import { checkHistory, type Anomaly, type AnomalyKind } from './history.ts';

export const LOST_OR_DUPLICATED: readonly AnomalyKind[] = ['lost', 'tokens-duplicated'];

type Settled = { kind: 'ended' } | { kind: 'failed'; message: string; ms: number } | { kind: 'timeout' };

/** Waits until `deadline` (epoch ms) for the job's stream to end. */
async function settle(job: Job, deadline: number): Promise<Settled> {
  const left = Math.max(1, deadline - Date.now());
  const t0 = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<Settled>((r) => (timer = setTimeout(() => r({ kind: 'timeout' }), left)));
  // Job.done's own bound lies past ours, so a rejection before our timer is the submission failing.
  const ended = job.done(left + 1000).then(
    (): Settled => ({ kind: 'ended' }),
    (e: Error): Settled => ({ kind: 'failed', message: e.message, ms: Date.now() - t0 }),
  );
  return Promise.race([ended, timeout]).finally(() => clearTimeout(timer));
}

/**
 * A History of the given jobs once each has ended, or `withinMs` has passed: a job still open then is
 * recorded pending (abandoned, with the bound), one whose submission got no answer at all (connection
 * refused) a refusal without an answer — it was never accepted.
 */
export async function historyOfJobs(jobs: readonly Job[], withinMs: number): Promise<History> {
  const deadline = Date.now() + withinMs;
  const settled = await Promise.all(jobs.map((j) => settle(j, deadline)));
  const history = new History();
  jobs.forEach((job, i) => {
    const entry = history.recordJob(job);
    const s = settled[i]!;
    if (entry.outcome !== 'pending') return;
    if (s.kind === 'failed' && !job.status) history.recordNoAnswer(entry, s.message, s.ms);
    else if (s.kind === 'timeout')
      history.recordAbandoned(entry, `its stream had not ended ${withinMs} ms after the check began`);
    else history.recordAbandoned(entry, s.kind === 'failed' ? s.message : 'its stream ended without a result');
  });
  return history;
}

/** The anomalies of the given kinds (default: lost or duplicated) in the history; no service evidence needed. */
export function anomaliesOf(history: History, kinds: readonly AnomalyKind[] = LOST_OR_DUPLICATED): Anomaly[] {
  return checkHistory(history).filter((a) => kinds.includes(a.kind));
}
