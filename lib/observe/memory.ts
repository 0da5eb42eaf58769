// Workers' resident memory as they report it themselves (process_resident_memory_bytes on /metrics), so
// a load scenario can take a baseline before the load and judge afterwards whether each worker gave its
// memory back — the leak a long-lived worker process would show. JS garbage collection makes exact
// equality meaningless; the comparison is against a stated allowance.

import type { HiveClient, WorkerClient, WorkerInfo } from '../clients/rbee.ts';
import { metricValue } from '../clients/metrics.ts';
import { eventually } from './eventually.ts';
import { MIB } from './trend.ts';

export const RSS_METRIC = 'process_resident_memory_bytes';

/** What reading the workers' memory needs from a stack (lib/stack/stack.ts's Stack has it). */
export interface WorkerFleet {
  readonly hiveNames: string[];
  hive(name: string): Pick<HiveClient, 'workers'>;
  worker(url: string): Pick<WorkerClient, 'metrics'>;
}

/** Resident bytes per worker id, for every worker every hive lists. */
export type RssByWorker = Record<string, number>;

/** One worker's resident memory, from its own /metrics. */
export async function readWorkerRss(
  fleet: Pick<WorkerFleet, 'worker'>,
  worker: Pick<WorkerInfo, 'worker_id' | 'url'>,
): Promise<number> {
  const { samples } = await fleet.worker(worker.url).metrics();
  if (!samples.some((s) => s.name === RSS_METRIC))
    throw new Error(`worker ${worker.worker_id} (${worker.url}) does not export ${RSS_METRIC} on /metrics`);
  return metricValue(samples, RSS_METRIC);
}

/** Every listed worker's resident memory, read at once. */
export async function readFleetRss(fleet: WorkerFleet): Promise<RssByWorker> {
  const workers = (await Promise.all(fleet.hiveNames.map((h) => fleet.hive(h).workers()))).flat();
  const values = await Promise.all(workers.map((w) => readWorkerRss(fleet, w)));
  return Object.fromEntries(workers.map((w, i) => [w.worker_id, values[i]!]));
}

export interface RssComparison {
  worker: string;
  before: number;
  /** Absent when the worker is no longer listed. */
  after?: number;
  /** after − before (bytes). */
  growth?: number;
}

/** Each baseline worker's growth since its baseline. */
export function compareRss(baseline: RssByWorker, now: RssByWorker): RssComparison[] {
  return Object.keys(baseline)
    .sort()
    .map((worker) => {
      const before = baseline[worker]!;
      const after = now[worker];
      return after === undefined ? { worker, before } : { worker, before, after, growth: after - before };
    });
}

/** The workers more than `allowanceBytes` above their baseline (or gone), one line each. */
export function rssOverAllowance(comparison: readonly RssComparison[], allowanceBytes: number): string[] {
  return comparison
    .filter((c) => c.growth === undefined || c.growth > allowanceBytes)
    .map((c) =>
      c.growth === undefined
        ? `${c.worker}: no longer listed (baseline ${mib(c.before)})`
        : `${c.worker}: ${describe(c)}, allowance ${mib(allowanceBytes)}`,
    );
}

const mib = (b: number) => `${(b / MIB).toFixed(1)} MiB`;
const describe = (c: RssComparison) =>
  `${mib(c.before)} → ${mib(c.after!)} (${c.growth! >= 0 ? '+' : ''}${mib(c.growth!)})`;

/** One line per worker: baseline → now (growth). */
export function formatRssComparison(comparison: readonly RssComparison[]): string {
  return (
    comparison
      .map((c) => `${c.worker}: ${c.growth === undefined ? `${mib(c.before)} → gone` : describe(c)}`)
      .join('\n') || 'no workers'
  );
}

/**
 * Waits, within `withinMs`, until every baseline worker is at most `allowanceBytes` above its baseline;
 * returns the comparison that met it. On timeout the error lists the workers still above.
 */
export async function rssBackToBaseline(
  fleet: WorkerFleet,
  baseline: RssByWorker,
  allowanceBytes: number,
  withinMs: number,
  everyMs = 1000,
): Promise<RssComparison[]> {
  return eventually(
    async () => {
      const comparison = compareRss(baseline, await readFleetRss(fleet));
      const over = rssOverAllowance(comparison, allowanceBytes);
      if (over.length) throw new Error(`above their baseline: ${over.join('; ')}`);
      return comparison;
    },
    {
      within: withinMs,
      every: everyMs,
      what: `every worker's resident memory back within ${mib(allowanceBytes)} of its baseline`,
    },
  );
}
