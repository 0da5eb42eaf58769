import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRun, attemptsByPickle, verdict, outcome } from '../../lib/report/run-model.ts';
import { classify } from '../../lib/report/classify.ts';
import { summarize, summaryLine } from '../../lib/report/summary.ts';
import { stream } from './stream.ts';

const fail = (message: string, exceptionType = 'AssertionError') => ({
  status: 'FAILED' as const,
  message,
  exceptionType,
});

test('run model: steps carry their keyword and text, hooks are told apart', () => {
  const run = parseRun(stream([{ name: 'a', attempts: [{ steps: ['PASSED', 'PASSED'] }] }]));
  const a = run.attempts[0]!;
  assert.deepEqual(
    a.steps.map((s) => [s.kind, s.text]),
    [
      ['before', 'Before hook (support/hooks.ts:43)'],
      ['step', 'Given a stack with 1 hive of 1 worker'],
      ['step', 'When a client submits a job'],
      ['after', 'After hook (support/hooks.ts:62)'],
    ],
  );
  assert.equal(run.pickles.get(a.pickleId)?.featureName, 'Feature X');
});

test('verdicts: undefined, ambiguous, pending and a failing After hook fail; retry-pass is flaky; skipped is skipped', () => {
  const run = parseRun(
    stream([
      { name: 'pass', attempts: [{ steps: ['PASSED'] }] },
      { name: 'undef', attempts: [{ steps: ['PASSED', 'UNDEFINED'] }] },
      { name: 'ambig', attempts: [{ steps: ['AMBIGUOUS'] }] },
      { name: 'pending', attempts: [{ steps: ['PENDING'] }] },
      { name: 'hook', attempts: [{ steps: ['PASSED'], after: fail('teardown broke', 'Error') }] },
      { name: 'flaky', attempts: [{ steps: [fail('boom')] }, { steps: ['PASSED'] }] },
      { name: 'skip', attempts: [{ steps: ['SKIPPED'], before: 'SKIPPED' }] },
      { name: 'twice', attempts: [{ steps: [fail('boom')] }, { steps: [fail('boom again')] }] },
    ]),
  );
  const v = [...attemptsByPickle(run).values()].map((tries) => verdict(tries));
  assert.deepEqual(v, ['passed', 'failed', 'failed', 'failed', 'failed', 'flaky', 'skipped', 'failed']);
  const s = summarize(run);
  assert.deepEqual([s.passed, s.failed, s.skipped, s.flaky], [2, 5, 1, 1]);
  assert.equal(summaryLine(s), '2 passed, 5 failed, 1 skipped');
});

test('an attempt with no finished step is not a pass', () => {
  const run = parseRun(
    stream([{ name: 'a', attempts: [{ steps: [] }] }])
      .split('\n')
      .filter((l) => !l.includes('testStepFinished') && !l.includes('testCaseFinished'))
      .join('\n'),
  );
  assert.equal(outcome(run.attempts[0]!).status, 'UNKNOWN');
  assert.equal(summarize(run).failed, 1);
});

test('classify: product failures, harness errors, definition errors and faults that did not apply', () => {
  const run = parseRun(
    stream([
      { name: 'assert', attempts: [{ steps: ['PASSED', fail('expected 1 to equal 2')] }] },
      {
        name: 'wait',
        attempts: [{ steps: [fail('timed out after 5000 ms waiting for x; last observation: y', 'WaitTimeoutError')] }],
      },
      {
        name: 'setup',
        attempts: [{ steps: [fail('queen never became healthy within 20000 ms (ECONNREFUSED)', 'Error')] }],
      },
      {
        name: 'timeout',
        attempts: [
          { steps: [fail('function timed out, ensure the promise resolves within 120000 milliseconds', 'Error')] },
        ],
      },
      { name: 'hook', attempts: [{ steps: ['PASSED'], after: fail('could not heal pause of hive-a', 'Error') }] },
      { name: 'undef', attempts: [{ steps: ['UNDEFINED'] }] },
      { name: 'pending', attempts: [{ steps: ['PENDING'] }] },
      {
        name: 'fault',
        attempts: [
          {
            steps: ['SKIPPED'],
            before: 'SKIPPED',
            beforeAttachments: ['skipped: only the docker runtime can partition'],
          },
        ],
      },
      { name: 'other', attempts: [{ steps: [fail('connect ECONNREFUSED 127.0.0.1:1', 'TypeError')] }] },
    ]),
  );
  const c = run.attempts.map(classify);
  assert.deepEqual(
    c.map((x) => [x.status, x.kind]),
    [
      ['failed', 'product'],
      ['failed', 'product'],
      ['broken', 'harness'],
      ['broken', 'harness'],
      ['broken', 'harness'],
      ['broken', 'definition'],
      ['broken', 'definition'],
      ['skipped', 'not-applied'],
      ['broken', 'other'],
    ],
  );
  assert.match(c[0]!.message!, /^AssertionError: expected 1 to equal 2$/);
  assert.match(c[1]!.message!, /last observation: y/);
  assert.match(c[2]!.message!, /^Harness error \(a service of the stack never became healthy\): /);
  assert.match(c[4]!.message!, /^Harness error: After hook \(support\/hooks.ts:62\) failed: Error: could not heal/);
  assert.match(c[5]!.message!, /^Undefined step: "Given a stack with 1 hive of 1 worker"/);
  assert.match(c[6]!.message!, /^Pending step: /);
  assert.equal(c[7]!.message, 'skipped: only the docker runtime can partition');
  assert.equal(c[0]!.step, 'When a client submits a job');
});
