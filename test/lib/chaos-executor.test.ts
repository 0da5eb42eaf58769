import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  executeSchedule,
  faultSupport,
  faultWindowsOf,
  formatExecution,
  nemesisInjector,
  supportedKinds,
  topologyFromSpec,
  type AppliedFault,
  type FaultInjector,
} from '../../lib/chaos/executor.ts';
import {
  FAULT_KINDS,
  dropUnsupported,
  type FaultKind,
  type FaultSchedule,
  type ScheduledFault,
} from '../../lib/chaos/schedule.ts';
import { FaultUnsupported } from '../../lib/faults/unsupported.ts';
import { FaultTimeline, type FaultRecord } from '../../lib/faults/timeline.ts';
import type { Nemesis } from '../../lib/faults/nemesis.ts';
import type { Stack } from '../../lib/stack/stack.ts';

const topology = { hives: [{ name: 'hive-a', workers: ['w0', 'w1'] }] };

function schedule(
  faults: Array<Partial<ScheduledFault> & { kind: FaultKind; startMs: number; durationMs: number }>,
): FaultSchedule {
  return {
    version: 1,
    seed: 1,
    menu: [],
    topology,
    runMs: 10_000,
    leadInMs: 0,
    quietTailMs: 0,
    gapMs: 0,
    requested: { faults: faults.length },
    faults: faults.map((f, index) => ({ index, target: { hive: 'hive-a' }, ...f })),
    notes: [],
  };
}

/** A fake injector: records when each fault was applied and healed; behaviour per kind. */
function fakeInjector(behaviour: Partial<Record<FaultKind, 'unsupported' | 'apply-fails' | 'heal-fails'>> = {}) {
  const calls: string[] = [];
  let healAllCalls = 0;
  const injector: FaultInjector = {
    async apply(f): Promise<AppliedFault> {
      calls.push(`apply #${f.index}`);
      const b = behaviour[f.kind];
      if (b === 'unsupported') throw new FaultUnsupported(`${f.kind}: not in this runtime`);
      if (b === 'apply-fails') throw new Error('no such worker');
      return {
        actualTarget: `thing ${f.index}`,
        heal: async () => {
          calls.push(`heal #${f.index}`);
          if (b === 'heal-fails') throw new Error('still partitioned');
          return 'observed healthy';
        },
      };
    },
    async healAll() {
      healAllCalls++;
      return [];
    },
  };
  return { injector, calls, healAllCalls: () => healAllCalls };
}

test('each fault is applied at its start and healed at its end; the final sweep always runs', async () => {
  const fake = fakeInjector();
  const s = schedule([
    { kind: 'pause-worker', startMs: 50, durationMs: 150 },
    { kind: 'pause-hive', startMs: 100, durationMs: 50 },
  ]);
  const origin = Date.now();
  const log = await executeSchedule(s, fake.injector, { origin });
  assert.deepEqual(fake.calls, ['apply #0', 'apply #1', 'heal #1', 'heal #0']);
  assert.equal(fake.healAllCalls(), 1);
  for (const f of log.faults) {
    assert.equal(f.status, 'healed');
    assert.ok(f.appliedAt! >= f.plannedStartAt, `#${f.index} applied before its start`);
    assert.ok(f.appliedAt! - f.plannedStartAt < 1000, `#${f.index} applied ${f.appliedAt! - f.plannedStartAt} ms late`);
    assert.ok(f.healedAt! >= f.plannedEndAt, `#${f.index} healed before its end`);
    assert.equal(f.healCheck, 'observed healthy');
  }
  assert.equal(log.lastHealAt, Math.max(...log.faults.map((f) => f.healedAt!)));
  const windows = faultWindowsOf(log);
  assert.deepEqual(
    windows.map((w) => [w.kind, w.target]),
    [
      ['pause-worker', 'thing 0'],
      ['pause-hive', 'thing 1'],
    ],
  );
  assert.ok(windows.every((w) => w.end >= w.start));
});

test('failures to apply or heal are recorded, not thrown; unsupported kinds are told apart', async () => {
  const fake = fakeInjector({
    'partition-queen-hive': 'unsupported',
    'crash-worker': 'apply-fails',
    'pause-hive': 'heal-fails',
  });
  const s = schedule([
    { kind: 'partition-queen-hive', startMs: 0, durationMs: 10 },
    { kind: 'crash-worker', startMs: 0, durationMs: 10 },
    { kind: 'pause-hive', startMs: 0, durationMs: 10 },
    { kind: 'pause-worker', startMs: 0, durationMs: 10 },
  ]);
  const log = await executeSchedule(s, fake.injector);
  assert.deepEqual(
    log.faults.map((f) => f.status),
    ['unsupported', 'failed-to-apply', 'heal-failed', 'healed'],
  );
  assert.match(log.faults[0]!.error!, /not in this runtime/);
  assert.equal(log.faults[1]!.error, 'no such worker');
  assert.equal(log.faults[2]!.error, 'still partitioned');
  assert.equal(fake.healAllCalls(), 1);
  // A fault whose heal failed lasts until the end of the run in the windows.
  const w = faultWindowsOf(log);
  assert.deepEqual(
    w.map((x) => x.index),
    [2, 3],
  );
  assert.equal(w[0]!.end, log.endedAt);
  assert.match(
    formatExecution(log),
    /#2 pause-hive hive-a \(hit thing 2\): applied \+\d+\.\d+ s, HEAL FAILED: still partitioned/,
  );
});

test('a stop heals what is applied at once and skips what has not started', async () => {
  const fake = fakeInjector();
  const stop = new AbortController();
  const s = schedule([
    { kind: 'pause-worker', startMs: 0, durationMs: 60_000 },
    { kind: 'pause-hive', startMs: 30_000, durationMs: 1000 },
  ]);
  const t0 = Date.now();
  const running = executeSchedule(s, fake.injector, {
    signal: stop.signal,
    onEvent: (line) => (/applied/.test(line) ? stop.abort() : undefined),
  });
  const log = await running;
  assert.ok(Date.now() - t0 < 10_000, 'the stop did not wait for the windows');
  assert.equal(log.aborted, true);
  assert.deepEqual(
    log.faults.map((f) => f.status),
    ['healed', 'not-run'],
  );
  assert.deepEqual(fake.calls, ['apply #0', 'heal #0']);
});

test("supportedKinds: partitions and slow links need the runtime's link faults, with the reason", () => {
  const processLike = { running: { unsupported: { linkFaults: 'one loopback interface' } }, runtime: 'process' };
  const kinds = supportedKinds(processLike);
  assert.deepEqual(
    FAULT_KINDS.filter((k) => kinds[k] !== undefined),
    ['partition-queen-hive', 'partition-hive-worker', 'slow-link'],
  );
  assert.match(kinds['slow-link']!, /one loopback interface/);
  assert.deepEqual(Object.values(supportedKinds({ running: { linkFaults: {} } })).filter(Boolean), []);
  const { menu, notes } = dropUnsupported([...FAULT_KINDS], faultSupport(processLike));
  assert.equal(menu.length, FAULT_KINDS.length - 3);
  assert.equal(notes.length, 3);
});

test('topologyFromSpec names worker slots, stable across runs', () => {
  assert.deepEqual(
    topologyFromSpec({
      hives: [
        { name: 'hive-a', workers: 2 },
        { name: 'hive-b', workers: 0 },
      ] as never,
    }),
    {
      hives: [
        { name: 'hive-a', workers: ['w0', 'w1'] },
        { name: 'hive-b', workers: [] },
      ],
    },
  );
});

test('the nemesis injector maps kinds to nemesis calls and worker slots to live workers', async () => {
  const calls: string[] = [];
  const timeline = new FaultTimeline();
  const record = (kind: string, target: string, heal?: () => Promise<string>): FaultRecord =>
    timeline.applied(kind, target, heal);
  const nemesis = {
    crashWorker: async (h: string, w: string) => (calls.push(`crashWorker ${h} ${w}`), record('crash', w)),
    pauseWorker: async (h: string, w: string) => (
      calls.push(`pauseWorker ${h} ${w}`),
      record('pause', w, async () => 'resumed')
    ),
    partitionWorker: async (h: string, w: string) => (
      calls.push(`partitionWorker ${h} ${w}`),
      record('partition', w, async () => 'rules gone')
    ),
    crashService: async (n: string) => (calls.push(`crashService ${n}`), record('crash', n, async () => 'restarted')),
    restartService: async (n: string) => {
      calls.push(`restartService ${n}`);
      const r = record('restart', n);
      r.healedAt = Date.now();
      r.healCheck = `${n} healthy after restart`;
      return r;
    },
    pauseService: async (n: string) => (calls.push(`pauseService ${n}`), record('pause', n, async () => 'answers')),
    partition: async (a: string, b: string) => (
      calls.push(`partition ${a} ${b}`),
      record('partition', `${a} ↔ ${b}`, async () => 'rules gone')
    ),
    shapeLink: async (a: string, b: string, o: { latencyMs?: number }) => (
      calls.push(`shapeLink ${a} ${b} ${o.latencyMs}`),
      record('link', `${a} → ${b}`, async () => 'proxy gone')
    ),
    corruptFile: (s: string, f: string) => (calls.push(`corruptFile ${s} ${f}`), record('corrupt', `${s}:${f}`)),
    heal: (r: FaultRecord) => timeline.heal(r),
    healAll: () => timeline.healAll(),
  };
  let workers = [
    { worker_id: 'worker-bbb', state: 'idle', started_at_ms: 2, model_ref: 'm' },
    { worker_id: 'worker-aaa', state: 'idle', started_at_ms: 1, model_ref: 'm' },
  ];
  const spawned: string[] = [];
  const stack = {
    spec: { hives: [{ name: 'hive-a', model: 'hf:x' }], timings: { workerHeartbeatTimeoutMs: 100 } },
    hive: () => ({ workers: async () => workers }),
    spawnWorkers: async (h: string, n: number, model: string) => {
      spawned.push(`${h} ${n} ${model}`);
      return [{ worker_id: 'worker-ccc' }];
    },
  };
  const inj = nemesisInjector(stack as unknown as Stack, nemesis as unknown as Nemesis);
  const f = (kind: FaultKind, target: ScheduledFault['target'], params?: ScheduledFault['params']): ScheduledFault => ({
    index: 0,
    kind,
    target,
    startMs: 0,
    durationMs: 1,
    ...(params ? { params } : {}),
  });

  // Slot w1 is the second worker in start order.
  const paused = await inj.apply(f('pause-worker', { hive: 'hive-a', worker: 'w1' }), topology);
  assert.equal(paused.actualTarget, 'worker worker-bbb on hive-a');
  assert.equal(paused.detail, 'w1 → worker-bbb');
  assert.equal(await paused.heal!(), 'resumed');
  // An exact worker id is used as is.
  assert.equal(
    (await inj.apply(f('partition-hive-worker', { hive: 'hive-a', worker: 'worker-aaa' }), topology)).actualTarget,
    'hive-a ↔ worker worker-aaa',
  );

  const crashed = await inj.apply(f('crash-worker', { hive: 'hive-a', worker: 'w0' }), topology);
  workers = workers.filter((w) => w.worker_id !== 'worker-aaa');
  assert.match(await crashed.heal!(), /replacement worker worker-ccc spawned on hive-a/);
  assert.deepEqual(spawned, ['hive-a 1 hf:x']);
  assert.ok(crashed.record?.healedAt, 'the crash record is marked healed on the timeline');

  await inj.apply(f('crash-hive', { hive: 'hive-a' }), topology);
  const restarted = await inj.apply(f('restart-queen', { service: 'queen' }), topology);
  assert.equal(restarted.heal, undefined, 'a restart has nothing left to undo');
  await inj.apply(f('restart-hive', { hive: 'hive-a' }), topology);
  await inj.apply(f('pause-hive', { hive: 'hive-a' }), topology);
  await inj.apply(f('partition-queen-hive', { hive: 'hive-a' }), topology);
  await inj.apply(f('slow-link', { hive: 'hive-a', from: 'hive-a', to: 'queen' }, { latencyMs: 120 }), topology);
  await inj.apply(f('corrupt-catalog', { hive: 'hive-a' }), topology);
  assert.deepEqual(calls, [
    'pauseWorker hive-a worker-bbb',
    'partitionWorker hive-a worker-aaa',
    'crashWorker hive-a worker-aaa',
    'crashService hive-a',
    'restartService queen',
    'restartService hive-a',
    'pauseService hive-a',
    'partition queen hive-a',
    'shapeLink hive-a queen 120',
    'corruptFile hive-a hive.db',
  ]);
  // Everything still applied is healed by the final sweep.
  assert.deepEqual(await inj.healAll(), []);
  assert.deepEqual(timeline.active, []);
});

test('after a hive crash or restart, workers that died with it come back; where workers outlive it, only those it logged removing', async () => {
  const timeline = new FaultTimeline();
  const nemesis = {
    crashService: async (n: string) => timeline.applied('crash', n, async () => 'restarted'),
    restartService: async (n: string) => {
      const r = timeline.applied('restart', n);
      r.healedAt = Date.now();
      r.healCheck = `${n} healthy after restart`;
      return r;
    },
    heal: (r: FaultRecord) => timeline.heal(r),
    healAll: () => timeline.healAll(),
  };
  const topology = { hives: [{ name: 'hive-a', workers: ['w0', 'w1', 'w2'] }] };
  const removal = (worker_id: string, reason: string, ts: string) => ({
    ts,
    level: 'info',
    service: 'hive',
    msg: 'worker removed',
    event: 'worker.removed',
    worker_id,
    reason,
  });
  const cases = [
    { name: 'workers inside the hive container', outlive: false, logs: [] as object[] },
    { name: 'workers outlive the hive, it logged no removal', outlive: true, logs: [] as object[] },
    {
      name: 'workers outlive the hive, it logged removing two after the fault',
      outlive: true,
      logs: [
        removal('worker-old', 'crashed', '2000-01-01T00:00:00.000Z'), // before the fault: not counted
        removal('worker-b', 'not reachable after the hive restarted', new Date(Date.now() + 60_000).toISOString()),
        removal('worker-c', 'unhealthy for more than 1500 ms', new Date(Date.now() + 60_000).toISOString()),
      ],
    },
  ];
  for (const c of cases) {
    const spawned: string[] = [];
    const stack = {
      runtime: 'docker',
      running: { workersOutliveHive: c.outlive },
      spec: { hives: [{ name: 'hive-a', model: 'hf:x', workers: 3 }], timings: { workerHeartbeatTimeoutMs: 100 } },
      hive: () => ({ workers: async () => [{ worker_id: 'worker-new', state: 'idle' }] }), // one came back
      logs: () => c.logs,
      spawnWorkers: async (h: string, n: number, model: string) => (spawned.push(`${h} ${n} ${model}`), []),
    };
    const inj = nemesisInjector(stack as unknown as Stack, nemesis as unknown as Nemesis);
    const crash = await inj.apply(
      { index: 0, kind: 'crash-hive', target: { hive: 'hive-a' }, startMs: 0, durationMs: 1 },
      topology,
    );
    const crashCheck = await crash.heal!();
    const restart = await inj.apply(
      { index: 1, kind: 'restart-hive', target: { hive: 'hive-a' }, startMs: 0, durationMs: 1 },
      topology,
    );
    const restartCheck = await restart.heal!();
    if (!c.outlive) {
      assert.deepEqual(spawned, ['hive-a 2 hf:x', 'hive-a 2 hf:x'], c.name);
      assert.equal(crashCheck, 'restarted; 2 worker(s) spawned again on hive-a (they died with it)');
      assert.equal(
        restartCheck,
        'hive-a healthy after restart; 2 worker(s) spawned again on hive-a (they died with it)',
      );
    } else if (!c.logs.length) {
      assert.deepEqual(spawned, [], `${c.name}: a hive that forgot its workers must not be covered up`);
      assert.equal(crashCheck, 'restarted');
    } else {
      assert.deepEqual(spawned, ['hive-a 2 hf:x', 'hive-a 2 hf:x'], c.name);
      assert.equal(
        crashCheck,
        'restarted; 2 worker(s) spawned again on hive-a (it removed worker-b (not reachable after the hive restarted), worker-c (unhealthy for more than 1500 ms))',
      );
    }
  }
});

test('a worker its hive removed while it was paused or cut off is replaced when the fault heals', async () => {
  const timeline = new FaultTimeline();
  let workers = [{ worker_id: 'worker-aaa', state: 'idle', started_at_ms: 1, model_ref: 'm' }];
  const nemesis = {
    // SIGCONT finds no process: the hive killed it.
    pauseWorker: async (_h: string, w: string) =>
      timeline.applied('pause', w, async () => {
        throw new Error(`${w} does not answer /health`);
      }),
    heal: (r: FaultRecord) => timeline.heal(r),
    healAll: () => timeline.healAll(),
  };
  const spawned: string[] = [];
  const stack = {
    runtime: 'process',
    spec: { hives: [{ name: 'hive-a', model: 'hf:x', workers: 1 }], timings: { workerHeartbeatTimeoutMs: 100 } },
    hive: () => ({ workers: async () => workers }),
    spawnWorkers: async (h: string, n: number, model: string) => {
      spawned.push(`${h} ${n} ${model}`);
      const fresh = Array.from({ length: n }, (_, k) => ({
        worker_id: `worker-new${k || ''}`,
        state: 'idle',
        started_at_ms: 2,
        model_ref: 'm',
      }));
      workers = [...workers, ...fresh];
      return fresh;
    },
  };
  const inj = nemesisInjector(stack as unknown as Stack, nemesis as unknown as Nemesis);
  const topology = { hives: [{ name: 'hive-a', workers: ['w0'] }] };
  const paused = await inj.apply(
    { index: 0, kind: 'pause-worker', target: { hive: 'hive-a', worker: 'w0' }, startMs: 0, durationMs: 1 },
    topology,
  );
  workers = []; // the hive removed it: unhealthy for too long
  assert.match(
    await paused.heal!(),
    /hive-a removed worker-aaa during the fault; replacement worker worker-new spawned/,
  );
  assert.deepEqual(spawned, ['hive-a 1 hf:x']);

  // Still listed unhealthy when the heal is done, removed by its hive a moment later: replaced too
  // (CI, seed 1267705587: the heal looked while it was unhealthy, the hive removed it 400 ms later).
  spawned.length = 0;
  workers = [{ worker_id: 'worker-aaa', state: 'idle', started_at_ms: 1, model_ref: 'm' }];
  const cut = await inj.apply(
    { index: 1, kind: 'pause-worker', target: { hive: 'hive-a', worker: 'w0' }, startMs: 0, durationMs: 1 },
    topology,
  );
  workers = [{ ...workers[0]!, state: 'unhealthy' }];
  setTimeout(() => (workers = []), 300);
  assert.match(await cut.heal!(), /hive-a removed worker-aaa during the fault; replacement worker worker-new spawned/);
  assert.deepEqual(spawned, ['hive-a 1 hf:x']);

  // The cut-off worker came back, but another of the hive's workers was removed during the fault (docker:
  // they share the hive's network namespace, so all their heartbeats were cut): the hive is topped up.
  spawned.length = 0;
  workers = [{ worker_id: 'worker-aaa', state: 'idle', started_at_ms: 1, model_ref: 'm' }];
  const stack2 = { ...stack, spec: { ...stack.spec, hives: [{ name: 'hive-a', model: 'hf:x', workers: 2 }] } };
  const inj2 = nemesisInjector(
    stack2 as unknown as Stack,
    {
      ...nemesis,
      pauseWorker: async (_h: string, w: string) => timeline.applied('pause', w, async () => 'resumed'),
    } as unknown as Nemesis,
  );
  const both = await inj2.apply(
    { index: 2, kind: 'pause-worker', target: { hive: 'hive-a', worker: 'w0' }, startMs: 0, durationMs: 1 },
    { hives: [{ name: 'hive-a', workers: ['w0', 'w1'] }] },
  );
  assert.match(await both.heal!(), /resumed; 1 other worker\(s\) hive-a removed during the fault spawned again/);
  assert.deepEqual(spawned, ['hive-a 1 hf:x']);
});
