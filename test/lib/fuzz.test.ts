// The API fuzzer's own logic: the same seed gives the same requests; each mutation's expected answer is
// judged as the contract says (status, code, failing fields, correlation id, never a 5xx); a failure
// report leads with the problem and carries the shrunk counterexample and the seed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { describeCase, fuzzAnswerProblems, fuzzCases, fuzzFailure, fuzzRoutes } from '../../lib/contract/fuzz.ts';

const arb = fuzzCases(fuzzRoutes('hf:a/b'));

test('the same seed gives the same requests', () => {
  const a = fc.sample(arb, { seed: 42, numRuns: 30 }).map(describeCase);
  const b = fc.sample(arb, { seed: 42, numRuns: 30 }).map(describeCase);
  assert.deepEqual(a, b);
  assert.ok(new Set(a.map((d) => d.split(' (')[0])).size >= 3, `several routes: ${a.join('\n')}`);
});

test('answers are judged as the contract says', () => {
  const [route] = fuzzRoutes('hf:a/b');
  const c = {
    route: route!,
    mutation: 'out of range: max_tokens, top_p',
    body: {},
    expect: { status: 400, code: 'VALIDATION_FAILED', fields: ['max_tokens', 'top_p'] },
  };
  const ok = {
    error: {
      code: 'VALIDATION_FAILED',
      message: 'm',
      correlation_id: 'fuzz-1',
      errors: [{ field: 'max_tokens' }, { field: 'top_p' }],
    },
  };
  assert.deepEqual(fuzzAnswerProblems(c, { status: 400, json: ok, correlationId: 'fuzz-1' }), []);
  const partial = { error: { ...ok.error, errors: [{ field: 'max_tokens' }] } };
  assert.match(
    fuzzAnswerProblems(c, { status: 400, json: partial, correlationId: 'fuzz-1' }).join(),
    /does not list top_p/,
  );
  assert.match(
    fuzzAnswerProblems(c, { status: 500, json: { error: { code: 'INTERNAL_ERROR' } }, correlationId: 'x' }).join(),
    /a 500/,
  );
  assert.match(
    fuzzAnswerProblems(c, { status: 400, json: ok, correlationId: 'fuzz-2' }).join(),
    /correlation_id "fuzz-1", sent fuzz-2/,
  );
});

test('a failure report leads with the problem, then the shrunk counterexample and the seed', async () => {
  const e = await fc
    .assert(
      fc.asyncProperty(fc.nat(), async (n) => {
        if (n > 5) throw new Error(`answered 500 for ${n}`);
      }),
      { seed: 7 },
    )
    .then(
      () => undefined,
      (x: Error) => x,
    );
  assert.ok(e, 'the property fails');
  const report = fuzzFailure(e!);
  assert.match(report, /^answered 500 for 6 — shrunk counterexample: \[6\] — fast-check seed 7, path /);
});
