// The stakeholders' trends: a run's point is read from its attachments, the kept history survives a torn
// line and keeps the newest points, and the charts name every series.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { appendTrend, trendCharts, trendPoint, CHAOS_SUMMARY_FILE, type TrendPoint } from '../../lib/report/trends.ts';
import type { RunModel } from '../../lib/report/run-model.ts';

function run(): RunModel {
  const att = (fileName: string, body: unknown) => ({
    mediaType: 'application/json',
    fileName,
    body: JSON.stringify(body),
    base64: false,
  });
  const attempt = (id: string, status: 'PASSED' | 'FAILED', attachments: ReturnType<typeof att>[]) => ({
    id,
    pickleId: id,
    testCaseId: id,
    attempt: 0,
    startedAt: 0,
    finishedAt: 1,
    willBeRetried: false,
    steps: [{ testStepId: 's', kind: 'step' as const, text: 'x', status, durationMs: 1 }],
    attachments,
  });
  return {
    pickles: new Map([
      ['p1', { id: 'p1', name: 'chaos', uri: 'f', tags: ['@CHAOS-001'], featureName: 'f' }],
      ['p2', { id: 'p2', name: 'crash', uri: 'f', tags: ['@FULL-005'], featureName: 'f' }],
    ]),
    attempts: [
      attempt('p1', 'FAILED', [att(CHAOS_SUMMARY_FILE, { anomalies: { lost: 2 }, admissionP99Ms: 80 })]),
      attempt('p2', 'PASSED', [
        att('measurements.json', [
          { name: 'crash detection (kill → hive log)', value: 12, unit: 'ms' },
          { name: 'job wall time', value: 900, unit: 'ms' },
        ]),
      ]),
    ],
  };
}

test('a run point counts verdicts, anomalies by kind, detection times and the admission p99', () => {
  const p = trendPoint(run(), { runId: 'r1', profile: 'nightly', runtime: 'process', at: new Date(0) });
  assert.equal(p.passed, 1);
  assert.equal(p.failed, 1);
  assert.deepEqual(p.anomalies, { lost: 2 });
  assert.deepEqual(p.timings, { 'FULL-005 crash detection (kill → hive log)': 12 });
  assert.equal(p.admissionP99Ms, 80);
});

test('the kept history drops a torn line, keeps the newest points, and every chart is drawn', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rbee-trends-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'trends.jsonl');
  fs.writeFileSync(file, '{"torn":\n');
  let points: TrendPoint[] = [];
  for (let i = 0; i < 70; i++)
    points = appendTrend(file, trendPoint(run(), { runId: `r${i}`, profile: 'default', runtime: 'process' }));
  assert.equal(points.length, 60);
  assert.equal(points.at(-1)!.runId, 'r69');
  const charts = trendCharts(points);
  assert.equal(charts.length, 4);
  assert.match(charts[1]!, /lost/);
  assert.match(charts[2]!, /FULL-005 crash detection/);
});
