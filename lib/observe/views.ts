// Every view the contract gives of one hive's or one worker's state, read at once, so that a scenario
// judges a fault by all of them instead of the one it is named after: the queen's hive registry, its
// system health and its metrics for a hive; the hive's worker list, its own health and metrics, and the
// queen's worker list and system health for a worker. Each returns the views that disagree (empty: all agree).

import { metricValue } from '../clients/metrics.ts';
import type { Stack } from '../stack/stack.ts';

export type HiveStatus = 'available' | 'unavailable';

/** Views of a hive as the queen keeps it: registry, system health, `rbee_queen_hives` gauge. */
export async function hiveViewProblems(stack: Stack, hive: string, want: HiveStatus): Promise<string[]> {
  const problems: string[] = [];
  const entry = (await stack.queen.hiveList()).find((n) => n.node_name === hive);
  if (entry?.status !== want) problems.push(`queen registry lists ${hive} as ${entry?.status ?? '(absent)'}`);

  const health = await stack.queen.systemView();
  const h = health.hives.find((x) => x.node_name === hive);
  if (h?.status !== want) problems.push(`queen system health lists ${hive} as ${h?.status ?? '(absent)'}`);
  const named = health.reasons.some((r) => r.includes(`hive ${hive} is unavailable`));
  if (want === 'unavailable' && (health.status === 'ok' || !named))
    problems.push(`queen system health is ${health.status} without naming ${hive} unavailable: ${health.reasons}`);
  if (want === 'available' && named) problems.push(`queen system health still names ${hive} unavailable`);

  const samples = (await stack.queen.metrics()).samples;
  if (metricValue(samples, 'rbee_queen_hives', { status: want }) < 1)
    problems.push(`rbee_queen_hives{status="${want}"} is 0`);
  return problems;
}

/**
 * Views of one worker: its hive's list, the hive's own health (degraded naming it while it is unhealthy)
 * and `rbee_hive_workers` gauge, and the queen's worker list and system health (healthy flag).
 */
export async function workerViewProblems(
  stack: Stack,
  hive: string,
  workerId: string,
  want: 'idle' | 'unhealthy',
): Promise<string[]> {
  const problems: string[] = [];
  const healthy = want !== 'unhealthy';
  // The queen's system health first: it probes the worker through the hive (slow while it is cut off),
  // and the queen's registry, fed by the hive's heartbeats, is read after it.
  const system = await stack.queen.systemView();
  const q = (await stack.queen.workerList()).find((x) => x.worker_id === workerId);
  if (q?.healthy !== healthy)
    problems.push(`the queen's worker list has ${workerId} ${q ? `${q.state}, healthy=${q.healthy}` : '(absent)'}`);
  const sh = system.hives.flatMap((x) => x.workers).find((x) => x.worker_id === workerId);
  if (sh?.healthy !== healthy)
    problems.push(`the queen's system health has ${workerId} healthy=${sh?.healthy ?? '(absent)'}`);

  const w = (await stack.hive(hive).workers()).find((x) => x.worker_id === workerId);
  if (w?.state !== want) problems.push(`${hive}'s worker list has ${workerId} ${w?.state ?? '(absent)'}`);

  const health = await stack.hive(hive).health();
  const reasons: string[] = health.json?.reasons ?? [];
  const named = reasons.some((r) => r.includes(workerId));
  if (want === 'unhealthy' && (health.json?.status !== 'degraded' || !named))
    problems.push(`${hive}'s health is ${health.json?.status} without naming ${workerId}: ${JSON.stringify(reasons)}`);
  if (want !== 'unhealthy' && named) problems.push(`${hive}'s health still names ${workerId}: ${reasons}`);

  const samples = (await stack.hive(hive).metrics()).samples;
  if (metricValue(samples, 'rbee_hive_workers', { state: want }) < 1)
    problems.push(`rbee_hive_workers{state="${want}"} on ${hive} is 0`);

  return problems;
}

/**
 * Views that still hold a worker that is gone (crashed, OOM-killed, dropped): its hive's list, deep
 * health and `rbee_hive_workers` gauge (which must count no more workers than the hive lists), and the
 * queen's worker list and system health. Empty: every view has let it go.
 */
export async function workerGoneProblems(stack: Stack, hive: string, workerId: string): Promise<string[]> {
  const problems: string[] = [];
  const system = await stack.queen.systemView();
  if (system.hives.flatMap((x) => x.workers).some((x) => x.worker_id === workerId))
    problems.push(`the queen's system health still has ${workerId}`);
  const q = (await stack.queen.workerList()).find((x) => x.worker_id === workerId);
  if (q) problems.push(`the queen's worker list still has ${workerId} ${q.state}`);

  const listed = await stack.hive(hive).workers();
  const w = listed.find((x) => x.worker_id === workerId);
  if (w) problems.push(`${hive}'s worker list still has ${workerId} ${w.state}`);
  const deep = (await stack.hive(hive).health(true)).json as { workers?: Array<{ worker_id: string }> } | undefined;
  if (deep?.workers?.some((x) => x.worker_id === workerId))
    problems.push(`${hive}'s deep health still probes ${workerId}`);
  const samples = (await stack.hive(hive).metrics()).samples;
  const counted = metricValue(samples, 'rbee_hive_workers');
  if (counted > listed.length)
    problems.push(`rbee_hive_workers on ${hive} counts ${counted} workers, its list has ${listed.length}`);
  return problems;
}
