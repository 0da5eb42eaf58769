import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GiveUp, WaitTimeoutError, eventually, timeUntil } from '../../lib/observe/eventually.ts';

test('returns the probe value once it stops throwing', async () => {
  let n = 0;
  const v = await eventually(
    () => {
      if (++n < 3) throw new Error(`only ${n}`);
      return n;
    },
    { within: 1000, every: 5, what: 'three calls' },
  );
  assert.equal(v, 3);
});

test('times out with the last observation in the message', async () => {
  let n = 0;
  await assert.rejects(
    eventually(
      () => {
        throw new Error(`state is ${++n}`);
      },
      { within: 100, every: 10, what: 'the impossible' },
    ),
    (e: unknown) =>
      e instanceof WaitTimeoutError &&
      /waiting for the impossible; last observation: state is \d+/.test(e.message) &&
      e.attempts > 1,
  );
});

test('a probe that hangs is cut off at the bound', async () => {
  const t0 = Date.now();
  await assert.rejects(
    eventually(() => new Promise(() => {}), { within: 100, what: 'a hung probe' }),
    WaitTimeoutError,
  );
  assert.ok(Date.now() - t0 < 1000);
});

test('GiveUp stops waiting at once', async () => {
  const t0 = Date.now();
  await assert.rejects(
    eventually(
      () => {
        throw new GiveUp('process exited');
      },
      { within: 5000, what: 'x' },
    ),
    /process exited/,
  );
  assert.ok(Date.now() - t0 < 500);
});

test('timeUntil measures how long the condition took', async () => {
  const start = Date.now();
  const ms = await timeUntil(() => assert.ok(Date.now() - start >= 50), { within: 1000, every: 5, what: '50 ms' });
  assert.ok(ms >= 45 && ms < 500, `measured ${ms}`);
});
