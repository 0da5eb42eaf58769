// One chaos run, Jepsen's way: an open-loop workload and a fault schedule run together against one stack;
// afterwards the stack must converge, and the history of every job is checked against the services' own
// evidence (worker and hive logs, queen and worker counters). The run is a value (history, execution,
// anomalies), so a scenario judges it, the shrinker replays it, and the reports draw it.

import fs from 'node:fs';
import type { Stack } from '../stack/stack.ts';
import { FaultUnsupported } from '../faults/unsupported.ts';
import { eventually, type WaitTimeoutError } from '../observe/eventually.ts';
import { startSampling } from '../observe/sample.ts';
import { removalsSince } from '../observe/story.ts';
import { History } from '../workload/history.ts';
import { runOpenLoop, type OpenLoopReport } from '../workload/open-loop.ts';
import {
  executeSchedule,
  faultSupport,
  faultWindowsOf,
  nemesisInjector,
  topologyFromSpec,
  type ExecutionLog,
} from './executor.ts';
import {
  FAULT_KINDS,
  drawSchedule,
  dropUnsupported,
  parseSchedule,
  type FaultKind,
  type FaultSchedule,
} from './schedule.ts';
import { shrink, type ShrinkBudget, type ShrinkResult } from './shrink.ts';
import { Nemesis as NemesisImpl } from '../faults/nemesis.ts';
import {
  checkHistory,
  countsByLabel,
  countsDelta,
  deadWorkersFromLogs,
  jobSpansFromLogs,
  uncheckedKinds,
  type Anomaly,
  type HistoryEvidence,
  type HiveListing,
} from '../checks/history.ts';

export interface ChaosWorkload {
  ratePerSec: number;
  durationMs: number;
  model: string;
  /** Job lengths in tokens, cycled over the jobs: a mix, so that some jobs are still running when a fault lands. */
  maxTokens: readonly number[];
}

export interface ChaosRunOptions {
  stack: Stack;
  nemesis: NemesisImpl;
  schedule: FaultSchedule;
  workload: ChaosWorkload;
  /** How long after the last heal the stack may take to converge (hives available, workers idle, health ok). */
  convergenceBoundMs: number;
  /** Correlation id prefix of the jobs (the scenario id), so logs and reports name them. */
  prefix: string;
}

export interface ChaosRun {
  /** What was run, so the shrinker can run it again with smaller schedules. */
  options: ChaosRunOptions;
  history: History;
  execution: ExecutionLog;
  load: OpenLoopReport;
  evidence: HistoryEvidence;
  anomalies: Anomaly[];
  /** Checks that could not run, and the evidence they lacked (said in the report, never silent). */
  unchecked: Array<{ kind: string; missing: string }>;
}

export async function runChaos(o: ChaosRunOptions): Promise<ChaosRun> {
  const { stack, nemesis, schedule, workload } = o;
  const queenBefore = await queenJobCounts(stack);
  const workersBefore = await workerJobCounts(stack);
  const origin = Date.now();
  const history = new History();
  // What each hive says of its workers, every 250 ms: a hive that lists a busy worker as idle would route
  // a second job to it (idle-while-running), which the checker sees even when no second job came in time.
  const listings = stack.hiveNames.map((hive) => ({
    hive,
    sampler: startSampling(() => stack.hive(hive).workers({ timeoutMs: 500 }), {
      everyMs: 250,
      maxMs: workload.durationMs + o.convergenceBoundMs,
      probeTimeoutMs: 600,
    }),
  }));
  const faults = executeSchedule(schedule, nemesisInjector(stack, nemesis), { origin });
  // Convergence is probed from the last heal on, while the workload still runs: it is about the stack
  // coming back, which must not wait for the clients to stop.
  const convergence = faults.then(async (execution): Promise<HistoryEvidence['convergence']> => {
    const lastHealAt = execution.lastHealAt ?? origin;
    const base = {
      lastHealAt,
      boundMs: o.convergenceBoundMs,
      what: 'system health ok, every hive available, each hive back to its workers, none crashed or loading',
    };
    // A corrupted catalog is data loss, not a fault that heals: that hive stays degraded by design (INT-006).
    const corrupted = execution.faults
      .filter((f) => f.kind === 'corrupt-catalog' && f.appliedAt !== undefined)
      .map((f) => f.target);
    // The last "not yet" is kept on success too: a slow convergence then says what it was waiting for.
    let notYet: string | undefined;
    const probe = () =>
      convergedNow(stack, corrupted, origin).catch((e: Error) => {
        notYet = `at +${Date.now() - lastHealAt} ms: ${e.message}`;
        throw e;
      });
    try {
      await eventually(probe, {
        within: Math.max(1, lastHealAt + o.convergenceBoundMs - Date.now()),
        every: 100,
        what: base.what,
      });
      return { ...base, convergedAt: Date.now(), ...(notYet ? { lastObservation: notYet } : {}) };
    } catch (e) {
      return { ...base, lastObservation: (e as WaitTimeoutError).lastObservation ?? (e as Error).message };
    }
  });
  const [load, execution, converged] = await Promise.all([
    runOpenLoop({
      queen: stack.queen,
      ratePerSec: workload.ratePerSec,
      durationMs: workload.durationMs,
      maxJobs: Math.ceil((workload.ratePerSec * workload.durationMs) / 1000),
      correlationPrefix: o.prefix,
      history,
      task: (k) => ({
        model: workload.model,
        prompt: `chaos job ${k}`,
        max_tokens: workload.maxTokens[k % workload.maxTokens.length]!,
      }),
    }).then((r) => r.report),
    faults,
    convergence,
  ]).catch(async (e: unknown) => {
    await Promise.all(listings.map((l) => l.sampler.stop()));
    throw e;
  });

  const hiveListings: HiveListing[] = [];
  for (const { hive, sampler } of listings) {
    const samples = await sampler.stop();
    for (const s of samples)
      if (s.value) hiveListings.push({ hive, sentAt: s.at, receivedAt: s.at + s.ms, workers: s.value });
  }
  const lines = stack.logs();
  const queenRestarted = execution.faults.some((f) => f.kind === 'restart-queen' && f.appliedAt !== undefined);
  const workersAfter = await workerJobCounts(stack);
  const evidence: HistoryEvidence = {
    faults: faultWindowsOf(execution),
    jobSpans: jobSpansFromLogs(lines),
    // Not one answer from any hive (all paused or cut off the whole run?): the rule could not run, say so.
    ...(hiveListings.length ? { hiveListings } : {}),
    deadWorkers: deadWorkersFromLogs(lines),
    // After a queen restart its counters start again from zero: they cannot be compared.
    ...(queenRestarted ? {} : { queenJobsByOutcome: countsDelta(await queenJobCounts(stack), queenBefore) }),
    // Only workers that were there before and after the run, with the same process: a restarted
    // worker's counters restarted too.
    workerJobCounts: Object.fromEntries(
      Object.entries(workersAfter)
        .filter(([id, after]) => workersBefore[id] && workersBefore[id].pid === after.pid)
        .map(([id, after]) => [id, after.jobs - workersBefore[id]!.jobs]),
    ),
    convergence: converged,
  };
  const options = { routingGraceMs: 2 * stack.spec.timings.heartbeatIntervalMs };
  return {
    options: o,
    history,
    execution,
    load,
    evidence,
    anomalies: checkHistory(history, evidence, options),
    unchecked: uncheckedKinds(evidence, options),
  };
}

/**
 * Converged, under load: system health ok (or degraded only by the catalogs the schedule corrupted), every hive available to the queen, and each hive lists at
 * least the workers its topology asked for, none crashed, loading or unhealthy (busy is fine: clients run).
 */
async function convergedNow(stack: Stack, corruptedCatalogs: readonly string[], since: number): Promise<void> {
  const health = await stack.queen.systemHealth();
  const reasons: string[] = health.json?.reasons ?? [];
  const onlyLostCatalogs =
    health.json?.status === 'degraded' &&
    reasons.length > 0 &&
    reasons.every((r) => corruptedCatalogs.some((h) => r.startsWith(`hive ${h} is degraded: catalog`)));
  if (health.json?.status !== 'ok' && !onlyLostCatalogs)
    throw new Error(`system health is ${health.json?.status ?? health.status}: ${health.text.slice(0, 300)}`);
  for (const hive of stack.spec.hives) {
    const workers = await stack.hive(hive.name).workers();
    const serving = workers.filter((w) => w.state === 'idle' || w.state === 'busy');
    if (serving.length < hive.workers || serving.length < workers.length) {
      // What the hive said it did with the workers it no longer lists: the cause, not just the count.
      const removed = removalsSince(stack.logLines(hive.name), since);
      throw new Error(
        `${hive.name} lists ${workers.map((w) => `${w.worker_id}=${w.state}`).join(', ') || 'no worker'} (wants ${hive.workers} idle or busy)` +
          (removed.length ? `; during the run it removed ${removed.slice(-6).join(', ')}` : ''),
      );
    }
  }
}

async function queenJobCounts(stack: Stack): Promise<Record<string, number>> {
  return countsByLabel((await stack.queen.metrics()).samples, 'rbee_queen_jobs_total', 'outcome');
}

/** Each live worker's job counter and pid (to tell a restarted worker from the same one). */
async function workerJobCounts(stack: Stack): Promise<Record<string, { jobs: number; pid: number | null }>> {
  const out: Record<string, { jobs: number; pid: number | null }> = {};
  for (const hive of stack.hiveNames) {
    for (const w of await stack
      .hive(hive)
      .workers()
      .catch(() => [])) {
      const m = await stack
        .worker(w.url)
        .metrics()
        .catch(() => undefined);
      if (!m) continue;
      const jobs = Object.values(countsByLabel(m.samples, 'rbee_worker_jobs_total', 'outcome')).reduce(
        (a, b) => a + b,
        0,
      );
      out[w.worker_id] = { jobs, pid: w.pid };
    }
  }
  return out;
}

export interface ChaosPlanOptions {
  seed: number;
  /** The fault kinds the scenario names. */
  menu: readonly string[];
  stack: Stack;
  runMs: number;
  faults?: number;
  perMinute?: number;
  /** A schedule file to replay instead of drawing one (RBEE_CHAOS_SCHEDULE, e.g. a shrunk schedule). */
  replayFile?: string;
}

export interface ChaosPlan {
  schedule: FaultSchedule;
  /** Kinds the runtime cannot inject, with the reason: dropped from the menu, and said in the report. */
  dropped: Array<{ kind: FaultKind; reason: string }>;
}

/** The scenario's fault schedule: drawn from the seed over the kinds this runtime can inject, or replayed. */
export function planChaos(o: ChaosPlanOptions): ChaosPlan {
  const unknown = o.menu.filter((k) => !(FAULT_KINDS as readonly string[]).includes(k));
  if (unknown.length)
    throw new Error(`unknown fault kind(s) ${unknown.join(', ')}; the menu knows ${FAULT_KINDS.join(', ')}`);
  const { menu, dropped } = dropUnsupported(o.menu as FaultKind[], faultSupport(o.stack));
  if (o.replayFile) return { schedule: parseSchedule(fs.readFileSync(o.replayFile, 'utf8')), dropped };
  if (!menu.length)
    throw new FaultUnsupported(
      `no fault of the menu can be injected here: ${dropped.map((d) => `${d.kind} (${d.reason})`).join('; ')}`,
    );
  const schedule = drawSchedule({
    seed: o.seed,
    menu,
    topology: topologyFromSpec(o.stack.spec),
    runMs: o.runMs,
    ...(o.faults !== undefined ? { faults: o.faults } : { perMinute: o.perMinute ?? 6 }),
  });
  return { schedule, dropped };
}

/**
 * Shrink a failed chaos run: rerun it, each time on a fresh stack, with smaller schedules (fewer faults,
 * then shorter ones) while an anomaly of the same kinds still appears. `freshStack` starts a stack like
 * the scenario's; each is stopped after its attempt.
 */
export async function shrinkChaos(
  failed: ChaosRun,
  freshStack: () => Promise<Stack>,
  budget: ShrinkBudget,
  onAttempt?: (line: string) => void,
): Promise<ShrinkResult> {
  const kinds = new Set(failed.anomalies.map((a) => a.kind));
  return shrink(
    failed.options.schedule,
    async (schedule) => {
      const stack = await freshStack();
      try {
        const run = await runChaos({ ...failed.options, stack, nemesis: new NemesisImpl(stack), schedule });
        return run.anomalies.some((a) => kinds.has(a.kind));
      } finally {
        await stack.stop();
      }
    },
    budget,
    {
      onAttempt: (a) =>
        onAttempt?.(
          `shrink run ${a.run} (${a.phase}): faults [${a.faults.join(', ')}]${a.durations ? ` durations ${JSON.stringify(a.durations)}` : ''} → ${a.verdict}${a.error ? ` (${a.error})` : ''} in ${(a.ms / 1000).toFixed(1)} s`,
        ),
    },
  );
}
