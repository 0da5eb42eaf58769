import { test } from 'node:test';
import assert from 'node:assert/strict';
import { faultTimelineSvg, latencyHistogramSvg, niceStep, percentile } from '../../lib/report/svg.ts';
import { scenarioPictures, HISTOGRAM_MIN_SAMPLES } from '../../lib/report/pictures.ts';
import { externalLoads } from '../../lib/report/offline.ts';

const bars = (svg: string) =>
  [
    ...svg.matchAll(/<rect x="[^"]+" y="[^"]+" width="[^"]+" height="[^"]+" fill="#4a7fc1"><title>([^<]*)<\/title>/g),
  ].map((m) => m[1]!);
const wellFormed = (svg: string) => {
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"[^>]*>[\s\S]*<\/svg>$/);
  const open: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([a-z]+)\b[^>]*?(\/?)>/g)) {
    if (m[3]) continue; // self-closing
    if (!m[1]) open.push(m[2]!);
    else assert.equal(open.pop(), m[2], `</${m[2]}> closes the element that is open`);
  }
  assert.deepEqual(open, [], 'every element that opens closes');
  assert.deepEqual(externalLoads(svg), [], 'a picture fetches nothing');
};

test('percentiles are nearest-rank; bin widths are round numbers', () => {
  const v = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.deepEqual(
    [50, 95, 99, 100].map((p) => percentile(v, p)),
    [50, 95, 99, 100],
  );
  assert.deepEqual([niceStep(100, 10), niceStep(37, 10), niceStep(0.7, 10)], [10, 5, 0.1]);
});

test('latency histogram: every sample lands in one bar, percentiles are marked, the title is escaped', () => {
  const samples = [...Array(90).fill(12), ...Array(9).fill(48), 250];
  const svg = latencyHistogramSvg(samples, 'p95 <latency> & more');
  wellFormed(svg);
  const counts = bars(svg).map((t) => Number(t.split(': ')[1]));
  assert.equal(
    counts.reduce((a, b) => a + b, 0),
    samples.length,
  );
  assert.match(svg, /100 samples · min 12 ms · p50 12 ms · p95 48 ms · p99 48 ms · max 250 ms/);
  assert.match(svg, />p95<\/text>/);
  assert.match(svg, /p95 &lt;latency&gt; &amp; more/);
});

test('latency histogram: one sample, identical samples and no samples still draw', () => {
  for (const s of [[5], [7, 7, 7], []]) wellFormed(latencyHistogramSvg(s, 't'));
  assert.match(latencyHistogramSvg([], 't'), /no samples/);
  assert.equal(bars(latencyHistogramSvg([7, 7, 7], 't')).length, 1);
});

test('fault timeline: one bar per fault, healed or not, with what proved the heal', () => {
  const t0 = 1_000_000;
  const svg = faultTimelineSvg(
    [
      { kind: 'pause', target: 'hive-a', appliedAt: t0 + 1000, healedAt: t0 + 3000, healCheck: 'health answered 200' },
      { kind: 'crash', target: 'worker w-1 on hive-a', appliedAt: t0 + 2000, detail: 'SIGKILL pid 42' },
    ],
    { start: t0, end: t0 + 5000 },
  );
  wellFormed(svg);
  assert.match(svg, /pause hive-a: applied at \+1000 ms, healed at \+3000 ms — health answered 200/);
  assert.match(svg, /crash worker w-1 on hive-a \(SIGKILL pid 42\): applied at \+2000 ms, never healed/);
  assert.match(svg, />healed \+3\.0 s</);
});

test('pictures: a fault timeline when faults were injected, a histogram per often-measured latency', () => {
  const many = Array.from({ length: HISTOGRAM_MIN_SAMPLES }, (_, i) => ({ name: 'job latency', value: i, unit: 'ms' }));
  const few = [{ name: 'crash detection', value: 80, unit: 'ms' }];
  assert.deepEqual(
    scenarioPictures([...many, ...few], [], { start: 0, end: 1 }).map((p) => p.fileName),
    ['latency-job-latency.svg'],
  );
  assert.deepEqual(
    scenarioPictures(few, [{ kind: 'crash', target: 'x', appliedAt: 0 }], { start: 0, end: 1 }).map((p) => p.fileName),
    ['fault-timeline.svg'],
  );
  assert.deepEqual(scenarioPictures(few, [], { start: 0, end: 1 }), []);
});
