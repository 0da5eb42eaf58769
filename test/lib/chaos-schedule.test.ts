import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_MENU,
  FAULT_KINDS,
  conflicts,
  drawSchedule,
  dropUnsupported,
  formatSchedule,
  menuOf,
  parseSchedule,
  resolveSeed,
  scheduleJson,
  type DrawOptions,
  type FaultKind,
} from '../../lib/chaos/schedule.ts';

const topology = {
  hives: [
    { name: 'hive-a', workers: ['w-1', 'w-2'] },
    { name: 'hive-b', workers: ['w-3', 'w-4'] },
  ],
};
const base: DrawOptions = { seed: 1234, menu: [...FAULT_KINDS], topology, runMs: 60_000, faults: 8 };

test('the same seed, menu and topology give a byte-identical schedule', () => {
  const a = scheduleJson(drawSchedule(base));
  const b = scheduleJson(drawSchedule(structuredClone(base)));
  assert.equal(a, b);
  // Key order of the inputs does not matter either.
  const shuffled = {
    faults: 8,
    runMs: 60_000,
    topology: { hives: topology.hives.map((h) => ({ workers: h.workers, name: h.name })) },
    menu: [...FAULT_KINDS],
    seed: 1234,
  };
  assert.equal(scheduleJson(drawSchedule(shuffled)), a);
  assert.ok(a.endsWith('}\n'));
  // Keys are sorted at every level.
  const firstFault = JSON.parse(a).faults[0];
  assert.deepEqual(Object.keys(firstFault), [...Object.keys(firstFault)].sort());
});

test('a different seed gives a different schedule', () => {
  const a = scheduleJson(drawSchedule(base));
  const others = [1, 2, 3].map((d) => scheduleJson(drawSchedule({ ...base, seed: base.seed + d })));
  assert.ok(others.every((o) => o !== a));
});

test('the schedule echoes its inputs and survives a round trip', () => {
  const s = drawSchedule(base);
  assert.equal(s.seed, 1234);
  assert.deepEqual(s.topology, topology);
  assert.deepEqual(
    s.menu.map((m) => m.kind),
    [...FAULT_KINDS],
  );
  assert.deepEqual(s.requested, { faults: 8 });
  assert.deepEqual(parseSchedule(scheduleJson(s)), JSON.parse(scheduleJson(s)));
  assert.equal(scheduleJson(parseSchedule(scheduleJson(s))), scheduleJson(s));
  assert.throws(() => parseSchedule('{"version":2}'), /not a fault schedule/);
  assert.match(formatSchedule(s), /^seed 1234: \d+ fault\(s\)/);
});

test('placement rules hold for many seeds: inside the fault window, no forbidden overlap, targets from the topology', () => {
  for (let seed = 0; seed < 200; seed++) {
    const s = drawSchedule({ ...base, seed, faults: 12 });
    const end = s.runMs - s.quietTailMs;
    s.faults.forEach((f, i) => {
      assert.equal(f.index, i);
      assert.ok(f.startMs >= s.leadInMs, `seed ${seed}: fault ${i} starts in the lead-in`);
      assert.ok(f.startMs + f.durationMs <= end, `seed ${seed}: fault ${i} heals in the quiet tail`);
      const entry = DEFAULT_MENU[f.kind];
      assert.ok(f.durationMs >= entry.minDurationMs && f.durationMs <= entry.maxDurationMs);
      if (f.target.worker)
        assert.ok(topology.hives.find((h) => h.name === f.target.hive)?.workers.includes(f.target.worker));
      if (f.kind === 'slow-link') assert.ok(f.params?.latencyMs! >= 50 && f.params?.latencyMs! <= 500);
      if (i > 0) assert.ok(f.startMs >= s.faults[i - 1]!.startMs, 'sorted by start');
    });
    for (const a of s.faults) {
      for (const b of s.faults) {
        if (a === b) continue;
        assert.ok(
          !conflicts(a, b, s.menu, s.gapMs),
          `seed ${seed}: #${a.index} ${a.kind} and #${b.index} ${b.kind} break the overlap rules`,
        );
        const overlapInTime = a.startMs < b.startMs + b.durationMs && b.startMs < a.startMs + a.durationMs;
        if (overlapInTime) {
          assert.ok(
            DEFAULT_MENU[a.kind].overlaps && DEFAULT_MENU[b.kind].overlaps,
            `seed ${seed}: a non-overlapping kind overlaps`,
          );
        }
      }
    }
  }
});

test('the rules themselves: exclusive kinds overlap nothing; one worker or hive is not faulted twice at once', () => {
  const menu = menuOf([...FAULT_KINDS]);
  const at = (kind: FaultKind, target: object, startMs: number, durationMs = 1000) => ({
    kind,
    target,
    startMs,
    durationMs,
  });
  assert.equal(
    conflicts(
      at('restart-queen', { service: 'queen' }, 0),
      at('pause-worker', { hive: 'hive-b', worker: 'w-3' }, 500),
      menu,
      0,
    ),
    true,
  );
  assert.equal(
    conflicts(
      at('pause-worker', { hive: 'hive-a', worker: 'w-1' }, 0),
      at('partition-hive-worker', { hive: 'hive-a', worker: 'w-2' }, 500),
      menu,
      0,
    ),
    false,
  );
  assert.equal(
    conflicts(
      at('pause-worker', { hive: 'hive-a', worker: 'w-1' }, 0),
      at('crash-worker', { hive: 'hive-a', worker: 'w-1' }, 500),
      menu,
      0,
    ),
    true,
  );
  assert.equal(
    conflicts(
      at('pause-hive', { hive: 'hive-a' }, 0),
      at('crash-worker', { hive: 'hive-a', worker: 'w-1' }, 500),
      menu,
      0,
    ),
    true,
  );
  assert.equal(
    conflicts(at('pause-hive', { hive: 'hive-a' }, 0), at('partition-queen-hive', { hive: 'hive-b' }, 500), menu, 0),
    false,
  );
  // The gap keeps conflicting faults apart even when they do not touch.
  assert.equal(
    conflicts(at('corrupt-catalog', { hive: 'hive-a' }, 0), at('pause-hive', { hive: 'hive-b' }, 1500), menu, 1000),
    true,
  );
  assert.equal(
    conflicts(at('corrupt-catalog', { hive: 'hive-a' }, 0), at('pause-hive', { hive: 'hive-b' }, 2500), menu, 1000),
    false,
  );
  // A hive's crash may overlap faults elsewhere, never one on the same hive or its workers.
  assert.equal(
    conflicts(at('crash-hive', { hive: 'hive-a' }, 0), at('pause-hive', { hive: 'hive-b' }, 500), menu, 1000),
    false,
  );
  assert.equal(
    conflicts(
      at('crash-hive', { hive: 'hive-a' }, 0),
      at('crash-worker', { hive: 'hive-a', worker: 'w-1' }, 500),
      menu,
      1000,
    ),
    true,
  );
});

test('a density gives a count from the fault window; menu overrides apply', () => {
  const s = drawSchedule({
    ...base,
    faults: undefined,
    perMinute: 6,
    runMs: 100_000,
    leadInMs: 0,
    quietTailMs: 0,
    gapMs: 0,
    menu: [{ kind: 'pause-worker', minDurationMs: 100, maxDurationMs: 200 }],
  });
  assert.equal(s.faults.length, 10);
  assert.ok(s.faults.every((f) => f.kind === 'pause-worker' && f.durationMs >= 100 && f.durationMs <= 200));
  assert.throws(() => drawSchedule({ ...base, perMinute: 3 }), /either a fault count/);
  assert.throws(() => drawSchedule({ ...base, menu: ['pause-worker', 'pause-worker'] }), /twice/);
  assert.throws(() => drawSchedule({ ...base, menu: ['melt-cpu' as FaultKind] }), /unknown fault kind/);
  assert.throws(() => drawSchedule({ ...base, runMs: 1000, leadInMs: 600, quietTailMs: 600 }), /no room for faults/);
});

test('kinds with no target in the topology are left out with a note; faults with no room are noted', () => {
  const s = drawSchedule({
    ...base,
    topology: { hives: [{ name: 'hive-a', workers: [] }] },
    menu: ['crash-worker', 'restart-queen'],
    faults: 3,
  });
  assert.ok(s.notes.some((n) => /left out crash-worker: the topology has no worker/.test(n)));
  assert.ok(s.faults.every((f) => f.kind === 'restart-queen'));
  // Exclusive faults of 4 s in a 10 s window with a 1 s gap: at most two fit; the rest are noted.
  const crowded = drawSchedule({
    ...base,
    menu: [{ kind: 'restart-queen', minDurationMs: 4000, maxDurationMs: 4000 }],
    runMs: 10_000,
    leadInMs: 0,
    quietTailMs: 0,
    faults: 5,
  });
  assert.ok(crowded.faults.length <= 2);
  assert.equal(crowded.notes.filter((n) => /no room found/.test(n)).length, 5 - crowded.faults.length);
});

test('dropUnsupported keeps what the runtime can do and says why it dropped the rest', () => {
  const r = dropUnsupported([...FAULT_KINDS], (k) =>
    k.startsWith('partition') || k === 'slow-link' ? 'needs the docker runtime' : undefined,
  );
  assert.deepEqual(
    r.dropped.map((d) => d.kind),
    ['partition-queen-hive', 'partition-hive-worker', 'slow-link'],
  );
  assert.ok(r.dropped.every((d) => d.reason === 'needs the docker runtime'));
  assert.equal(r.menu.length, FAULT_KINDS.length - 3);
  assert.deepEqual(r.notes, [
    'dropped partition-queen-hive: needs the docker runtime',
    'dropped partition-hive-worker: needs the docker runtime',
    'dropped slow-link: needs the docker runtime',
  ]);
});

test('resolveSeed reads RBEE_SEED or draws one', () => {
  assert.deepEqual(resolveSeed({ RBEE_SEED: '42' }), { seed: 42, drawn: false });
  assert.throws(() => resolveSeed({ RBEE_SEED: 'abc' }), /RBEE_SEED must be a whole number/);
  assert.throws(() => resolveSeed({ RBEE_SEED: '99999999999' }), /RBEE_SEED/);
  const d = resolveSeed({});
  assert.equal(d.drawn, true);
  assert.ok(Number.isInteger(d.seed) && d.seed >= 0 && d.seed <= 0x7fffffff);
});
