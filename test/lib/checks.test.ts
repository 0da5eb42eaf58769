import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSseText } from '../../lib/clients/sse.ts';
import {
  checkCompletedStream,
  checkFailedStream,
  checkProgressStream,
  streamEndingProblems,
} from '../../lib/checks/stream.ts';

const ev = (o: object) => `data: ${JSON.stringify(o)}\n\n`;
const good = (n: number) =>
  ev({ type: 'narration', actor: 'queen-rbee' }) +
  ev({ type: 'started', job_id: 'j' }) +
  Array.from({ length: n }, (_, i) => ev({ type: 'token', t: ` w${i}`, i })).join('') +
  ev({ type: 'end', tokens_out: n, stop_reason: 'MAX_TOKENS' }) +
  'data: [DONE]\n\n';

test('a well-formed stream has no problems', async () => {
  assert.deepEqual(checkCompletedStream(await parseSseText(good(5)), 5), []);
});

test('tokens out of order are named', async () => {
  const text = good(3)
    .replace('"i":1', '"i":2')
    .replace(/"i":2}(?![\s\S]*"i":2})/, '"i":1}');
  const problems = checkCompletedStream(await parseSseText(text), 3);
  assert.ok(
    problems.some((p) => /token #1 has index i=2/.test(p)),
    problems.join('\n'),
  );
});

test('a missing [DONE] is a silent truncation', async () => {
  const problems = checkCompletedStream(await parseSseText(good(2).replace('data: [DONE]\n\n', '')), 2);
  assert.ok(
    problems.some((p) => /without \[DONE\]/.test(p)),
    problems.join('\n'),
  );
});

test('a wrong token count is named', async () => {
  const problems = checkCompletedStream(await parseSseText(good(4)), 5);
  assert.ok(
    problems.some((p) => /expected 5 tokens/.test(p)),
    problems.join('\n'),
  );
});

test('the token count is checked against the stop reason: an early stop must come before the limit', async () => {
  const eos = (n: number) => good(n).replace('"stop_reason":"MAX_TOKENS"', '"stop_reason":"EOS"');
  assert.deepEqual(checkCompletedStream(await parseSseText(eos(3)), 5), []);
  assert.match(checkCompletedStream(await parseSseText(eos(5)), 5).join('\n'), /stop_reason EOS but 5 tokens arrived/);
});

test('a failed stream must end with a retryable error and [DONE]', async () => {
  const ok =
    ev({ type: 'token', i: 0 }) + ev({ type: 'error', code: 'WORKER_CRASHED', retryable: true }) + 'data: [DONE]\n\n';
  assert.deepEqual(checkFailedStream(await parseSseText(ok), ['WORKER_CRASHED']), []);
  const silent = ev({ type: 'token', i: 0 });
  assert.match(checkFailedStream(await parseSseText(silent)).join(), /expected an error event.*silently truncated/);
  const notRetryable = ev({ type: 'error', code: 'X', retryable: false }) + 'data: [DONE]\n\n';
  assert.match(checkFailedStream(await parseSseText(notRetryable)).join(), /not retryable/);
});

test('a progress stream whose fraction goes backwards is named', async () => {
  const text =
    ev({ stage: 'started' }) +
    ev({ stage: 'downloading', fraction: 0.5 }) +
    ev({ stage: 'downloading', fraction: 0.4 }) +
    ev({ stage: 'complete' }) +
    'data: [DONE]\n\n';
  assert.match(checkProgressStream(await parseSseText(text)).join(), /fraction went from 0.5 to 0.4/);
  const fine =
    ev({ stage: 'started' }) +
    ev({ stage: 'downloading', fraction: 0.5 }) +
    ev({ stage: 'downloading', fraction: 1 }) +
    ev({ stage: 'complete' }) +
    'data: [DONE]\n\n';
  assert.deepEqual(checkProgressStream(await parseSseText(fine)), []);
});

test('the words a step names for how a stream ends are checked: the last event and [DONE]', async () => {
  assert.deepEqual(streamEndingProblems(await parseSseText(good(2)), 'end', '[DONE]'), []);
  assert.match(
    streamEndingProblems(await parseSseText(good(2)), 'error', '[DONE]').join(),
    /last event is "end", not "error"/,
  );
  const cut = await parseSseText(good(2).replace('data: [DONE]\n\n', ''));
  assert.match(streamEndingProblems(cut, 'end', '[DONE]').join(), /no \[DONE\]/);
  assert.match(streamEndingProblems(cut, 'end', '[END]').join(), /not a terminator the contract knows/);
});
