import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CATEGORIES, fixAllure, tagLabels, type AllureResult } from '../../lib/report/allure-fix.ts';
import { parseRun } from '../../lib/report/run-model.ts';
import { normalizeCategoriesConfig, matchCategory, extractErrorMatchingData } from '@allurereport/core-api';
import { rawAllure as raw, stream } from './stream.ts';

const fail = (message: string, exceptionType = 'AssertionError') => ({
  status: 'FAILED' as const,
  message,
  exceptionType,
});

const ndjson = stream([
  {
    name: 'undefined one',
    tags: ['@FULL-003', '@p1', '@full-stack', '@auth', '@chaos'],
    attempts: [{ steps: ['PASSED', 'UNDEFINED'] }],
  },
  { name: 'pending one', attempts: [{ steps: ['PENDING'] }] },
  {
    name: 'flaky one',
    tags: ['@INT-002', '@p0', '@integration'],
    attempts: [{ steps: [fail('first')] }, { steps: ['PASSED'] }],
  },
  {
    name: 'product',
    attempts: [
      {
        steps: ['PASSED', fail('expected 1 to equal 2')],
        afterAttachments: [
          {
            body: "# Diagnostics\nreplay: RBEE_SEED=7 ./run-integration-tests.sh --tags '@X-1'",
            fileName: 'diagnostics.txt',
          },
          { body: '<svg/>', fileName: 'fault-timeline.svg', mediaType: 'image/svg+xml' },
        ],
      },
    ],
  },
  { name: 'hook broke', attempts: [{ steps: ['PASSED'], after: fail('could not heal', 'Error') }] },
  {
    name: 'not applied',
    attempts: [{ steps: ['SKIPPED'], before: 'SKIPPED', beforeAttachments: ['skipped: docker only'] }],
  },
]);

test('allure fix: statuses from the stream — undefined/pending broken, hook failure broken, never passed', () => {
  const { results, containers } = raw(ndjson);
  const report = fixAllure(parseRun(ndjson), results, containers);
  assert.deepEqual(report, { matched: 7, unmatched: [] });
  const by = (n: string) => results.filter((r) => r.name.endsWith(n));
  assert.equal(by('undefined one')[0]!.status, 'broken');
  assert.equal(by('undefined one')[0]!.steps![1]!.status, 'broken');
  assert.equal(by('pending one')[0]!.status, 'broken');
  assert.equal(by('hook broke')[0]!.status, 'broken');
  assert.match(by('hook broke')[0]!.statusDetails!.message!, /^Harness error: After hook/);
  assert.equal(by('product')[0]!.status, 'failed');
  assert.equal(by('not applied')[0]!.status, 'skipped');
});

test('allure fix: a retry-pass keeps the failed attempt and marks the passing one flaky', () => {
  const { results, containers } = raw(ndjson);
  fixAllure(parseRun(ndjson), results, containers);
  const tries = results.filter((r) => r.name.endsWith('flaky one'));
  assert.deepEqual(
    tries.map((r) => [r.status, r.statusDetails?.flaky ?? false]),
    [
      ['failed', false],
      ['passed', true],
    ],
  );
  assert.match(tries[1]!.description!, /Attempt 2 of 2: passed only on retry \(flaky\)/);
});

test('allure fix: labels from tags — id, severity, suite, topic — and the id prefixes the name', () => {
  const { results, containers } = raw(ndjson);
  fixAllure(parseRun(ndjson), results, containers);
  const r = results.find((x) => x.name.includes('undefined one'))!;
  assert.equal(r.name, '[FULL-003] undefined one');
  const labels = r.labels.filter((l) => l.name !== 'tag' && l.name !== 'feature').map((l) => `${l.name}=${l.value}`);
  assert.deepEqual(labels, [
    'scenario_id=FULL-003',
    'severity=critical',
    'parentSuite=full-stack',
    'suite=Feature X',
    'epic=auth',
  ]);
  assert.deepEqual(
    tagLabels(['@p0', '@fault-selftest', '@SELF-001'], 'F').map((l) => l.value),
    ['SELF-001', 'blocker', 'fault-selftest', 'F'],
  );
});

test('allure fix: the diagnostics and pictures move from the After hook to the test body; the replay command is in the description', () => {
  const { results, containers } = raw(ndjson);
  fixAllure(parseRun(ndjson), results, containers);
  const r = results.find((x) => x.name === 'product')!;
  assert.deepEqual(
    r.attachments!.map((a) => a.name),
    ['diagnostics.txt', 'fault-timeline.svg'],
  );
  const c = containers.find((x) => x.children.includes(r.uuid))!;
  assert.deepEqual(c.afters![0]!.steps, []);
  assert.equal(c.afters![0]!.name, 'After hook');
  assert.match(r.description!, /Replay: `RBEE_SEED=7 \.\/run-integration-tests\.sh --tags '@X-1'`/);
  // The failing step carries the result's message, so the report shows the error once, in that step.
  assert.equal(r.steps![1]!.statusDetails!.message, r.statusDetails!.message);
});

test('allure fix: running it twice changes nothing more', () => {
  const { results, containers } = raw(ndjson);
  const run = parseRun(ndjson);
  fixAllure(run, results, containers);
  const once = JSON.stringify({ results, containers });
  fixAllure(run, results, containers);
  assert.equal(JSON.stringify({ results, containers }), once);
});

test('allure categories (as Allure 3 applies them): each outcome lands in its category', () => {
  const { results, containers } = raw(ndjson);
  fixAllure(parseRun(ndjson), results, containers);
  const rules = normalizeCategoriesConfig(CATEGORIES as any);
  const category = (name: string, i = 0) => {
    const r = results.filter((x) => x.name.endsWith(name))[i]!;
    return matchCategory(
      rules,
      extractErrorMatchingData({
        status: r.status as any,
        labels: r.labels,
        error: r.statusDetails,
        flaky: !!r.statusDetails?.flaky,
      } as any),
    )?.name;
  };
  assert.equal(category('product'), 'Product failures');
  assert.equal(category('hook broke'), 'Harness errors (setup, hooks, harness timeouts)');
  assert.equal(category('undefined one'), 'Undefined, ambiguous or pending steps');
  assert.equal(category('pending one'), 'Undefined, ambiguous or pending steps');
  assert.equal(category('not applied'), 'Faults that did not apply (skipped)');
  assert.equal(category('flaky one', 1), 'Flaky: passed on retry');
});

test('allure fix: a result the stream does not know is left alone, but an unimplemented step is never passed', () => {
  const results: AllureResult[] = [
    { uuid: 'x', name: 'stranger', labels: [], status: 'passed', steps: [{ name: 'Given x' }] },
  ];
  const report = fixAllure(parseRun(ndjson), results, []);
  assert.deepEqual(report.unmatched, ['x']);
  assert.equal(results[0]!.status, 'broken');
});
