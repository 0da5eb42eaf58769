import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sampleErrors, startSampling, valuesOf } from '../../lib/observe/sample.ts';

test('samples at its pace until stopped, values and errors alike', async () => {
  let n = 0;
  const s = startSampling(
    async () => {
      n++;
      if (n === 2) throw new Error('boom');
      return n;
    },
    { everyMs: 10, maxMs: 5000 },
  );
  while (s.samples.length < 5) await new Promise((r) => setTimeout(r, 5));
  const all = await s.stop();
  const count = all.length;
  await new Promise((r) => setTimeout(r, 40));
  assert.equal(s.samples.length, count, 'no sample after stop()');
  assert.ok(count >= 5);
  assert.deepEqual(
    valuesOf(all)
      .map((v) => v.value)
      .slice(0, 3),
    [1, 3, 4],
  );
  assert.equal(all[1]!.error, 'boom');
  assert.match(sampleErrors(all)[0]!, /^\+0\.\d s: boom$/);
  for (let i = 1; i < all.length; i++) assert.ok(all[i]!.at >= all[i - 1]!.at + 8, 'one probe every ~10 ms');
});

test('ends by itself at maxMs, and a hung probe counts as an error at its bound', async () => {
  const s = startSampling(() => new Promise<number>(() => {}), { everyMs: 10, maxMs: 60, probeTimeoutMs: 20 });
  const t0 = Date.now();
  while (Date.now() - t0 < 2000 && s.samples.length < 3) await new Promise((r) => setTimeout(r, 5));
  const all = await s.stop();
  assert.ok(all.length >= 2 && all.length <= 5, `${all.length} samples`);
  assert.ok(all.every((x) => x.error === 'no answer within 20 ms'));
  assert.ok(Date.now() - t0 < 1000);
});

test('sampleErrors caps the list', () => {
  const samples = Array.from({ length: 15 }, (_, i) => ({ at: i * 1000, ms: 1, error: `e${i}` }));
  const lines = sampleErrors(samples, 3);
  assert.deepEqual(lines, ['+0.0 s: e0', '+1.0 s: e1', '+2.0 s: e2', '… 12 more']);
});
