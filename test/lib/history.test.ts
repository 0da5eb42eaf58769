import { test } from 'node:test';
import assert from 'node:assert/strict';
import { History, describeEntry, tokensOf } from '../../lib/workload/history.ts';
import { LatencyHistogram, formatLatency, latenciesOf } from '../../lib/workload/latency.ts';
import { Job } from '../../lib/clients/job.ts';
import { parseSseText } from '../../lib/clients/sse.ts';

const refusal = (status: number, body: object, headers: Record<string, string> = {}) => ({
  status,
  headers,
  error: { status, headers, text: JSON.stringify(body), json: body, ms: 3 },
});

test('a refusal records its code, retryable flag and retry-after (body first, else the header)', () => {
  const h = new History();
  const a = h.recordSubmitted({ correlationId: 'a', request: { model: 'm', max_tokens: 2 } });
  h.recordAnswer(
    a,
    refusal(
      503,
      { error: { code: 'HIVE_UNAVAILABLE', message: 'down', retryable: true, retry_after_ms: 700 } },
      { 'retry-after': '1' },
    ),
    3,
  );
  assert.deepEqual(a.admission, {
    status: 503,
    atMs: 3,
    stream: false,
    code: 'HIVE_UNAVAILABLE',
    message: 'down',
    retryable: true,
    retryAfterMs: 700,
  });
  assert.equal(a.outcome, 'refused');
  assert.equal(a.durations.totalMs, 3);
  const b = h.recordSubmitted({ correlationId: 'b', request: { model: 'm', max_tokens: 2 } });
  h.recordAnswer(b, refusal(503, { error: { code: 'NO_CAPACITY' } }, { 'retry-after': '2' }), 3);
  assert.equal(b.admission?.retryAfterMs, 2000);
  const c = h.recordSubmitted({ correlationId: 'c', request: { model: 'm', max_tokens: 2 } });
  h.recordAnswer(c, refusal(502, { oops: true }), 3);
  assert.deepEqual(c.failure, { code: 'HTTP_502' });
});

test('once a job has terminated or was abandoned, later records are ignored', () => {
  const h = new History();
  const e = h.recordSubmitted({ correlationId: 'x', request: { model: 'm', max_tokens: 2 } });
  h.recordAnswer(e, { status: 200, headers: {} }, 2);
  h.recordEvent(e, { type: 'token', i: 0 }, 4);
  h.recordAbandoned(e, 'gave up', 123);
  h.recordEvent(e, { type: 'token', i: 1 }, 5);
  h.recordStreamEnd(e, { done: false, malformed: [], transportError: 'aborted' }, 6);
  assert.equal(e.outcome, 'pending');
  assert.equal(e.events.length, 1);
  assert.equal(e.finishedAt, 123);
  assert.deepEqual(h.open, []);
  assert.deepEqual(h.countByOutcome(), { end: 0, error: 0, cut: 0, refused: 0, pending: 1 });
});

test('recordJob takes a job driven with Job.begin/Job.submit after the fact', async () => {
  const job = new Job({ model: 'm', prompt: 'p', max_tokens: 2 }, 'cid-7');
  job.status = 200;
  job.headers = { 'x-correlation-id': 'cid-7' };
  const result = await parseSseText(
    'data: {"type":"narration","actor":"queen-rbee","job_id":"j-7","worker_id":"w-2","node_name":"hive-b"}\n\n' +
      'data: {"type":"token","t":"a","i":0}\n\ndata: {"type":"token","t":"b","i":1}\n\n' +
      'data: {"type":"end","tokens_out":2,"stop_reason":"MAX_TOKENS"}\n\ndata: [DONE]\n\n',
  );
  job.events.push(...result.events);
  job.result = result;
  const h = new History();
  const e = h.recordJob(job);
  assert.equal(e.outcome, 'end');
  assert.deepEqual({ ...e.dispatch, atMs: 0 }, { job_id: 'j-7', worker_id: 'w-2', node_name: 'hive-b', atMs: 0 });
  assert.equal(tokensOf(e).length, 2);
  assert.equal(describeEntry(e), 'job #0 (cid-7, j-7 on w-2@hive-b)');
  // Not answered yet: pending.
  assert.equal(h.recordJob(new Job({ model: 'm', prompt: 'p', max_tokens: 2 }, 'cid-8')).outcome, 'pending');
});

test('HDR latency summaries in ms, empty histograms, and the compressed form round-trips', () => {
  const hist = new LatencyHistogram('admission');
  assert.deepEqual(hist.summary(), { count: 0, mean: NaN, p50: NaN, p90: NaN, p99: NaN, max: NaN });
  assert.equal(formatLatency('admission', hist.summary()), 'admission: no samples');
  for (let v = 1; v <= 100; v++) hist.record(v); // 1 … 100 ms
  hist.record(-1);
  hist.record(Number.NaN);
  const s = hist.summary();
  assert.equal(s.count, 100);
  assert.ok(Math.abs(s.mean - 50.5) < 0.1, `mean ${s.mean}`);
  assert.ok(Math.abs(s.p50 - 50) < 0.1 && Math.abs(s.p90 - 90) < 0.1 && Math.abs(s.p99 - 99) < 0.1, JSON.stringify(s));
  assert.ok(Math.abs(s.max - 100) < 0.1);
  // Decoded, the max is the top of its HDR bucket (within 0.1%).
  const again = new LatencyHistogram('again', hist.encode()).summary();
  assert.deepEqual({ ...again, max: 0 }, { ...s, max: 0 });
  assert.ok(Math.abs(again.max - s.max) <= s.max * 0.001);
  assert.match(
    formatLatency('admission', s),
    /^admission: n=100, mean 50\.\d ms, p50 50\.\d ms, p90 90\.\d ms, p99 99\.\d ms, max 100 ms$/,
  );
});

test('latenciesOf: admission for every answered job; first token and total only for jobs that reached end or error', () => {
  const h = new History();
  const ok = h.recordSubmitted({ correlationId: 'a', request: { model: 'm', max_tokens: 1 } });
  h.recordAnswer(ok, { status: 200, headers: {} }, 10);
  h.recordEvent(ok, { type: 'token', i: 0 }, 20);
  h.recordEvent(ok, { type: 'end' }, 30);
  h.recordStreamEnd(ok, { done: true, malformed: [] }, 30);
  const cut = h.recordSubmitted({ correlationId: 'b', request: { model: 'm', max_tokens: 1 } });
  h.recordAnswer(cut, { status: 200, headers: {} }, 12);
  h.recordStreamEnd(cut, { done: false, malformed: [] }, 40);
  const none = h.recordSubmitted({ correlationId: 'c', request: { model: 'm', max_tokens: 1 } });
  h.recordNoAnswer(none, 'ECONNREFUSED', 1);
  const l = latenciesOf(h);
  assert.deepEqual([l.admission.count, l.firstToken.count, l.total.count], [2, 1, 1]);
});
