// The contract's SSE events: a stream read through the clients checks each event against its route's
// schema; an event that does not match is named on the stream's result and with the scenario's witness,
// while the stream goes on (a chaos history still sees every token).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpClient } from '../../lib/clients/http.ts';
import { takeWitnessed } from '../../lib/contract/witness.ts';
import { DownloadProgressSchema, InferenceEventSchema, LoadingProgressSchema } from '../../lib/contract/sse.ts';

const good = [
  { type: 'narration', actor: 'queen-rbee', action: 'dispatch', human: 'x', job_id: 'j', correlation_id: 'c' },
  { type: 'started', job_id: 'j', model: 'hf:a/b', started_at: '2026-12-03T10:00:00.000Z' },
  { type: 'token', t: 'hi', i: 0 },
  { type: 'end', tokens_out: 1, decode_time_ms: 3, stop_reason: 'MAX_TOKENS' },
];

test("every event of the contract's streams conforms as the contract writes it", () => {
  for (const e of [...good, { type: 'error', code: 'WORKER_CRASHED', message: 'gone', retryable: true }])
    assert.equal(InferenceEventSchema.safeParse(e).success, true, JSON.stringify(e));
  for (const e of [
    { stage: 'started', download_id: 'd', model_ref: 'hf:a/b', bytes_total: 10 },
    { stage: 'downloading', bytes_downloaded: 5, bytes_total: 10, fraction: 0.5 },
    { stage: 'complete', local_path: '/m/x', sha256: 'ab' },
    { stage: 'error', message: 'broke' },
  ])
    assert.equal(DownloadProgressSchema.safeParse(e).success, true, JSON.stringify(e));
  assert.equal(
    LoadingProgressSchema.safeParse({ stage: 'loading_to_vram', layers_loaded: 1, layers_total: 22 }).success,
    true,
  );
});

test('what the contract rules out does not conform', () => {
  const bad = [
    { type: 'token', text: 'hi', i: 0 }, // `t` renamed
    { type: 'token', t: 'hi', i: -1 },
    { type: 'end', tokens_out: 1, decode_time_ms: 3, stop_reason: 'DONE' },
    { type: 'error', code: 'worker crashed', message: 'x', retryable: true },
    { type: 'started', job_id: 'j', model: 'm', started_at: 'yesterday' },
    { type: 'progress' },
  ];
  for (const e of bad) assert.equal(InferenceEventSchema.safeParse(e).success, false, JSON.stringify(e));
  assert.equal(
    DownloadProgressSchema.safeParse({ stage: 'downloading', bytes_downloaded: 5, bytes_total: 10, fraction: 0 })
      .success,
    false,
  );
});

test('a stream with a renamed field: the event is named on the result and witnessed, the stream read to its end', async () => {
  const events = [good[0], good[1], { type: 'token', text: 'hi', i: 0 }, good[3]];
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    for (const e of events) res.write(`data: ${JSON.stringify(e)}\n\n`);
    res.end('data: [DONE]\n\n');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    takeWitnessed();
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const res = await new HttpClient(url).stream('/v2/tasks', { model: 'm' }, {}, InferenceEventSchema);
    const result = await res.result;
    assert.equal(result.events.length, 4);
    assert.equal(result.done, true);
    assert.equal(result.violations?.length, 1);
    assert.match(result.violations![0]!, /\/v2\/tasks \(event #2\).*t: missing.*the answer has: type, text, i/);
    const seen = takeWitnessed();
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.message, result.violations![0]);
    assert.deepEqual(takeWitnessed(), [], 'taken once');
  } finally {
    server.close();
  }
});
