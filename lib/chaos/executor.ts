// Runs a fault schedule against a live stack, beside the workload: at each fault's start it is applied
// through the Nemesis (so it lands on the scenario's fault timeline like any other fault), at start +
// duration it is healed, and every applied/healed moment is recorded. A fault that cannot be applied is
// recorded with its error and the run goes on (the workload must not stop because the nemesis stumbled);
// a fault the runtime cannot inject (FaultUnsupported) is recorded as unsupported. Whatever happens,
// everything still applied is healed before executeSchedule returns.

import type { WorkerInfo } from '../clients/rbee.ts';
import type { Nemesis } from '../faults/nemesis.ts';
import type { FaultRecord } from '../faults/timeline.ts';
import { FaultUnsupported } from '../faults/unsupported.ts';
import { eventually, GiveUp, sleepUntil, withDeadline } from '../observe/eventually.ts';
import { removalsSince } from '../observe/story.ts';
import type { Stack } from '../stack/stack.ts';
import type { StackSpec } from '../stack/spec.ts';
import {
  FAULT_KINDS,
  targetLabel,
  type FaultKind,
  type FaultSchedule,
  type ScheduledFault,
  type Topology,
} from './schedule.ts';

/** A fault as applied: what it actually hit, and how to undo it. */
export interface AppliedFault {
  /** The nemesis timeline record, when the fault went through the nemesis. */
  record?: FaultRecord;
  /** What was actually hit (a slot label resolved to a worker id, a substitute for a gone worker). */
  actualTarget: string;
  detail?: string;
  /** Undo it; resolves with what was observed to prove it. Absent: nothing to undo. */
  heal?: () => Promise<string>;
}

/** Applies scheduled faults. The nemesis-backed one is `nemesisInjector`; tests use fakes. */
export interface FaultInjector {
  apply(fault: ScheduledFault, topology: Topology): Promise<AppliedFault>;
  /** Heal whatever is still applied (end of a run, also after an error); returns the heals that failed. */
  healAll(): Promise<string[]>;
}

/**
 * - `healed`: applied, and at the end of its window undone (or nothing was left to undo: a restart, a
 *   corruption — `healCheck` says which);
 * - `failed-to-apply` / `heal-failed`: with `error`;
 * - `unsupported`: the runtime cannot inject it (FaultUnsupported);
 * - `not-run`: the run was stopped before its start.
 */
export type ExecutedStatus = 'healed' | 'failed-to-apply' | 'heal-failed' | 'unsupported' | 'not-run';

export interface ExecutedFault {
  index: number;
  kind: FaultKind;
  /** As scheduled. */
  target: string;
  actualTarget?: string;
  /** Epoch ms. */
  plannedStartAt: number;
  plannedEndAt: number;
  appliedAt?: number;
  healedAt?: number;
  healCheck?: string;
  detail?: string;
  status: ExecutedStatus;
  error?: string;
}

export interface ExecutionLog {
  /** Epoch ms of the run's start (startMs offsets count from here). */
  origin: number;
  endedAt: number;
  /** True when the signal stopped the run early. */
  aborted: boolean;
  faults: ExecutedFault[];
  /** Heals of the final sweep that failed (something may still be applied: say so loudly). */
  finalHealErrors: string[];
  /** The latest heal (epoch ms), from which convergence is timed. */
  lastHealAt?: number;
}

export interface ExecuteOptions {
  /** Epoch ms the schedule's offsets count from (default: now). Give the workload's start to align both. */
  origin?: number;
  /** Stop early: faults not started are skipped, applied ones are healed now. */
  signal?: AbortSignal;
  /** Bound on each apply and each heal (default 60 s); past it the fault is recorded as failed. */
  stepTimeoutMs?: number;
  /** A line per apply/heal (progress for the scenario's log). */
  onEvent?: (line: string) => void;
}

/** Apply and heal each fault of `schedule` on time; never throws for a fault's failure. */
export async function executeSchedule(
  schedule: FaultSchedule,
  injector: FaultInjector,
  o: ExecuteOptions = {},
): Promise<ExecutionLog> {
  const origin = o.origin ?? Date.now();
  const stepTimeoutMs = o.stepTimeoutMs ?? 60_000;
  const say = (line: string) => o.onEvent?.(`+${((Date.now() - origin) / 1000).toFixed(1)} s ${line}`);
  const executed: ExecutedFault[] = schedule.faults.map((f) => ({
    index: f.index,
    kind: f.kind,
    target: targetLabel(f.target),
    plannedStartAt: origin + f.startMs,
    plannedEndAt: origin + f.startMs + f.durationMs,
    status: 'not-run',
  }));
  const bounded = <T>(p: Promise<T>, what: string) =>
    withDeadline(p, stepTimeoutMs, () => `${what} did not finish within ${stepTimeoutMs} ms`);

  const runOne = async (f: ScheduledFault, ex: ExecutedFault): Promise<void> => {
    if (!(await sleepUntil(ex.plannedStartAt, o.signal))) return;
    const name = `#${f.index} ${f.kind} ${ex.target}`;
    let applied: AppliedFault;
    const tApply = Date.now();
    try {
      applied = await bounded(injector.apply(f, schedule.topology), `applying ${name}`);
    } catch (e) {
      ex.status = e instanceof FaultUnsupported ? 'unsupported' : 'failed-to-apply';
      ex.error = message(e);
      say(`${name}: ${ex.status}: ${ex.error}`);
      return;
    }
    ex.appliedAt = applied.record?.appliedAt ?? tApply;
    ex.actualTarget = applied.actualTarget;
    if (applied.detail ?? applied.record?.detail) ex.detail = applied.detail ?? applied.record?.detail;
    say(`${name}: applied to ${applied.actualTarget}${ex.detail ? ` (${ex.detail})` : ''}`);
    await sleepUntil(ex.plannedEndAt, o.signal);
    try {
      ex.healCheck = applied.heal
        ? await bounded(applied.heal(), `healing ${name}`)
        : (applied.record?.healCheck ?? 'nothing to undo');
      ex.healedAt = applied.record?.healedAt ?? Date.now();
      ex.status = 'healed';
      say(`${name}: healed — ${ex.healCheck}`);
    } catch (e) {
      ex.status = 'heal-failed';
      ex.error = message(e);
      say(`${name}: heal failed: ${ex.error}`);
    }
  };

  let finalHealErrors: string[] = [];
  try {
    await Promise.all(
      schedule.faults.map((f, i) =>
        runOne(f, executed[i]!).catch((e) => {
          // A bug in the executor itself: recorded on the fault, the others go on.
          executed[i]!.status = executed[i]!.appliedAt ? 'heal-failed' : 'failed-to-apply';
          executed[i]!.error = `executor error: ${message(e)}`;
        }),
      ),
    );
  } finally {
    try {
      finalHealErrors = await injector.healAll();
    } catch (e) {
      finalHealErrors = [`healing everything at the end failed: ${message(e)}`];
    }
    for (const line of finalHealErrors) say(`final heal: ${line}`);
  }
  const heals = executed.map((e) => e.healedAt).filter((t): t is number => t !== undefined);
  return {
    origin,
    endedAt: Date.now(),
    aborted: o.signal?.aborted ?? false,
    faults: executed,
    finalHealErrors,
    ...(heals.length ? { lastHealAt: Math.max(...heals) } : {}),
  };
}

/** A fault's window for the checkers and pictures: applied → healed (or its planned end if later). */
export interface FaultWindow {
  index?: number;
  kind: string;
  target: string;
  /** Epoch ms. */
  start: number;
  end: number;
}

/** Windows of the faults that were applied (healed or not: a failed heal lasts until the end). */
export function faultWindowsOf(log: ExecutionLog): FaultWindow[] {
  return log.faults
    .filter((f) => f.appliedAt !== undefined)
    .map((f) => ({
      index: f.index,
      kind: f.kind,
      target: f.actualTarget ?? f.target,
      start: f.appliedAt!,
      end: f.status === 'healed' ? Math.max(f.healedAt ?? f.plannedEndAt, f.plannedEndAt) : log.endedAt,
    }));
}

/** One line per fault: when it was applied and healed, or why not. */
export function formatExecution(log: ExecutionLog): string {
  const at = (t?: number) => (t === undefined ? '?' : `+${((t - log.origin) / 1000).toFixed(2)} s`);
  const lines = log.faults.map((f) => {
    const what = `#${f.index} ${f.kind} ${f.actualTarget && f.actualTarget !== f.target ? `${f.target} (hit ${f.actualTarget})` : f.target}`;
    switch (f.status) {
      case 'healed':
        return `${what}: applied ${at(f.appliedAt)}, healed ${at(f.healedAt)} — ${f.healCheck}`;
      case 'heal-failed':
        return `${what}: applied ${at(f.appliedAt)}, HEAL FAILED: ${f.error}`;
      case 'not-run':
        return `${what}: not run (stopped before ${at(f.plannedStartAt)})`;
      default:
        return `${what}: ${f.status} at ${at(f.plannedStartAt)}: ${f.error}`;
    }
  });
  for (const e of log.finalHealErrors) lines.push(`final heal: ${e}`);
  return lines.join('\n');
}

// ── the nemesis-backed injector ──────────────────────────────────────────────────────────────────

export interface NemesisInjectorOptions {
  /** The hive's SQLite file, relative to its data dir (default `hive.db`). */
  catalogFile?: string;
  /** After a worker crash, at the end of its window: make a replacement worker unless the hive restarted it (default true). */
  respawnCrashedWorkers?: boolean;
}

/**
 * Kinds → nemesis calls:
 *   crash-worker → crashWorker(hive, worker); heal: the hive restarted it, else stack.spawnWorkers(hive, 1, model)
 *   pause-worker → pauseWorker(hive, worker); heal: nemesis.heal (SIGCONT + /health); a worker the hive
 *     removed meanwhile (unhealthy too long) is replaced, as is one cut off by partition-hive-worker
 *   crash-hive → crashService(hive); heal: nemesis.heal (restart + health), then in the docker runtime
 *     the workers that died with the hive's container are spawned again
 *   restart-hive → restartService(hive) (back when it returns); heal: the same refill in the docker runtime
 *   restart-queen → restartService('queen') (healed when it returns)
 *   pause-hive → pauseService(hive); heal: nemesis.heal
 *   partition-queen-hive → partition('queen', hive); partition-hive-worker → partitionWorker(hive, worker)
 *   slow-link → shapeLink(from, to, { latencyMs }); heal: nemesis.heal (each: LinkFaults)
 *   corrupt-catalog → corruptFile(hive, catalogFile) (nothing to undo)
 * A worker target is resolved when the fault is applied: a worker with that exact id, else the label's
 * slot (its position in the schedule's topology for that hive) among the hive's current workers in
 * start order — worker ids are random per run, so schedules name slots (see topologyFromSpec).
 */
export function nemesisInjector(stack: Stack, nemesis: Nemesis, o: NemesisInjectorOptions = {}): FaultInjector {
  const catalogFile = o.catalogFile ?? 'hive.db';
  const respawn = o.respawnCrashedWorkers ?? true;

  const resolveWorker = async (
    f: ScheduledFault,
    topology: Topology,
  ): Promise<{ hive: string; worker: WorkerInfo; note?: string }> => {
    const hive = f.target.hive!;
    const label = f.target.worker!;
    const listed = (await stack.hive(hive).workers()).filter((w) => w.state !== 'crashed' && w.state !== 'stopping');
    const exact = listed.find((w) => w.worker_id === label);
    if (exact) return { hive, worker: exact };
    if (!listed.length) throw new Error(`${hive} lists no live worker to fault (wanted ${label})`);
    const ordered = [...listed].sort(
      (a, b) =>
        (Number(a.started_at_ms) || 0) - (Number(b.started_at_ms) || 0) || a.worker_id.localeCompare(b.worker_id),
    );
    const slots = topology.hives.find((h) => h.name === hive)?.workers ?? [];
    const slot = Math.max(0, slots.indexOf(label));
    const worker = ordered[slot % ordered.length]!;
    return { hive, worker, note: `${label} → ${worker.worker_id}` };
  };

  // Where a hive's workers die with it (workers inside its container), a hive crash or restart takes them
  // along and the hive comes back empty; the topology is restored once the hive is back, so later faults
  // and convergence see the stack asked for. The same holds for a hive whose database (catalog and worker
  // registry) a corrupt-catalog fault destroyed earlier: restarted, it cannot know its workers any more.
  // Where workers outlive their hive, the hive must find them again, and a worker it forgot is never
  // replaced (that would hide the bug: convergence then fails naming the hive). Only workers the hive
  // itself says it removed after the fault (a `worker.removed` line with its reason: unreachable after the
  // restart, unhealthy too long) are replaced, as the contract lets it remove them.
  const corrupted = new Set<string>();
  const refillHive = async (hive: string, since: number): Promise<string> => {
    const want = stack.spec.hives.find((h) => h.name === hive);
    if (!respawn || !want) return '';
    let why = !stack.running.workersOutliveHive
      ? 'they died with it'
      : corrupted.has(hive)
        ? 'its worker registry was lost with its corrupted database'
        : undefined;
    if (!why) {
      const removed = removalsSince(stack.logs(hive), since);
      if (!removed.length) return '';
      why = `it removed ${removed.join(', ')}`;
    }
    const spawned = await topUp(stack, hive, want.workers, want.model);
    return spawned ? `; ${spawned} worker(s) spawned again on ${hive} (${why})` : '';
  };
  const hiveFault = (record: FaultRecord, hive: string, undo: boolean): AppliedFault => ({
    record,
    actualTarget: hive,
    heal: async () => {
      if (undo) await nemesis.heal(record);
      const check = (record.healCheck ?? (undo ? 'healed' : 'back')) + (await refillHive(hive, record.appliedAt));
      record.healCheck = check;
      return check;
    },
  });
  // A worker paused or cut off from its hive for longer than the hive's unhealthy bound is killed and
  // removed by the hive, as the contract says. Like a crashed one it is then replaced, so the stack is
  // back to its topology for the faults that follow and for convergence.
  const workerFault = (
    record: FaultRecord,
    hive: string,
    worker: WorkerInfo,
    actualTarget: string,
    note?: string,
  ): AppliedFault => ({
    record,
    actualTarget,
    ...(note ? { detail: note } : {}),
    heal: async () => {
      const stateNow = async () =>
        (await stack.hive(hive).workers()).find((w) => w.worker_id === worker.worker_id && w.state !== 'crashed')
          ?.state;
      let healError: unknown;
      try {
        await nemesis.heal(record);
      } catch (e) {
        healError = e; // an error only if the worker is still there once it settled
      }
      // Unhealthy right after the heal, it either comes back (its heartbeats resume) or its hive removes
      // it (unhealthy too long) a moment later: wait for one of the two before deciding.
      const settled = await eventually(
        async () => {
          const state = await stateNow();
          if (state !== undefined && !SERVING.has(state)) throw new Error(`${worker.worker_id} is ${state} on ${hive}`);
          return state;
        },
        {
          within: 2 * stack.spec.timings.workerHeartbeatTimeoutMs + 5000,
          every: 100,
          what: `${worker.worker_id} to serve again on ${hive} or be removed`,
        },
      ).catch((e: unknown) => {
        throw healError ?? e;
      });
      const model = stack.spec.hives.find((h) => h.name === hive)?.model ?? worker.model_ref;
      // Where a hive's workers share its network namespace (docker), cutting one off from its hive cuts all
      // their heartbeats: others may have been removed too (CI, seed 2072655002). Bring the hive back to
      // its topology as well.
      const others = async () => {
        if (!respawn) return '';
        const n = await topUp(stack, hive, stack.spec.hives.find((h) => h.name === hive)?.workers ?? 1, model);
        return n ? `; ${n} other worker(s) ${hive} removed during the fault spawned again` : '';
      };
      if (settled !== undefined) {
        if (healError) throw healError; // the worker is there, and the fault did not go away
        const check = (record.healCheck ?? 'healed') + (await others());
        record.healCheck = check;
        return check;
      }
      const check = `${hive} removed ${worker.worker_id} during the fault; ${await replaceCrashed(stack, hive, worker.worker_id, model, respawn)}${await others()}`;
      record.healedAt = Date.now();
      record.healCheck = check;
      return check;
    },
  });
  const viaNemesis = (record: FaultRecord, actualTarget: string, undo = true): AppliedFault => ({
    record,
    actualTarget,
    ...(undo ? { heal: async () => (await nemesis.heal(record), record.healCheck ?? 'healed') } : {}),
  });

  return {
    async apply(f, topology) {
      const hive = f.target.hive;
      switch (f.kind) {
        case 'crash-worker': {
          const { worker, note } = await resolveWorker(f, topology);
          const record = await nemesis.crashWorker(hive!, worker.worker_id);
          const model = stack.spec.hives.find((h) => h.name === hive)?.model ?? worker.model_ref;
          return {
            record,
            actualTarget: `worker ${worker.worker_id} on ${hive}`,
            ...(note ? { detail: note } : {}),
            heal: async () => {
              const check = await replaceCrashed(stack, hive!, worker.worker_id, model, respawn);
              record.healedAt = Date.now();
              record.healCheck = check;
              return check;
            },
          };
        }
        case 'pause-worker': {
          const { worker, note } = await resolveWorker(f, topology);
          const record = await nemesis.pauseWorker(hive!, worker.worker_id);
          return workerFault(record, hive!, worker, `worker ${worker.worker_id} on ${hive}`, note);
        }
        case 'partition-hive-worker': {
          const { worker, note } = await resolveWorker(f, topology);
          const record = await nemesis.partitionWorker(hive!, worker.worker_id);
          return workerFault(record, hive!, worker, `${hive} ↔ worker ${worker.worker_id}`, note);
        }
        case 'crash-hive':
          return hiveFault(await nemesis.crashService(hive!), hive!, true);
        case 'restart-hive':
          return hiveFault(await nemesis.restartService(hive!), hive!, false);
        case 'restart-queen':
          return viaNemesis(await nemesis.restartService('queen'), 'queen', false);
        case 'pause-hive':
          return viaNemesis(await nemesis.pauseService(hive!), hive!);
        case 'partition-queen-hive':
          return viaNemesis(await nemesis.partition('queen', hive!), `queen ↔ ${hive}`);
        case 'slow-link': {
          const from = f.target.from ?? 'queen';
          const to = f.target.to ?? hive!;
          return viaNemesis(
            await nemesis.shapeLink(from, to, { latencyMs: f.params?.latencyMs ?? 200 }),
            `${from} → ${to}`,
          );
        }
        case 'corrupt-catalog': {
          const record = await nemesis.corruptFile(hive!, catalogFile);
          corrupted.add(hive!);
          return {
            record,
            actualTarget: `${hive}:${catalogFile}`,
            heal: async () => 'nothing to undo: data loss is the point (the hive must cope)',
          };
        }
      }
    },
    healAll: () => nemesis.healAll(),
  };
}

/** End of a worker crash's window: the hive restarted it (on-crash policy), or a replacement is spawned. */
async function replaceCrashed(
  stack: Stack,
  hive: string,
  workerId: string,
  model: string,
  respawn: boolean,
): Promise<string> {
  // The hive may be down itself (a hive fault overlapping this one): wait until it answers again.
  const listed = await eventually(() => stack.hive(hive).workers(), {
    within: 20_000,
    every: 200,
    what: `${hive} to answer its worker list`,
  });
  const again = listed.find((w) => w.worker_id === workerId && w.state !== 'crashed');
  if (again) return `the hive restarted ${workerId} (state ${again.state})`;
  if (!respawn) return `${workerId} stays gone (no replacement asked for)`;
  try {
    const [fresh] = await stack.spawnWorkers(hive, 1, model, 20_000, { underLoad: true });
    return `replacement worker ${fresh?.worker_id ?? '?'} spawned on ${hive} and serving`;
  } catch (e) {
    // The replacement died with its hive (a hive fault overlapping this one): top the hive up instead.
    if (!(e instanceof GiveUp)) throw e;
    const want = stack.spec.hives.find((h) => h.name === hive)?.workers ?? 1;
    const spawned = await topUp(stack, hive, want, model);
    return `the replacement was lost (${e.message.split('\n')[0]}); ${spawned} more spawned, ${hive} serves its ${want} worker(s)`;
  }
}

const SERVING = new Set(['idle', 'busy', 'loading']);

/** Spawn on `hive` what it lacks of `want` serving workers; returns how many were spawned. */
async function topUp(stack: Stack, hive: string, want: number, model: string): Promise<number> {
  const missing = want - (await stack.hive(hive).workers()).filter((w) => SERVING.has(w.state)).length;
  if (missing <= 0) return 0;
  await stack.spawnWorkers(hive, missing, model, 20_000, { underLoad: true });
  return missing;
}

/** What the kinds need from the runtime. */
const NETWORK_KINDS: ReadonlySet<FaultKind> = new Set(['partition-queen-hive', 'partition-hive-worker', 'slow-link']);

/**
 * Which kinds this stack's runtime can inject: undefined = yes, else the reason it cannot. Partitions
 * and slow links need the runtime's network control (docker with a local engine); the rest work in
 * every runtime (signals to processes or containers, files in the data dir).
 */
export function supportedKinds(stack: {
  running: { linkFaults?: unknown; unsupported?: { linkFaults?: string } };
  runtime?: string;
}): Record<FaultKind, string | undefined> {
  const netReason = stack.running.linkFaults
    ? undefined
    : `needs control of the links between services, which this runtime does not have: ${stack.running.unsupported?.linkFaults ?? `the ${stack.runtime ?? 'current'} runtime cannot do it`}`;
  return Object.fromEntries(FAULT_KINDS.map((k) => [k, NETWORK_KINDS.has(k) ? netReason : undefined])) as Record<
    FaultKind,
    string | undefined
  >;
}

/** `supportedKinds` as the predicate dropUnsupported takes. */
export function faultSupport(stack: Parameters<typeof supportedKinds>[0]): (kind: FaultKind) => string | undefined {
  const s = supportedKinds(stack);
  return (kind) => s[kind];
}

/**
 * A topology with stable worker labels (`w0`, `w1` … per hive, from the spec), so the same seed draws
 * the same schedule in every run; the injector maps each label to a live worker when it applies a fault.
 */
export function topologyFromSpec(spec: Pick<StackSpec, 'hives'>): Topology {
  return {
    hives: spec.hives.map((h) => ({ name: h.name, workers: Array.from({ length: h.workers }, (_, k) => `w${k}`) })),
  };
}

/** The stack's live topology with real worker ids (these differ between runs: prefer topologyFromSpec for schedules). */
export async function topologyOf(stack: Stack): Promise<Topology> {
  return {
    hives: await Promise.all(
      stack.hiveNames.map(async (name) => ({
        name,
        workers: (await stack.hive(name).workers()).map((w) => w.worker_id).sort(),
      })),
    ),
  };
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
