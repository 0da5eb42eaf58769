import { test } from 'node:test';
import assert from 'node:assert/strict';
import { junitXml, xmlEscape } from '../../lib/report/junit.ts';
import { parseRun } from '../../lib/report/run-model.ts';
import { stream } from './stream.ts';

const fail = (message: string, exceptionType = 'AssertionError') => ({
  status: 'FAILED' as const,
  message,
  exceptionType,
});
const testcase = (xml: string, name: string) =>
  xml.match(new RegExp(`<testcase [^>]*name="[^"]*${name}[^"]*"[\\s\\S]*?</testcase>`))?.[0] ?? '';

const run = parseRun(
  stream([
    { name: 'passes', tags: ['@FULL-001', '@p0'], attempts: [{ steps: ['PASSED'] }] },
    {
      name: 'flaky one',
      attempts: [
        {
          steps: [fail('first try broke')],
          afterAttachments: [{ body: '# Diagnostics: first try\nreplay: x', fileName: 'diagnostics.txt' }],
        },
        { steps: ['PASSED'] },
      ],
    },
    { name: 'undefined one', attempts: [{ steps: ['UNDEFINED'] }] },
    { name: 'pending one', attempts: [{ steps: ['PENDING'] }] },
    {
      name: 'product failure',
      attempts: [
        {
          steps: [fail('expected <a> & "b"')],
          afterAttachments: [
            {
              body: '## Service logs since the scenario started\nAuthorization: Bearer abcdefghijklmnop',
              fileName: 'diagnostics.txt',
            },
          ],
        },
      ],
    },
    {
      name: 'skipped one',
      attempts: [{ steps: ['SKIPPED'], before: 'SKIPPED', beforeAttachments: ['skipped: docker only'] }],
    },
  ]),
);
const { xml, totals } = junitXml(run);

test('junit: totals count undefined/pending as errors, flaky as passed, skipped as skipped', () => {
  assert.deepEqual(totals, { tests: 6, failures: 1, errors: 2, skipped: 1, flaky: 1 });
  assert.match(xml, /<testsuites name="rbee acceptance" tests="6" failures="1" errors="2" skipped="1"/);
});

test('junit: a scenario that passed on retry is a passed testcase with a flakyFailure holding the first attempt', () => {
  const tc = testcase(xml, 'flaky one');
  assert.match(tc, /<flakyFailure message="AssertionError: first try broke" type="product"><stackTrace>/);
  assert.match(tc, /<flakyFailure[\s\S]*<system-out>[\s\S]*# Diagnostics: first try[\s\S]*<\/flakyFailure>/);
  assert.doesNotMatch(tc, /<failure|<error/);
  assert.match(tc, /<property name="attempts" value="2"\/>/);
});

test('junit: undefined and pending are errors naming the step; product failures are failures with diagnostics in system-out', () => {
  assert.match(
    testcase(xml, 'undefined one'),
    /<error message="Undefined step: &quot;Given a stack with 1 hive of 1 worker&quot;" type="definition">/,
  );
  assert.match(testcase(xml, 'pending one'), /<error message="Pending step: [^"]*" type="definition">/);
  const tc = testcase(xml, 'product failure');
  assert.match(tc, /<failure message="AssertionError: expected &lt;a&gt; &amp; &quot;b&quot;" type="product">/);
  assert.match(tc, /<system-out>FAILED    Given a stack[\s\S]*## Service logs since the scenario started/);
  assert.doesNotMatch(tc, /abcdefghijklmnop/, 'bearer tokens are redacted');
  assert.match(testcase(xml, 'skipped one'), /<skipped message="skipped: docker only"\/>/);
});

test('junit: the scenario id prefixes the name and is a property', () => {
  const tc = testcase(xml, 'passes');
  assert.match(tc, /name="\[FULL-001\] passes"/);
  assert.match(tc, /<property name="id" value="FULL-001"\/>/);
});

test('junit: characters XML cannot hold are replaced, markup is escaped', () => {
  assert.equal(xmlEscape('a\u0000b<c>&"'), 'a\uFFFDb&lt;c&gt;&amp;&quot;');
});

test('junit: every testcase names its feature file and line (CI links a failure to the Gherkin)', () => {
  const { xml } = junitXml(run);
  const tc = testcase(xml, 'passes');
  assert.match(tc, /file="features\/x.feature" line="\d+"/);
});
