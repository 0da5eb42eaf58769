// Unit tests of the shared service kit (contract §0 rules) and of the shared model file format.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import {
  Service,
  SseWriter,
  HttpError,
  retryable,
  safeEqual,
  toPrometheusText,
  exemplarLabels,
  MAX_BODY_BYTES,
} from '../../stack/shared/http.ts';
import { requireShape, RangeChecker, isValidModelRef } from '../../stack/shared/validate.ts';
import {
  encodeModelHeader,
  parseModelHeader,
  readModelHeader,
  modelBytes,
  sha256Hex,
  MODEL_HEADER_MAX_BYTES,
} from '../../stack/shared/model-file.ts';
import { memoryLogger, parseSse, thrownHttpError as thrown } from './proc-helpers.ts';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('toPrometheusText', () => {
  const om = [
    '# HELP svc_requests Requests',
    '# TYPE svc_requests counter',
    'svc_requests_total{code="200"} 3',
    '# HELP svc_latency_seconds Latency',
    '# TYPE svc_latency_seconds histogram',
    '# UNIT svc_latency_seconds seconds',
    'svc_latency_seconds_bucket{le="0.1"} 1 # {correlation_id="abc"} 0.05 1700000000.000',
    'svc_latency_seconds_bucket{le="+Inf"} 1',
    '# HELP svc_up Up',
    '# TYPE svc_up gauge',
    'svc_up 1',
    '# EOF',
    '',
  ].join('\n');
  const text = toPrometheusText(om);

  it('renames counter families to _total in both HELP and TYPE', () => {
    assert.match(text, /^# HELP svc_requests_total Requests$/m);
    assert.match(text, /^# TYPE svc_requests_total counter$/m);
    assert.doesNotMatch(text, /^# (HELP|TYPE) svc_requests /m);
  });
  it('drops exemplars, # UNIT and # EOF, keeps samples and other families', () => {
    assert.match(text, /^svc_latency_seconds_bucket\{le="0.1"\} 1$/m);
    assert.doesNotMatch(text, /correlation_id/);
    assert.doesNotMatch(text, /# UNIT|# EOF/);
    assert.match(text, /^# TYPE svc_up gauge$/m);
    assert.match(text, /^svc_up 1$/m);
  });
});

describe('exemplarLabels', () => {
  it('keeps exemplars within the 128-character OpenMetrics limit', () => {
    assert.deepEqual(exemplarLabels('abc'), { correlation_id: 'abc' });
    assert.deepEqual(exemplarLabels('a'.repeat(114)), { correlation_id: 'a'.repeat(114) });
    assert.deepEqual(exemplarLabels('a'.repeat(115)), {});
  });
});

describe('safeEqual', () => {
  it('compares by content, including length', () => {
    assert.equal(safeEqual('secret', 'secret'), true);
    assert.equal(safeEqual('secret', 'secreT'), false);
    assert.equal(safeEqual('secret', 'secret2'), false);
    assert.equal(safeEqual('secret2', 'secret'), false);
    assert.equal(safeEqual('', ''), true);
    assert.equal(safeEqual('', 'x'), false);
    // Padding with zero bytes must not make a prefix equal.
    assert.equal(safeEqual('abc\0', 'abc'), false);
  });
});

describe('requireShape', () => {
  const shape = {
    name: { type: 'string', required: true },
    n: { type: 'integer' },
    x: { type: 'number' },
    tags: { type: 'array' },
  } as const;
  it('accepts a good body and returns it', () => {
    const b = requireShape<{ name: string }>({ name: 'a', n: 2, x: 3, tags: [] }, shape);
    assert.equal(b.name, 'a');
  });
  it('422 INVALID_REQUEST naming a missing required field (null counts as missing)', () => {
    for (const body of [{}, { name: null }]) {
      const e = thrown(() => requireShape(body, shape));
      assert.equal(e.status, 422);
      assert.equal(e.code, 'INVALID_REQUEST');
      assert.equal(e.extra.field, 'name');
    }
  });
  it('422 for a mistyped field; integers are numbers but not the other way round', () => {
    assert.equal(thrown(() => requireShape({ name: 1 }, shape)).extra.field, 'name');
    assert.equal(thrown(() => requireShape({ name: 'a', n: 1.5 }, shape)).extra.field, 'n');
    assert.equal(thrown(() => requireShape({ name: 'a', tags: {} }, shape)).extra.field, 'tags');
    requireShape({ name: 'a', x: 2 }, shape);
  });
  it('422 when the body is not an object', () => {
    for (const body of [[], 'x', 3, null]) assert.equal(thrown(() => requireShape(body, shape)).status, 422);
  });
});

describe('RangeChecker', () => {
  it('lists every failing field in one 400 VALIDATION_FAILED', () => {
    const e = thrown(() =>
      new RangeChecker()
        .check(false, 'a', 'c1', 'm1', 1)
        .check(true, 'b', 'c2', 'm2')
        .check(false, 'c', 'c3', 'm3')
        .throwIfAny(),
    );
    assert.equal(e.status, 400);
    assert.equal(e.code, 'VALIDATION_FAILED');
    assert.deepEqual(e.extra.errors, [
      { field: 'a', constraint: 'c1', message: 'm1', value: 1 },
      { field: 'c', constraint: 'c3', message: 'm3' },
    ]);
  });
  it('does not throw when all checks pass', () => {
    new RangeChecker().check(true, 'a', 'c', 'm').throwIfAny();
  });
});

describe('isValidModelRef', () => {
  it('follows the contract charset, length and no ..', () => {
    assert.equal(isValidModelRef('hf:TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF'), true);
    assert.equal(isValidModelRef('hf:../etc'), false);
    assert.equal(isValidModelRef('hf:a b'), false);
    assert.equal(isValidModelRef('x'.repeat(513)), false);
  });
});

describe('retryable()', () => {
  it('carries retryable, retry_after_ms and a Retry-After header in whole seconds', () => {
    const e = retryable(503, 'BUSY', 'busy', 1500, { slots_total: 1 });
    assert.equal(e.status, 503);
    assert.deepEqual(e.extra, { retryable: true, retry_after_ms: 1500, slots_total: 1 });
    assert.equal(e.headers['retry-after'], '2');
    assert.equal(retryable(503, 'BUSY', 'busy', 10).headers['retry-after'], '1');
  });
});

describe('Service (HTTP kit)', () => {
  const log = memoryLogger();
  const svc = new Service({ service: 'test', metricPrefix: 'rbee_test_', log, token: 'tok-123' });
  let base = '';
  svc.route('GET', '/open', () => ({ ok: true }), { public: true });
  svc.route('GET', '/who', (ctx) => ({
    subject: ctx.identity.subject ?? null,
    scope: ctx.identity.scope ?? null,
    cid: ctx.correlationId,
  }));
  svc.route('POST', '/echo', async (ctx) => ({ got: await ctx.json() }));
  svc.route('GET', '/items/{id}', (ctx) => ({ id: ctx.params.id }));
  svc.route('GET', '/busy', () => {
    throw retryable(503, 'ALL_BUSY', 'busy', 2500);
  });
  svc.route('GET', '/boom', () => {
    throw new Error('kaboom');
  });
  svc.route('GET', '/sse', (ctx) => {
    const sse = new SseWriter(ctx.res);
    sse.send({ n: 1 });
    sse.send({ n: 2 });
    sse.done();
    return undefined;
  });
  const auth = { authorization: 'Bearer tok-123' };

  before(async () => {
    const port = await svc.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${port}`;
  });
  after(async () => {
    svc.destroySockets();
    await svc.close();
  });

  async function get(path: string, headers: Record<string, string> = {}) {
    const res = await request(base + path, { headers });
    const text = await res.body.text();
    return {
      status: res.statusCode,
      headers: res.headers,
      text,
      json: text
        ? (() => {
            try {
              return JSON.parse(text);
            } catch {
              return undefined;
            }
          })()
        : undefined,
    };
  }

  it('logs once that auth is disabled when no token is set', () => {
    const l = memoryLogger();
    new Service({ service: 'x', metricPrefix: 'rbee_x_', log: l });
    assert.equal(l.records.filter((r) => r.fields.event === 'auth.disabled').length, 1);
    assert.equal(log.records.filter((r) => r.fields.event === 'auth.disabled').length, 0);
  });

  it('echoes a valid x-correlation-id on success, error and SSE responses', async () => {
    for (const path of ['/open', '/who', '/sse']) {
      const r = await get(path, { ...auth, 'x-correlation-id': 'req-1.a:B_c' });
      assert.equal(r.headers['x-correlation-id'], 'req-1.a:B_c', path);
    }
    const err = await get('/who', { 'x-correlation-id': 'err-1' });
    assert.equal(err.status, 401);
    assert.equal(err.headers['x-correlation-id'], 'err-1');
    assert.equal(err.json.error.correlation_id, 'err-1');
  });

  it('replaces an invalid correlation id with a new UUIDv4', async () => {
    for (const bad of ['has space', 'x'.repeat(129), 'semi;colon', 'q?x', '']) {
      const r = await get('/who', { ...auth, 'x-correlation-id': bad });
      const cid = r.headers['x-correlation-id'] as string;
      assert.match(cid, UUID_RE, `for ${JSON.stringify(bad)}`);
      assert.equal(r.json.cid, cid);
    }
    const none = await get('/open');
    assert.match(none.headers['x-correlation-id'] as string, UUID_RE);
    // 128 characters is still valid (and too long for an exemplar: the service must not crash on it).
    const long = 'a'.repeat(128);
    assert.equal((await get('/open', { 'x-correlation-id': long })).headers['x-correlation-id'], long);
    assert.equal((await get('/open')).status, 200);
  });

  it('401 MISSING_API_KEY for a missing or malformed header, with WWW-Authenticate: Bearer', async () => {
    for (const headers of [
      {},
      { authorization: 'Basic dG9rLTEyMw==' },
      { authorization: 'Bearer' },
      { authorization: 'Bearer a b' },
    ]) {
      const r = await get('/who', headers as Record<string, string>);
      assert.equal(r.status, 401, JSON.stringify(headers));
      assert.equal(r.json.error.code, 'MISSING_API_KEY');
      assert.equal(r.headers['www-authenticate'], 'Bearer');
    }
  });

  it('401 INVALID_API_KEY for a wrong token, with WWW-Authenticate: Bearer', async () => {
    const r = await get('/who', { authorization: 'Bearer tok-124' });
    assert.equal(r.status, 401);
    assert.equal(r.json.error.code, 'INVALID_API_KEY');
    assert.equal(r.headers['www-authenticate'], 'Bearer');
    assert.ok(!r.text.includes('tok-123'), 'the token never appears in a response');
  });

  it('public routes and /metrics need no token', async () => {
    assert.equal((await get('/open')).status, 200);
    assert.equal((await get('/metrics')).status, 200);
  });

  it('passes x-rbee-subject / x-rbee-scope through as the identity on authenticated calls', async () => {
    const r = await get('/who', { ...auth, 'x-rbee-subject': 'alice', 'x-rbee-scope': 'infer' });
    assert.deepEqual({ subject: r.json.subject, scope: r.json.scope }, { subject: 'alice', scope: 'infer' });
  });

  it('400 INVALID_JSON for a malformed body', async () => {
    const res = await request(base + '/echo', {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: '{"a":',
    });
    const body = (await res.body.json()) as any;
    assert.equal(res.statusCode, 400);
    assert.equal(body.error.code, 'INVALID_JSON');
    assert.ok(body.error.correlation_id);
  });

  it('413 PAYLOAD_TOO_LARGE above the 2 MiB body limit, a body at the limit is fine', async () => {
    const big = JSON.stringify({ s: 'x'.repeat(MAX_BODY_BYTES) });
    const res = await request(base + '/echo', {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: big,
    });
    const body = (await res.body.json()) as any;
    assert.equal(res.statusCode, 413);
    assert.equal(body.error.code, 'PAYLOAD_TOO_LARGE');
    const ok = JSON.stringify({ s: 'x'.repeat(MAX_BODY_BYTES - 10) });
    const res2 = await request(base + '/echo', {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: ok,
    });
    await res2.body.dump();
    assert.equal(res2.statusCode, 200);
  });

  it('JSON errors for 404, 405, retryable 503 (Retry-After) and unexpected 500', async () => {
    const nf = await get('/nope', auth);
    assert.equal(nf.status, 404);
    assert.equal(nf.json.error.code, 'NOT_FOUND');
    const res = await request(base + '/open', { method: 'DELETE' });
    const na = (await res.body.json()) as any;
    assert.equal(res.statusCode, 405);
    assert.equal(na.error.code, 'METHOD_NOT_ALLOWED');
    const busy = await get('/busy', auth);
    assert.equal(busy.status, 503);
    assert.equal(busy.headers['retry-after'], '3');
    assert.deepEqual(
      [busy.json.error.code, busy.json.error.retryable, busy.json.error.retry_after_ms],
      ['ALL_BUSY', true, 2500],
    );
    const boom = await get('/boom', auth);
    assert.equal(boom.status, 500);
    assert.equal(boom.json.error.code, 'INTERNAL_ERROR');
    assert.equal(boom.headers['content-type'], 'application/json');
  });

  it('decodes path parameters', async () => {
    assert.equal((await get('/items/a%20b', auth)).json.id, 'a b');
  });

  it('SSE: data-only JSON events ending with [DONE]', async () => {
    const r = await get('/sse', auth);
    assert.equal(r.headers['content-type'], 'text/event-stream');
    assert.deepEqual(parseSse(r.text), [{ n: 1 }, { n: 2 }, '[DONE]']);
  });

  it('serves Prometheus text by default and OpenMetrics with exemplars on request', async () => {
    await get('/open', { 'x-correlation-id': 'metrics-cid' });
    const prom = await get('/metrics');
    assert.match(prom.headers['content-type'] as string, /^text\/plain; version=0\.0\.4/);
    assert.match(prom.text, /^# TYPE rbee_test_requests_total counter$/m);
    assert.match(prom.text, /^rbee_test_requests_total\{route="\/open",code="200"\} \d+$/m);
    assert.doesNotMatch(prom.text, /# EOF/);
    const om = await get('/metrics', { accept: 'application/openmetrics-text; version=1.0.0' });
    assert.match(om.headers['content-type'] as string, /application\/openmetrics-text/);
    assert.match(
      om.text,
      /rbee_test_request_duration_seconds_bucket\{[^}]*route="\/open"[^}]*\} \d+ # \{correlation_id="[^"]+"\}/,
    );
    assert.match(om.text, /# EOF\n?$/);
  });
});

describe('model file format', () => {
  const entry = { model_ref: 'hf:Org/Repo-GGUF', vram_bytes: 123456789, layers: 7, size_bytes: 50_000 };

  it('header round trip: encode → parse gives the same fields', () => {
    const h = encodeModelHeader(entry);
    assert.ok(h.toString('ascii').startsWith('RBEEMODEL1 {'));
    assert.ok(h.toString('ascii').endsWith('}\n'));
    assert.deepEqual(parseModelHeader(h), {
      model_ref: entry.model_ref,
      vram_bytes: entry.vram_bytes,
      layers: entry.layers,
    });
  });

  it('modelBytes: exact size, deterministic, header first, different refs differ', () => {
    const a = modelBytes(entry);
    assert.equal(a.length, entry.size_bytes);
    assert.equal(sha256Hex(a), sha256Hex(modelBytes(entry)));
    assert.notEqual(sha256Hex(a), sha256Hex(modelBytes({ ...entry, model_ref: 'hf:Org/Other' })));
    assert.deepEqual(parseModelHeader(a), {
      model_ref: entry.model_ref,
      vram_bytes: entry.vram_bytes,
      layers: entry.layers,
    });
  });

  it('rejects a size smaller than the header', () => {
    assert.throws(() => modelBytes({ ...entry, size_bytes: 10 }), /smaller than its header/);
  });

  it('readModelHeader reads it from a file; bad files give a readable error', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rbee-model-'));
    try {
      const good = join(dir, 'good.gguf');
      await writeFile(good, modelBytes(entry));
      assert.deepEqual(await readModelHeader(good), {
        model_ref: entry.model_ref,
        vram_bytes: entry.vram_bytes,
        layers: entry.layers,
      });

      const cases: Array<[string, Buffer, RegExp]> = [
        ['magic', Buffer.from('GGUF binary…\n'), /not an rbee model file/],
        ['no-newline', Buffer.alloc(MODEL_HEADER_MAX_BYTES + 10, 0x41), /no model header line/],
        ['bad-json', Buffer.from('RBEEMODEL1 {oops\n'), /not valid JSON/],
        ['bad-vram', Buffer.from('RBEEMODEL1 {"model_ref":"hf:a/b","vram_bytes":-1,"layers":2}\n'), /vram_bytes/],
        ['bad-layers', Buffer.from('RBEEMODEL1 {"model_ref":"hf:a/b","vram_bytes":1,"layers":0}\n'), /layers/],
        ['empty', Buffer.alloc(0), /no model header line/],
      ];
      for (const [name, content, re] of cases) {
        const p = join(dir, name);
        await writeFile(p, content);
        await assert.rejects(readModelHeader(p), re, name);
      }
      await assert.rejects(readModelHeader(join(dir, 'missing.gguf')), /ENOENT/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
