import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MIB, afterWarmUp, formatByteTrend, linearTrend } from '../../lib/observe/trend.ts';

const close = (a: number, b: number, eps = 1e-6) => assert.ok(Math.abs(a - b) <= eps, `${a} ≠ ${b}`);

test('a straight line gives its slope per minute, whatever the time origin', () => {
  const t0 = 1_700_000_000_000;
  const samples = Array.from({ length: 31 }, (_, i) => ({ at: t0 + i * 1000, value: 100 * MIB + i * 0.5 * MIB }));
  const t = linearTrend(samples);
  assert.equal(t.n, 31);
  close(t.perMinute / MIB, 30); // 0.5 MiB a second
  close(t.fittedStart / MIB, 100);
  close(t.fittedEnd / MIB, 115);
  assert.equal(t.from, t0);
  assert.equal(t.spanMs, 30_000);
  assert.equal(t.min, 100 * MIB);
  assert.equal(t.max, 115 * MIB);
});

test('a flat sawtooth (garbage collection) has no slope; one rising with it has the rise', () => {
  const saw = (i: number) => ((i % 5) - 2) * MIB; // −2 … +2 MiB, mean 0
  const flat = Array.from({ length: 60 }, (_, i) => ({ at: i * 1000, value: 80 * MIB + saw(i) }));
  assert.ok(Math.abs(linearTrend(flat).perMinute / MIB) < 0.5, formatByteTrend(linearTrend(flat)));
  const leaking = flat.map((s, i) => ({ at: s.at, value: s.value + i * (MIB / 6) })); // +10 MiB/min
  close(linearTrend(leaking).perMinute / MIB, 10, 0.5);
});

test('order does not matter, non-finite samples are left out, and degenerate series say so', () => {
  const pts = [
    { at: 2000, value: 4 },
    { at: 0, value: 0 },
    { at: 1000, value: 2 },
    { at: 500, value: NaN },
  ];
  close(linearTrend(pts).perMinute, 120);
  assert.equal(linearTrend(pts).n, 3);
  const empty = linearTrend([]);
  assert.equal(empty.n, 0);
  assert.ok(Number.isNaN(empty.perMinute));
  assert.equal(formatByteTrend(empty), 'no samples');
  const instant = linearTrend([
    { at: 5, value: 1 },
    { at: 5, value: 3 },
  ]);
  assert.ok(Number.isNaN(instant.perMinute));
  assert.equal(instant.fittedStart, 2);
  assert.match(formatByteTrend(instant), /^no slope/);
});

test('afterWarmUp keeps the samples from the warm-up on, counted from the first sample', () => {
  const s = [{ at: 100 }, { at: 1100 }, { at: 2100 }, { at: 3100 }];
  assert.deepEqual(afterWarmUp(s, 2000), [{ at: 2100 }, { at: 3100 }]);
  assert.deepEqual(afterWarmUp(s, 0), s);
  assert.deepEqual(afterWarmUp([], 10), []);
});

test('formatByteTrend says the slope in MiB per minute', () => {
  const t = linearTrend([
    { at: 0, value: 10 * MIB },
    { at: 60_000, value: 11 * MIB },
  ]);
  assert.equal(
    formatByteTrend(t),
    '+1.00 MiB/min over 2 samples in 60.0 s (fitted 10.0 → 11.0 MiB; min 10.0, max 11.0)',
  );
});
