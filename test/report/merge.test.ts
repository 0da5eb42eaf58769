// Shards merged: two shards' streams (each parsed every feature with ids of its own, and ran its share)
// merge into one stream whose verdict, counts and JUnit equal those of the run that ran everything at once.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mergeStreams } from '../../lib/report/merge.ts';
import { summarize } from '../../lib/report/summary.ts';
import { junitXml } from '../../lib/report/junit.ts';
import { parseRun } from '../../lib/report/run-model.ts';
import { stream, type ScenarioSpec } from './stream.ts';

const scenarios: ScenarioSpec[] = [
  { name: 'passes', tags: ['@FULL-001'], attempts: [{ steps: ['PASSED', 'PASSED'] }] },
  { name: 'fails', tags: ['@FULL-002'], attempts: [{ steps: ['PASSED', { status: 'FAILED', message: 'no' }] }] },
  { name: 'flaky', attempts: [{ steps: [{ status: 'FAILED', message: 'once' }] }, { steps: ['PASSED'] }] },
  { name: 'skipped', attempts: [{ steps: ['SKIPPED'] }] },
  { name: 'undefined', attempts: [{ steps: ['UNDEFINED'] }] },
];

/** What `--shard k/2` writes: every definition, with its own ids, and only its share of test cases run. */
function shard(k: number): object[] {
  const all = stream(scenarios)
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Record<string, any>);
  const mine = (i: number) => i % 2 === k - 1;
  const index = (id: string) => Number(/\d+/.exec(id)![0]);
  const kept = all.filter((e) => {
    if (e.testCase) return mine(index(e.testCase.id));
    const tcs =
      e.testCaseStarted?.testCaseId ??
      e.testStepFinished?.testCaseStartedId ??
      e.testCaseFinished?.testCaseStartedId ??
      e.attachment?.testCaseStartedId;
    return tcs === undefined || mine(index(tcs));
  });
  // Each shard's cucumber makes its own ids (uuids): rename the pickles', their steps' and the run's.
  return JSON.parse(JSON.stringify(kept).replace(/"(p\d+|ps\d+-\d+|run)"/g, `"shard${k}-$1"`));
}

test('two shards merged give the counts, names and JUnit totals of the unsharded run', () => {
  const whole = stream(scenarios);
  const merged = mergeStreams([shard(1), shard(2)] as never);
  const a = summarize(whole);
  const b = summarize(merged);
  assert.deepEqual([b.passed, b.failed, b.skipped, b.flaky], [a.passed, a.failed, a.skipped, a.flaky]);
  assert.deepEqual(
    b.scenarios.map((s) => `${s.name}:${s.verdict}`).sort(),
    a.scenarios.map((s) => `${s.name}:${s.verdict}`).sort(),
  );
  const totals = (x: string) =>
    /<testsuites [^>]*tests="(\d+)" failures="(\d+)" errors="(\d+)"/.exec(junitXml(parseRun(x)).xml)?.slice(1);
  assert.ok(totals(whole), 'the JUnit totals were read');
  assert.deepEqual(totals(merged), totals(whole));
  const starts = merged.split('\n').filter((l) => l.startsWith('{"testRunStarted"'));
  assert.equal(starts.length, 1, 'one testRunStarted');
  assert.match(merged.split('\n').filter(Boolean).at(-1)!, /"testRunFinished"/);
});

test('shards of different trees are refused', () => {
  const other = JSON.parse(JSON.stringify(shard(2)).replace(/"p4"|"shard2-p4"/, '"x"'));
  const fewer = (other as Array<Record<string, any>>).filter((e) => !(e.pickle && e.pickle.name === 'undefined'));
  assert.throws(
    () => mergeStreams([shard(1), fewer] as never),
    /parsed features\/x.feature into 4 scenarios, shard 1 into 5/,
  );
});
