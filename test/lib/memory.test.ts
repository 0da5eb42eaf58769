import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  compareRss,
  formatRssComparison,
  readFleetRss,
  rssBackToBaseline,
  rssOverAllowance,
  type WorkerFleet,
} from '../../lib/observe/memory.ts';
import { parseMetrics } from '../../lib/clients/metrics.ts';
import { MIB } from '../../lib/observe/trend.ts';
import { WaitTimeoutError } from '../../lib/observe/eventually.ts';
import type { WorkerInfo } from '../../lib/clients/rbee.ts';

/** Two hives; each worker's RSS comes from `rss(url)` at the time it is read. */
function fleet(rss: (url: string) => number | undefined): WorkerFleet {
  const lists: Record<string, string[]> = { 'hive-a': ['w-1', 'w-2'], 'hive-b': ['w-3'] };
  return {
    hiveNames: Object.keys(lists),
    hive: (name) => ({
      workers: async () => lists[name]!.map((id) => ({ worker_id: id, url: `http://${id}` }) as WorkerInfo),
    }),
    worker: (url) => ({
      metrics: async () => {
        const v = rss(url);
        const text = `# TYPE rbee_worker_jobs_total counter\nrbee_worker_jobs_total{outcome="completed"} 3\n${v === undefined ? '' : `process_resident_memory_bytes ${v}\n`}`;
        return { samples: parseMetrics(text), text };
      },
    }),
  };
}

test('readFleetRss reads every listed worker from its own /metrics', async () => {
  const f = fleet((url) => ({ 'http://w-1': 50 * MIB, 'http://w-2': 60 * MIB, 'http://w-3': 70 * MIB })[url]);
  assert.deepEqual(await readFleetRss(f), { 'w-1': 50 * MIB, 'w-2': 60 * MIB, 'w-3': 70 * MIB });
  await assert.rejects(
    readFleetRss(fleet(() => undefined)),
    /w-1 \(http:\/\/w-1\) does not export process_resident_memory_bytes/,
  );
});

test('compareRss and rssOverAllowance: growth beyond the allowance, or a worker gone, is named', () => {
  const c = compareRss({ 'w-2': 60 * MIB, 'w-1': 50 * MIB, 'w-9': 10 * MIB }, { 'w-1': 55 * MIB, 'w-2': 90 * MIB });
  assert.deepEqual(
    c.map((x) => [x.worker, x.growth]),
    [
      ['w-1', 5 * MIB],
      ['w-2', 30 * MIB],
      ['w-9', undefined],
    ],
  );
  assert.deepEqual(rssOverAllowance(c, 20 * MIB), [
    'w-2: 60.0 MiB → 90.0 MiB (+30.0 MiB), allowance 20.0 MiB',
    'w-9: no longer listed (baseline 10.0 MiB)',
  ]);
  assert.equal(
    formatRssComparison(c),
    'w-1: 50.0 MiB → 55.0 MiB (+5.0 MiB)\nw-2: 60.0 MiB → 90.0 MiB (+30.0 MiB)\nw-9: 10.0 MiB → gone',
  );
  // Below the baseline is fine.
  assert.deepEqual(rssOverAllowance(compareRss({ 'w-1': 50 * MIB }, { 'w-1': 40 * MIB }), 0), []);
});

test('rssBackToBaseline waits until memory has come back, and says which worker did not', async () => {
  let reads = 0;
  const settling = fleet((url) => (url === 'http://w-1' ? (++reads < 4 ? 90 * MIB : 52 * MIB) : 60 * MIB));
  const ok = await rssBackToBaseline(settling, { 'w-1': 50 * MIB, 'w-2': 60 * MIB, 'w-3': 60 * MIB }, 5 * MIB, 2000, 5);
  assert.equal(ok.find((c) => c.worker === 'w-1')?.after, 52 * MIB);
  const leaking = fleet(() => 200 * MIB);
  await assert.rejects(
    rssBackToBaseline(leaking, { 'w-1': 50 * MIB }, 20 * MIB, 50, 10),
    (e: unknown) =>
      e instanceof WaitTimeoutError &&
      /w-1: 50\.0 MiB → 200\.0 MiB \(\+150\.0 MiB\), allowance 20\.0 MiB/.test(e.message),
  );
});
