import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMetrics, metricValue } from '../../lib/clients/metrics.ts';
import { redact } from '../../lib/report/redact.ts';
import { summarize, summaryLine } from '../../lib/report/summary.ts';
import { loadConfig } from '../../lib/config.ts';

test('metrics: samples, labels and exemplars are parsed', () => {
  const s = parseMetrics(
    '# TYPE x counter\nx_total{route="/a",code="200"} 3\nh_bucket{le="0.1"} 1 # {correlation_id="c-1"} 0.05 1700000000.1\n# EOF',
  );
  assert.equal(metricValue(s, 'x_total', { code: '200' }), 3);
  assert.deepEqual(s[1]?.exemplar, { labels: { correlation_id: 'c-1' }, value: 0.05 });
});

test('redact removes known secrets, bearer tokens and JWTs', () => {
  const out = redact(
    'token=s3cr3t-token-value Authorization: Bearer abcdefghijkl jwt eyJhbGciOi.eyJzdWIiOiJ4.c2lnbmF0dXJl',
    ['s3cr3t-token-value'],
  );
  assert.ok(!out.includes('s3cr3t') && !out.includes('abcdefghijkl') && !out.includes('eyJzdWIiOiJ4'), out);
});

const msg = (o: object) => JSON.stringify(o);
function stream(results: Array<[string, string[]]>): string {
  // results: pickle id → statuses of each attempt's single step
  const lines: string[] = [];
  for (const [pid, attempts] of results) {
    lines.push(msg({ pickle: { id: pid, name: `scenario ${pid}`, uri: 'f.feature', tags: [] } }));
    lines.push(msg({ testCase: { id: `tc-${pid}`, pickleId: pid } }));
    attempts.forEach((status, i) => {
      const id = `${pid}-${i}`;
      lines.push(msg({ testCaseStarted: { id, testCaseId: `tc-${pid}` } }));
      lines.push(
        msg({
          testStepFinished: {
            testCaseStartedId: id,
            testStepResult: { status, message: status === 'FAILED' ? 'boom' : undefined },
          },
        }),
      );
      lines.push(msg({ testCaseFinished: { testCaseStartedId: id, willBeRetried: i < attempts.length - 1 } }));
    });
  }
  return lines.join('\n');
}

test('summary: undefined and ambiguous count as failed, retry-pass as flaky', () => {
  const s = summarize(
    stream([
      ['a', ['PASSED']],
      ['b', ['UNDEFINED']],
      ['c', ['AMBIGUOUS']],
      ['d', ['FAILED', 'PASSED']],
      ['e', ['SKIPPED']],
      ['f', ['PENDING']],
    ]),
  );
  assert.deepEqual([s.passed, s.failed, s.skipped, s.flaky], [2, 3, 1, 1]);
  assert.equal(summaryLine(s), '2 passed, 3 failed, 1 skipped');
});

test('config: a bad value fails with one line naming it', () => {
  assert.throws(() => loadConfig({ RBEE_RUNTIME: 'kubernetes' }), /bad configuration: RBEE_RUNTIME="kubernetes"/);
  assert.equal(loadConfig({}).runtime, 'auto');
});
