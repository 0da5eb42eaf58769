import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSseText, readSse } from '../../lib/clients/sse.ts';

async function* chunks(...parts: string[]) {
  for (const p of parts) yield new TextEncoder().encode(p);
}

test('events split across chunks, CRLF line endings and comments are parsed', async () => {
  const r = await readSse(
    chunks('data: {"a"', ':1}\r\n\r\n: keep-alive\n\n', 'data: {"b":2}\n', '\ndata: [DONE]\n\n'),
    performance.now(),
  );
  assert.deepEqual(
    r.events.map((e) => e.data),
    [{ a: 1 }, { b: 2 }],
  );
  assert.equal(r.done, true);
  assert.deepEqual(r.malformed, []);
});

test('a stream cut off before [DONE] is reported as not done', async () => {
  const r = await parseSseText('data: {"type":"token","i":0}\n\ndata: {"type":"tok');
  assert.equal(r.done, false);
  assert.equal(r.events.length, 1);
});

test('non-JSON data and events after [DONE] are malformed', async () => {
  const r = await parseSseText('data: hello\n\ndata: [DONE]\n\ndata: {"late":true}\n\n');
  assert.deepEqual(r.malformed, ['hello', 'after [DONE]: {"late":true}']);
  assert.equal(r.events.length, 0);
});

test('multi-line data fields are joined with newlines', async () => {
  const r = await parseSseText('data: {"a":\ndata: 1}\n\n');
  assert.deepEqual(r.events[0]?.data, { a: 1 });
});

test('a transport error ends the read with the error recorded', async () => {
  async function* broken() {
    yield new TextEncoder().encode('data: {"x":1}\n\n');
    throw new Error('socket hang up');
  }
  const r = await readSse(broken(), performance.now());
  assert.equal(r.transportError, 'socket hang up');
  assert.equal(r.events.length, 1);
  assert.equal(r.done, false);
});
