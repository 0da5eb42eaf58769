// The live progress of a run (lib/report/progress.ts): what the progress formatter counts, estimates and
// prints, fed with message streams shaped like cucumber-js 12 writes them.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  RunProgress,
  estimateRemainingMs,
  finalLine,
  formatDuration,
  liveLine,
  needsAttention,
  scenarioLabel,
  scenarioLines,
  statusLine,
  type FinishedAttempt,
  type ProgressEnvelope,
} from '../../lib/report/progress.ts';
import { stream } from './stream.ts';

const T0 = 1_700_000_000_000;
const envelopes = (ndjson: string): ProgressEnvelope[] =>
  ndjson
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
/** The closing line scripts/test-all.sh greps for; no progress line may look like it. */
const CLOSING = /^[0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$/;

function feed(ndjson: string, opts: { parallel?: number } = {}) {
  const p = new RunProgress(opts);
  const finished: FinishedAttempt[] = [];
  for (const e of envelopes(ndjson)) {
    const f = p.handle(e);
    if (f) finished.push(f);
  }
  return { p, finished };
}

test('scenario label: the ID tag without @, else the name', () => {
  assert.equal(scenarioLabel(['@p0', '@FULL-001', '@smoke'], 'a job'), 'FULL-001');
  assert.equal(scenarioLabel(['@CHAOS-12'], 'x'), 'CHAOS-12');
  assert.equal(scenarioLabel(['@FOO-001', '@full-001'], 'the name'), 'the name');
});

test('counts final attempts only: a retried attempt is reported but not counted', () => {
  const { p, finished } = feed(
    stream(
      [
        { name: 'a', tags: ['@FULL-001'], attempts: [{ steps: ['PASSED', 'PASSED'] }] },
        {
          name: 'b',
          tags: ['@INT-004'],
          attempts: [{ steps: [{ status: 'FAILED', message: 'expected 200\nbut got 503' }] }, { steps: ['PASSED'] }],
        },
        {
          name: 'c',
          tags: ['@PAT-002'],
          attempts: [{ steps: ['PASSED'], before: 'SKIPPED', beforeAttachments: ['skipped: needs docker\nmore'] }],
        },
        { name: 'd', attempts: [{ steps: ['PASSED', 'UNDEFINED'] }] },
      ],
      { t0: T0 },
    ),
  );
  assert.deepEqual(
    finished.map((f) => [f.label, f.verdict, f.willBeRetried]),
    [
      ['FULL-001', 'passed', false],
      ['INT-004', 'failed', true],
      ['INT-004', 'passed', false],
      ['PAT-002', 'skipped', false],
      ['d', 'failed', false],
    ],
  );
  const s = p.snapshot(T0 + 60_000);
  assert.deepEqual([s.total, s.done, s.passed, s.failed, s.skipped, s.running], [4, 4, 2, 1, 1, 0]);
  assert.equal(s.elapsedMs, 60_000);
  assert.equal(s.etaMs, 0);
  assert.equal(finished[1]!.reason, 'Error: expected 200');
  assert.equal(finished[1]!.where, 'features/x.feature:11');
  assert.equal(finished[3]!.reason, 'skipped: needs docker');
  assert.equal(finished[4]!.reason, 'undefined step "a client submits a job"');
});

test('mid-run: totals come from the planned test cases, running ones are not done', () => {
  const all = envelopes(
    stream(
      [
        { name: 'a', tags: ['@FULL-001'], attempts: [{ steps: ['PASSED'] }] },
        { name: 'b', tags: ['@FULL-002'], attempts: [{ steps: ['PASSED'] }] },
        { name: 'c', tags: ['@FULL-003'], attempts: [{ steps: ['PASSED'] }] },
      ],
      { t0: T0 },
    ),
  );
  const p = new RunProgress();
  // Up to the start of the second scenario.
  let started = 0;
  for (const e of all) {
    if (e.testCaseStarted && ++started === 2) {
      p.handle(e);
      break;
    }
    p.handle(e);
  }
  const s = p.snapshot(T0 + 200);
  assert.deepEqual([s.total, s.done, s.passed, s.running], [3, 1, 1, 1]);
  assert.equal(s.runningNow[0]!.label, 'FULL-002');
  assert.ok(s.etaMs !== undefined && s.etaMs > 0);
  assert.match(liveLine(s), /^\[1\/3\] 1 passed 0 failed 0 skipped · 1 running · 0\.2s elapsed · ~\d+\.\ds left$/);
  assert.match(statusLine(s), /running: FULL-002 \(/);
});

test('parallelism: from the option, or from the workers seen', () => {
  assert.equal(new RunProgress({ parallel: 4 }).parallel, 4);
  const p = new RunProgress();
  const ts = { seconds: 1, nanos: 0 };
  p.handle({ testCaseStarted: { id: 'a', testCaseId: 'x', attempt: 0, timestamp: ts, workerId: '0' } });
  p.handle({ testCaseStarted: { id: 'b', testCaseId: 'y', attempt: 0, timestamp: ts, workerId: '1' } });
  p.handle({ testCaseFinished: { testCaseStartedId: 'a', timestamp: ts, willBeRetried: false } });
  assert.equal(p.parallel, 2);
});

test('time left: mean duration, what is left of the running ones, divided by the parallelism', () => {
  assert.equal(estimateRemainingMs({ notStarted: 3, runningForMs: [], parallel: 1 }), undefined);
  assert.equal(estimateRemainingMs({ notStarted: 0, runningForMs: [], parallel: 2 }), 0);
  assert.equal(estimateRemainingMs({ notStarted: 4, runningForMs: [], meanMs: 10_000, parallel: 2 }), 20_000);
  // 2 × 10 s to start + (10 − 4) s and 0 s left of the running ones, on 2 workers.
  assert.equal(
    estimateRemainingMs({ notStarted: 2, runningForMs: [4_000, 15_000], meanMs: 10_000, parallel: 2 }),
    13_000,
  );
  // One long scenario left: as long as what is left of it, not a share of it.
  assert.equal(estimateRemainingMs({ notStarted: 0, runningForMs: [1_000], meanMs: 10_000, parallel: 4 }), 9_000);
});

test('durations read at a glance', () => {
  assert.deepEqual([850, 12_345, 65_000, 3_725_000].map(formatDuration), ['0.8s', '12.3s', '1m05s', '1h02m']);
});

test('lines: a failure says where and why, a retry says it will be retried, nothing looks like the closing line', () => {
  const { p, finished } = feed(
    stream(
      [
        {
          name: 'b',
          tags: ['@INT-004'],
          attempts: [
            { steps: [{ status: 'FAILED', message: 'boom\nstack' }] },
            { steps: [{ status: 'FAILED', message: 'boom again' }] },
          ],
        },
        { name: 'ok', tags: ['@FULL-001'], attempts: [{ steps: ['PASSED'] }] },
      ],
      { t0: T0 },
    ),
  );
  const s = p.snapshot(T0 + 5_000);
  const [retry, failed, passed] = finished.map((f) => scenarioLines(f, s));
  assert.match(retry![0]!, /INT-004 failed, will be retried .* features\/x\.feature:10: Error: boom$/);
  assert.deepEqual(failed!.length, 2);
  assert.match(failed![0]!, /INT-004 FAILED \(attempt 2\) \d+\.\ds features\/x\.feature:10$/);
  assert.equal(failed![1], '    Error: boom again');
  assert.match(passed![0]!, /^\[2\/2\] FULL-001 passed \d+\.\ds$/);
  assert.deepEqual(finished.map(needsAttention), [true, true, false]);
  for (const line of [...retry!, ...failed!, ...passed!, liveLine(s), statusLine(s), finalLine(s)])
    assert.doesNotMatch(line, CLOSING);
  assert.equal(finalLine(s), 'progress: 2/2 scenarios in 5.0s (1 at a time): 1 passed 1 failed 0 skipped');
});

test('the live line never wraps', () => {
  const { p } = feed(stream([{ name: 'a', attempts: [{ steps: ['PASSED'] }] }], { t0: T0 }));
  const line = liveLine(p.snapshot(T0 + 1000), 30);
  assert.ok(line.length <= 29, line);
  assert.ok(line.endsWith('…'));
});

test('scenarios that share an ID (an outline’s examples) are told apart by their line', () => {
  const { finished } = feed(
    stream(
      [
        { name: 'ex 1', tags: ['@FULL-009'], attempts: [{ steps: ['PASSED'] }] },
        { name: 'ex 2', tags: ['@FULL-009'], attempts: [{ steps: ['PASSED'] }] },
        { name: 'other', tags: ['@FULL-001'], attempts: [{ steps: ['PASSED'] }] },
      ],
      { t0: T0 },
    ),
  );
  assert.deepEqual(
    finished.map((f) => f.label),
    ['FULL-009:10', 'FULL-009:11', 'FULL-001'],
  );
});

test('only scenarios with a test case are planned (cucumber sends a pickle for every parsed scenario)', () => {
  const all = envelopes(
    stream(
      [
        { name: 'in', tags: ['@FULL-009'], attempts: [{ steps: ['PASSED'] }] },
        { name: 'filtered out', tags: ['@FULL-009'], attempts: [{ steps: ['PASSED'] }] },
      ],
      { t0: T0 },
    ),
  );
  const p = new RunProgress();
  const finished = all
    .filter((e) => !(e.testCase?.pickleId === 'p1') && !(e.testCaseStarted?.testCaseId === 'tc1'))
    .map((e) => p.handle(e))
    .filter((f) => f !== undefined);
  assert.deepEqual(
    finished.map((f) => f.label),
    ['FULL-009'],
  );
  assert.equal(p.snapshot(T0).total, 1);
});

test('the error line is the exception’s own first line, named by its type, and kept short', () => {
  const { finished } = feed(
    stream(
      [
        {
          name: 'a',
          tags: ['@FULL-001'],
          attempts: [
            {
              steps: [
                {
                  status: 'FAILED',
                  exceptionType: '_AssertionError',
                  message: `expected [ ${'x'.repeat(500)} ] to deeply equal []`,
                },
              ],
            },
          ],
        },
      ],
      { t0: T0 },
    ),
  );
  assert.match(finished[0]!.reason!, /^AssertionError: expected \[ x+…$/);
  assert.equal(finished[0]!.reason!.length, 300);
});

test('a run whose workers are slow to start says it is waiting', () => {
  const p = new RunProgress();
  for (const e of envelopes(stream([{ name: 'a', attempts: [{ steps: ['PASSED'] }] }], { t0: T0 }))) {
    if (e.testCaseStarted) break;
    p.handle(e);
  }
  assert.equal(statusLine(p.snapshot(T0 + 31_000)), '[0/1] 31.0s elapsed · waiting for the first scenario to start');
});
