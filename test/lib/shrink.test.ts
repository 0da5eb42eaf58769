import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ddmin, formatShrink, shrink } from '../../lib/chaos/shrink.ts';
import type { FaultSchedule } from '../../lib/chaos/schedule.ts';

function schedule(n: number, durationMs = 3000): FaultSchedule {
  return {
    version: 1,
    seed: 1,
    menu: [],
    topology: { hives: [{ name: 'hive-a', workers: ['w-1'] }] },
    runMs: 120_000,
    leadInMs: 0,
    quietTailMs: 0,
    gapMs: 0,
    requested: { faults: n },
    faults: Array.from({ length: n }, (_, index) => ({
      index,
      kind: 'pause-worker' as const,
      target: { hive: 'hive-a', worker: 'w-1' },
      startMs: index * 5000,
      durationMs,
    })),
    notes: [],
  };
}
const has = (s: FaultSchedule, i: number) => s.faults.some((f) => f.index === i);
const roomy = { maxRuns: 1000, maxWallMs: 60_000 };

test('ddmin finds the two faults that matter among twelve; durations are then halved down to the floor', async () => {
  let calls = 0;
  const r = await shrink(schedule(12), async (s) => (calls++, has(s, 3) && has(s, 7)), {
    ...roomy,
    minDurationMs: 200,
  });
  assert.deepEqual(
    r.schedule.faults.map((f) => f.index),
    [3, 7],
  );
  // 3000 → 1500 → 750 → 375 (halving to 187 would go below the 200 ms floor).
  assert.deepEqual(
    r.schedule.faults.map((f) => f.durationMs),
    [375, 375],
  );
  assert.equal(r.stoppedBy, 'done');
  assert.equal(r.runs, calls, 'each attempt is one call; repeats come from the cache');
  assert.ok(r.runs < 40, `${r.runs} runs`);
  assert.equal(
    new Set(r.attempts.map((a) => `${a.faults}|${JSON.stringify(a.durations)}`)).size,
    r.attempts.length,
    'no attempt repeated',
  );
  assert.match(
    formatShrink(r, 12),
    /^shrunk 12 → 2 fault\(s\) in \d+ run\(s\); kept: #3 pause-worker 375 ms, #7 pause-worker 375 ms/,
  );
});

test('halving stops at the last duration that still fails', async () => {
  const r = await shrink(schedule(6), async (s) => s.faults.some((f) => f.index === 5 && f.durationMs >= 800), roomy);
  assert.deepEqual(
    r.schedule.faults.map((f) => [f.index, f.durationMs]),
    [[5, 1500]],
  );
  const last = r.attempts.at(-1)!;
  assert.deepEqual(
    { phase: last.phase, durations: last.durations, verdict: last.verdict },
    { phase: 'duration', durations: { 5: 750 }, verdict: 'passes' },
  );
});

test('a failure that needs no fault at all shrinks to the empty schedule', async () => {
  const r = await shrink(schedule(5), async () => true, roomy);
  assert.deepEqual(r.schedule.faults, []);
  assert.ok(r.attempts.some((a) => a.phase === 'no-faults' && a.verdict === 'fails'));
});

test('the run budget cuts the search short and keeps the best schedule found so far', async () => {
  const r = await shrink(schedule(12), async (s) => has(s, 3) && has(s, 7), { maxRuns: 3, maxWallMs: 60_000 });
  assert.equal(r.stoppedBy, 'max-runs');
  assert.equal(r.runs, 3);
  assert.ok(has(r.schedule, 3) && has(r.schedule, 7));
  assert.ok(r.schedule.faults.length <= 12);
});

test('the wall-time budget cuts the search short (fake clock)', async () => {
  let clock = 0;
  const r = await shrink(
    schedule(12),
    async (s) => {
      clock += 1000;
      return has(s, 3) && has(s, 7);
    },
    { maxRuns: 1000, maxWallMs: 2500 },
    { now: () => clock },
  );
  assert.equal(r.stoppedBy, 'max-wall-time');
  assert.equal(r.runs, 3);
});

test('a predicate that throws counts as "does not fail" and is recorded', async () => {
  const r = await shrink(
    schedule(4),
    async (s) => {
      if (s.faults.length === 2 && has(s, 0)) throw new Error('stack did not start');
      return has(s, 2);
    },
    roomy,
  );
  assert.deepEqual(
    r.schedule.faults.map((f) => f.index),
    [2],
  );
  assert.ok(r.attempts.some((a) => a.verdict === 'error' && a.error === 'stack did not start'));
});

test('with confirm, a failure that does not reproduce is not shrunk', async () => {
  const r = await shrink(schedule(4), async () => false, roomy, { confirm: true });
  assert.equal(r.stoppedBy, 'not-reproduced');
  assert.equal(r.runs, 1);
  assert.equal(r.schedule.faults.length, 4);
});

test('ddmin on a plain list', async () => {
  assert.deepEqual(
    await ddmin([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], async (xs) => xs.includes(2) && xs.includes(9)),
    [2, 9],
  );
  assert.deepEqual(await ddmin([1, 2, 3], async (xs) => xs.length > 0), [1]);
  assert.deepEqual(await ddmin([4], async () => true), [4]);
});
