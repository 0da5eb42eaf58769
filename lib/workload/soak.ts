// A soak of one worker (INT-015): jobs back to back on the stack's only worker for a long stretch, while
// the worker's resident memory and how long the queen's and the worker's /health take to answer are
// sampled in the background. The run keeps the raw series; the scenario judges them afterwards (memory
// trend, health latency percentiles), so a failure shows the whole series, not one bad reading.

import type { HiveClient, QueenClient, WorkerClient, WorkerInfo } from '../clients/rbee.ts';
import type { HttpResponse } from '../clients/http.ts';
import { readWorkerRss, type WorkerFleet } from '../observe/memory.ts';
import { startSampling, valuesOf, type ProbeSample } from '../observe/sample.ts';
import { afterWarmUp, linearTrend, type LinearTrend } from '../observe/trend.ts';
import { LatencyHistogram, type LatencySummary } from './latency.ts';
import { runClosedLoop } from './steady-load.ts';
import type { History } from './history.ts';

/** What a soak needs from a stack (lib/stack/stack.ts's Stack has it). */
export interface SoakStack {
  readonly queen: QueenClient;
  readonly hiveNames: string[];
  hive(name: string): Pick<HiveClient, 'workers'>;
  worker(url: string): Pick<WorkerClient, 'metrics' | 'health'>;
}

export interface SoakOptions {
  stack: SoakStack;
  durationMs: number;
  model: string;
  maxTokens: number;
  prefix: string;
  /** Memory sample period (default 1000 ms). */
  rssEveryMs?: number;
  /** Health sample period per service (default 250 ms). */
  healthEveryMs?: number;
}

export interface SoakRun {
  worker: Pick<WorkerInfo, 'worker_id' | 'url'>;
  history: History;
  /** The worker's resident bytes over the run. */
  rss: ProbeSample<number>[];
  /** /health round trips, by service ('queen', 'worker'); value = HTTP status. */
  health: Record<'queen' | 'worker', ProbeSample<number>[]>;
  startedAt: number;
  endedAt: number;
}

/** The stack's one worker; a soak of "one worker" on a bigger topology would measure something else. */
export async function onlyWorker(fleet: WorkerFleet): Promise<Pick<WorkerInfo, 'worker_id' | 'url'>> {
  const workers = (await Promise.all(fleet.hiveNames.map((h) => fleet.hive(h).workers()))).flat();
  if (workers.length !== 1)
    throw new Error(
      `a soak of one worker needs a stack with exactly one worker; it has ${workers.length}: ${workers.map((w) => w.worker_id).join(', ') || 'none'}`,
    );
  return workers[0]!;
}

const healthy = (r: HttpResponse): number => {
  if (r.status !== 200) throw new Error(`/health answered ${r.status}: ${r.text.slice(0, 200)}`);
  return r.status;
};

export async function runSoak(o: SoakOptions): Promise<SoakRun> {
  const worker = await onlyWorker(o.stack);
  const client = o.stack.worker(worker.url);
  const maxMs = o.durationMs + 120_000; // the samplers outlive the run only if something hangs; then they stop anyway
  const rss = startSampling(() => readWorkerRss(o.stack, worker), { everyMs: o.rssEveryMs ?? 1000, maxMs });
  const queenHealth = startSampling(async () => healthy(await o.stack.queen.health()), {
    everyMs: o.healthEveryMs ?? 250,
    maxMs,
  });
  const workerHealth = startSampling(async () => healthy(await client.health()), {
    everyMs: o.healthEveryMs ?? 250,
    maxMs,
  });
  const startedAt = Date.now();
  let history: History;
  try {
    history = await runClosedLoop({
      queen: o.stack.queen,
      durationMs: o.durationMs,
      task: (k) => ({ model: o.model, prompt: `soak ${k}: tell me about bees`, max_tokens: o.maxTokens, seed: k }),
      prefix: o.prefix,
    });
  } finally {
    await Promise.all([rss.stop(), queenHealth.stop(), workerHealth.stop()]);
  }
  return {
    worker,
    history,
    rss: rss.samples,
    health: { queen: queenHealth.samples, worker: workerHealth.samples },
    startedAt,
    endedAt: Date.now(),
  };
}

/** The worker's memory trend over the run, leaving out the first `warmUpMs`. */
export function soakRssTrend(run: Pick<SoakRun, 'rss'>, warmUpMs: number): LinearTrend {
  return linearTrend(afterWarmUp(valuesOf(run.rss), warmUpMs));
}

/** Latency of the answered /health calls, and how many calls failed. */
export function healthLatency(samples: readonly ProbeSample<number>[]): LatencySummary & { failed: number } {
  const h = new LatencyHistogram('health');
  for (const s of samples) if (s.error === undefined) h.record(s.ms);
  return { ...h.summary(), failed: samples.filter((s) => s.error !== undefined).length };
}
