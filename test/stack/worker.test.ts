// Unit tests of the mock worker (contract §3): command line, request validation, deterministic generation,
// the inference engine's stream and endings, model loading, hive callbacks — and one end-to-end run of the
// real processes (hub + worker) against a fake hive.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { request } from 'undici';
import { HttpError } from '../../stack/shared/http.ts';
import { modelBytes } from '../../stack/shared/model-file.ts';
import { parseWorkerArgs, CliError } from '../../stack/worker/cli.ts';
import { validateInferenceRequest, LIMITS } from '../../stack/worker/validate.ts';
import { generateTokens, matchedStop, tokenStream, WORDS } from '../../stack/worker/generate.ts';
import { InferenceEngine } from '../../stack/worker/engine.ts';
import { ReplayFeed } from '../../stack/worker/progress.ts';
import { loadModel } from '../../stack/worker/loader.ts';
import { split } from '../../stack/worker/memory.ts';
import { heartbeatUrl, isFinalRejection, sendReadyCallback } from '../../stack/worker/callback.ts';
import { parseDeadline } from '../../stack/worker/server.ts';
import { DownstreamError } from '../../stack/shared/downstream.ts';
import { DEFAULT_MODELS } from '../../stack/hub/catalog.ts';
import { downloadPath } from '../../stack/hub/catalog.ts';
import {
  memoryLogger,
  parseSse,
  startFakeHive,
  startTs,
  thrownHttpError as httpError,
  until,
  type Child,
  type FakeHive,
} from './proc-helpers.ts';

describe('worker command line', () => {
  const good = [
    '--worker-id',
    'w-1',
    '--model',
    '/m/x.gguf',
    '--model-ref',
    'hf:a/b',
    '--backend',
    'cpu',
    '--device',
    '0',
    '--port',
    '8081',
    '--callback-url',
    'http://127.0.0.1:9200/v1/workers/ready',
  ];

  it('parses every option, also in --flag=value form', () => {
    assert.deepEqual(parseWorkerArgs(good), {
      workerId: 'w-1',
      model: '/m/x.gguf',
      modelRef: 'hf:a/b',
      backend: 'cpu',
      device: 0,
      port: 8081,
      callbackUrl: 'http://127.0.0.1:9200/v1/workers/ready',
    });
    const eq = [
      '--worker-id=w-1',
      '--model=/m/x.gguf',
      '--model-ref=hf:a/b',
      '--backend=cpu',
      '--device=1',
      '--port=0',
      '--callback-url=http://h:1/v1/workers/ready',
    ];
    assert.equal(parseWorkerArgs(eq).device, 1);
    assert.equal(parseWorkerArgs(eq).port, 0);
  });

  it('rejects unknown, missing, repeated, valueless and malformed options', () => {
    const cases: Array<[string[], RegExp]> = [
      [[...good, '--gpu', '1'], /unknown option --gpu/],
      [good.slice(2), /missing required option --worker-id/],
      [[], /missing required options --worker-id, --model/],
      [[...good, '--port', '1'], /--port given twice/],
      [[...good.slice(0, -1)], /--callback-url needs a value/],
      [[...good, 'stray'], /unexpected argument "stray"/],
      [good.map((a) => (a === '8081' ? '70000' : a)), /--port must be an integer 0..65535/],
      [good.map((a) => (a === '8081' ? '80a' : a)), /--port/],
      [good.map((a) => (a === '0' ? '-1' : a)), /--device needs a value|--device must be/],
      [good.map((a) => (a.startsWith('http') ? 'not a url' : a)), /--callback-url is not a URL/],
      [good.map((a) => (a.startsWith('http') ? 'ftp://h/x' : a)), /http\(s\) URL/],
      [good.map((a) => (a === 'w-1' ? '' : a)), /--worker-id must not be empty/],
    ];
    for (const [argv, re] of cases)
      assert.throws(
        () => parseWorkerArgs(argv),
        (e: unknown) => e instanceof CliError && re.test((e as Error).message),
        argv.join(' '),
      );
  });
});

describe('inference request validation', () => {
  const ok = { job_id: 'j1', prompt: 'hello', max_tokens: 10 };

  it('fills defaults: temperature 1.0, top_p 1.0, seed 0, no stop', () => {
    assert.deepEqual(validateInferenceRequest(ok), { ...ok, temperature: 1, top_p: 1, seed: 0, stop: [] });
  });

  it('422 INVALID_REQUEST naming a missing or mistyped field', () => {
    const cases: Array<[unknown, string | null]> = [
      [{ prompt: 'p', max_tokens: 1 }, 'job_id'],
      [{ job_id: 'j', max_tokens: 1 }, 'prompt'],
      [{ job_id: 'j', prompt: 'p' }, 'max_tokens'],
      [{ ...ok, job_id: 5 }, 'job_id'],
      [{ ...ok, prompt: ['a'] }, 'prompt'],
      [{ ...ok, max_tokens: 1.5 }, 'max_tokens'],
      [{ ...ok, max_tokens: '10' }, 'max_tokens'],
      [{ ...ok, temperature: 'hot' }, 'temperature'],
      [{ ...ok, seed: 1.5 }, 'seed'],
      [{ ...ok, top_p: true }, 'top_p'],
      [{ ...ok, stop: 'x' }, 'stop'],
      [{ ...ok, stop: ['a', 3] }, 'stop'],
      [[ok], null],
      ['x', null],
    ];
    for (const [body, field] of cases) {
      const e = httpError(() => validateInferenceRequest(body));
      assert.equal(e.status, 422, JSON.stringify(body));
      assert.equal(e.code, 'INVALID_REQUEST');
      assert.equal(e.extra.field, field, JSON.stringify(body));
    }
  });

  it('a type error wins over range errors (422 before 400)', () => {
    const e = httpError(() => validateInferenceRequest({ job_id: '', prompt: '', max_tokens: 0, temperature: 'x' }));
    assert.equal(e.status, 422);
    assert.equal(e.extra.field, 'temperature');
  });

  const rangeCases: Array<[string, Record<string, unknown>, string]> = [
    ['empty job_id', { job_id: '' }, 'job_id'],
    ['empty prompt', { prompt: '' }, 'prompt'],
    ['prompt too long', { prompt: 'x'.repeat(LIMITS.promptMaxChars + 1) }, 'prompt'],
    ['max_tokens 0', { max_tokens: 0 }, 'max_tokens'],
    ['max_tokens negative', { max_tokens: -3 }, 'max_tokens'],
    ['max_tokens 2049', { max_tokens: 2049 }, 'max_tokens'],
    ['temperature < 0', { temperature: -0.1 }, 'temperature'],
    ['temperature > 2', { temperature: 2.01 }, 'temperature'],
    ['top_p < 0', { top_p: -0.5 }, 'top_p'],
    ['top_p > 1', { top_p: 1.5 }, 'top_p'],
    ['5 stop strings', { stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop'],
    ['empty stop string', { stop: [''] }, 'stop'],
    ['stop string over 100 bytes', { stop: ['x'.repeat(101)] }, 'stop'],
    ['stop string over 100 bytes in UTF-8 (34 × 3 bytes)', { stop: ['€'.repeat(34)] }, 'stop'],
  ];
  for (const [name, patch, field] of rangeCases) {
    it(`400 VALIDATION_FAILED: ${name}`, () => {
      const e = httpError(() => validateInferenceRequest({ ...ok, ...patch }));
      assert.equal(e.status, 400);
      assert.equal(e.code, 'VALIDATION_FAILED');
      const errors = e.extra.errors as Array<{ field: string; constraint: string; message: string }>;
      assert.deepEqual(
        errors.map((x) => x.field),
        [field],
      );
      assert.ok(errors[0]!.constraint && errors[0]!.message);
    });
  }

  it('lists every failing field together', () => {
    const e = httpError(() =>
      validateInferenceRequest({
        job_id: '',
        prompt: '',
        max_tokens: 5000,
        temperature: 9,
        top_p: -1,
        stop: ['a', '', 'c', 'd', 'x'.repeat(200)],
      }),
    );
    assert.equal(e.status, 400);
    const errors = e.extra.errors as Array<{ field: string; constraint: string; value?: unknown }>;
    assert.deepEqual(
      errors.map((x) => x.field),
      ['job_id', 'prompt', 'max_tokens', 'temperature', 'top_p', 'stop', 'stop', 'stop'],
    );
    assert.equal(errors.find((x) => x.field === 'max_tokens')?.value, 5000);
    assert.match(e.message, /job_id, prompt, max_tokens, temperature, top_p, stop/);
  });

  it('accepts every boundary value', () => {
    validateInferenceRequest({ ...ok, prompt: 'x'.repeat(LIMITS.promptMaxChars), max_tokens: 1 });
    validateInferenceRequest({ ...ok, max_tokens: 2048, temperature: 0, top_p: 0, seed: 0 });
    validateInferenceRequest({ ...ok, temperature: 2, top_p: 1, seed: 123456789 });
    validateInferenceRequest({ ...ok, stop: ['a', 'b', 'c', 'x'.repeat(100)] });
    validateInferenceRequest({ ...ok, stop: ['€'.repeat(33)] }); // 99 bytes
    // Characters are code points: 32768 emoji are 65536 UTF-16 units but still a valid prompt.
    validateInferenceRequest({ ...ok, prompt: '🐝'.repeat(LIMITS.promptMaxChars) });
    validateInferenceRequest({ ...ok, stop: null, seed: null });
  });
});

describe('deterministic generation', () => {
  it('same prompt and seed → same tokens; different seed or prompt → different tokens', () => {
    const a = generateTokens('Once upon a time', 42, 50);
    assert.deepEqual(generateTokens('Once upon a time', 42, 50), a);
    assert.notDeepEqual(generateTokens('Once upon a time', 43, 50), a);
    assert.notDeepEqual(generateTokens('Once upon a time!', 42, 50), a);
  });
  it('tokens are " word" from the fixed vocabulary; a prefix is stable', () => {
    const t = generateTokens('p', 1, 200);
    for (const tok of t) assert.ok(tok.startsWith(' ') && WORDS.includes(tok.slice(1)), tok);
    assert.deepEqual(generateTokens('p', 1, 20), t.slice(0, 20));
    assert.ok(new Set(t).size > 20, 'varied output');
    const it2 = tokenStream('p', 1);
    assert.equal(it2.next().value, t[0]);
  });
  it('pinned output (changing the generator changes every recorded expectation)', () => {
    assert.deepEqual(generateTokens('hello', 3, 5), [' wind', ' grows', ' token', ' sound', ' grows']);
  });
  it('matchedStop finds a stop string the text now ends with', () => {
    assert.equal(matchedStop(' the bee flies', [' flies', 'x']), ' flies');
    assert.equal(matchedStop(' the bee flies', ['bee']), undefined);
    assert.equal(matchedStop('abc', []), undefined);
  });
});

interface Collected {
  events: Array<Record<string, any>>;
  done: boolean;
}
function sink(): Collected & { send(e: Record<string, unknown>): void; done(): void } {
  const c = { events: [] as Array<Record<string, any>>, done: false as boolean };
  return Object.assign(c, {
    send: (e: Record<string, unknown>) => void c.events.push(e),
    done: () => void (c.done = true),
  }) as never;
}

describe('inference engine', () => {
  const req = (patch: Partial<ReturnType<typeof validateInferenceRequest>> = {}) => ({
    job_id: 'j1',
    prompt: 'hello',
    max_tokens: 5,
    temperature: 1,
    top_p: 1,
    seed: 3,
    stop: [] as string[],
    ...patch,
  });
  const engine = (o: Partial<ConstructorParameters<typeof InferenceEngine>[0]> = {}) =>
    new InferenceEngine({
      slots: 1,
      tokenDelayMs: 1,
      kvBytesPerToken: 0,
      modelRef: 'hf:a/b',
      log: memoryLogger(),
      ...o,
    });

  it('streams narration → started → tokens (0-based) → end MAX_TOKENS, then the terminator', async () => {
    const log = memoryLogger();
    const e = engine({ log });
    const s = sink();
    const r = await e.run(e.admit(req()), s, { correlationId: 'cid-1', subject: 'alice' });
    assert.deepEqual(r, { outcome: 'completed', tokensOut: 5, stopReason: 'MAX_TOKENS' });
    assert.equal(s.done, true);
    const types = s.events.map((x) => x.type);
    assert.deepEqual(types, ['narration', 'started', 'token', 'token', 'token', 'token', 'token', 'end']);
    const [narr, started] = s.events;
    assert.deepEqual(
      { ...narr, human: undefined },
      {
        type: 'narration',
        actor: 'llm-worker-rbee',
        action: 'inference_start',
        human: undefined,
        job_id: 'j1',
        correlation_id: 'cid-1',
      },
    );
    assert.equal(started!.model, 'hf:a/b');
    assert.equal(started!.job_id, 'j1');
    assert.ok(!Number.isNaN(Date.parse(started!.started_at)));
    assert.deepEqual(
      s.events.filter((x) => x.type === 'token').map((x) => [x.i, x.t]),
      generateTokens('hello', 3, 5).map((t, i) => [i, t]),
    );
    const end = s.events.at(-1)!;
    assert.deepEqual(
      { ...end, decode_time_ms: 0 },
      { type: 'end', tokens_out: 5, decode_time_ms: 0, stop_reason: 'MAX_TOKENS' },
    );
    assert.ok(Number.isInteger(end.decode_time_ms) && end.decode_time_ms >= 0);
    const events = log.records.map((l) => l.fields.event);
    assert.deepEqual(events, ['job.started', 'job.finished']);
    for (const l of log.records)
      assert.deepEqual([l.fields.correlation_id, l.fields.job_id, l.fields.subject], ['cid-1', 'j1', 'alice']);
    assert.deepEqual(log.records[1]!.fields.stop_reason, 'MAX_TOKENS');
  });

  it('ends with STOP_SEQUENCE once the text ends with a stop string (the matching token is sent)', async () => {
    const all = generateTokens('hello', 3, 10);
    const e = engine();
    const s = sink();
    const r = await e.run(e.admit(req({ max_tokens: 10, stop: ['nomatch', all[2]!.trim()] })), s, {
      correlationId: 'c',
    });
    assert.equal(r.stopReason, 'STOP_SEQUENCE');
    const toks = s.events.filter((x) => x.type === 'token').map((x) => x.t);
    assert.deepEqual(toks, all.slice(0, 3));
    assert.deepEqual(s.events.at(-1), { ...s.events.at(-1), type: 'end', tokens_out: 3, stop_reason: 'STOP_SEQUENCE' });
  });

  it('a stop string spanning two tokens also matches', async () => {
    const all = generateTokens('hello', 3, 10);
    const e = engine();
    const s = sink();
    await e.run(e.admit(req({ max_tokens: 10, stop: [all[3]! + all[4]!] })), s, { correlationId: 'c' });
    assert.equal(s.events.at(-1)!.tokens_out, 5);
  });

  it('cancel ends the stream with CANCELLED and frees the slot; cancel is idempotent', async () => {
    const log = memoryLogger();
    const e = engine({ tokenDelayMs: 20, log });
    const s = sink();
    const running = e.run(e.admit(req({ max_tokens: 1000 })), s, { correlationId: 'c' });
    await until(() => s.events.filter((x) => x.type === 'token').length >= 2);
    assert.equal(e.cancel('j1', 'client_request'), true);
    assert.equal(e.cancel('j1', 'client_request'), false);
    const r = await running;
    assert.equal(r.outcome, 'cancelled');
    assert.equal(s.events.at(-1)!.stop_reason, 'CANCELLED');
    assert.ok(s.events.at(-1)!.tokens_out < 1000);
    assert.equal(s.done, true);
    assert.equal(e.slotsBusy, 0);
    assert.equal(e.cancel('unknown', 'client_request'), false);
    assert.ok(log.records.some((l) => l.fields.event === 'job.cancelled' && l.fields.reason === 'client_request'));
  });

  it('x-deadline passing mid-stream ends with a DEADLINE_EXCEEDED error event (not retryable)', async () => {
    const e = engine({ tokenDelayMs: 20 });
    const s = sink();
    const r = await e.run(e.admit(req({ max_tokens: 1000 })), s, { correlationId: 'c', deadlineMs: Date.now() + 150 });
    assert.equal(r.outcome, 'failed');
    const last = s.events.at(-1)!;
    assert.equal(last.type, 'error');
    assert.equal(last.code, 'DEADLINE_EXCEEDED');
    assert.equal(last.retryable, false);
    assert.ok(typeof last.message === 'string');
    assert.ok(!s.events.some((x) => x.type === 'end'));
    assert.equal(s.done, true);
  });

  it('one slot: a second job gets 503 ALL_SLOTS_BUSY with slots and retry hints; high-water mark stays 1', async () => {
    const e = engine({ tokenDelayMs: 10 });
    const first = e.run(e.admit(req({ max_tokens: 20 })), sink(), { correlationId: 'c' });
    const err = httpError(() => e.admit(req({ job_id: 'j2' })));
    assert.equal(err.status, 503);
    assert.equal(err.code, 'ALL_SLOTS_BUSY');
    assert.equal(err.extra.slots_total, 1);
    assert.equal(err.extra.slots_busy, 1);
    assert.equal(err.extra.retryable, true);
    assert.ok((err.extra.retry_after_ms as number) >= 100);
    assert.ok(err.headers['retry-after']);
    assert.equal(httpError(() => e.admit(req())).code, 'JOB_ALREADY_RUNNING');
    await first;
    await e.idle();
    await e.run(e.admit(req({ job_id: 'j3', max_tokens: 1 })), sink(), { correlationId: 'c' });
    assert.equal(e.slotsBusyMax, 1);
  });

  it('MOCK_SLOTS=2 runs two jobs at once; idle() waits for both', async () => {
    const e = engine({ slots: 2, tokenDelayMs: 5 });
    const a = e.run(e.admit(req({ job_id: 'a', max_tokens: 10 })), sink(), { correlationId: 'c' });
    const b = e.run(e.admit(req({ job_id: 'b', max_tokens: 10 })), sink(), { correlationId: 'c' });
    assert.equal(e.slotsBusy, 2);
    assert.equal(httpError(() => e.admit(req({ job_id: 'c' }))).extra.slots_busy, 2);
    await e.idle();
    assert.equal(e.slotsBusy, 0);
    assert.equal(e.slotsBusyMax, 2);
    await Promise.all([a, b]);
  });

  it('MOCK_KV_BYTES_PER_TOKEN allocates real memory per token, released at the end', async () => {
    const e = engine({ kvBytesPerToken: 8 * 1024 * 1024, tokenDelayMs: 1 });
    const before = process.memoryUsage().arrayBuffers;
    let peak = 0;
    const s = sink();
    const origSend = s.send;
    s.send = (ev) => {
      peak = Math.max(peak, process.memoryUsage().arrayBuffers);
      origSend(ev);
    };
    await e.run(e.admit(req({ max_tokens: 6 })), s, { correlationId: 'c' });
    assert.ok(peak - before >= 5 * 8 * 1024 * 1024, `grew by ${peak - before}`);
  });
});

describe('x-deadline header', () => {
  it('parses epoch milliseconds and rejects anything else with 400', () => {
    assert.equal(parseDeadline(undefined), undefined);
    assert.equal(parseDeadline('1760000000000'), 1760000000000);
    for (const bad of ['soon', '-5', '1.5', '', '1e12']) {
      const e = httpError(() => parseDeadline(bad));
      assert.equal(e.status, 400, bad);
      assert.equal((e.extra.errors as any[])[0].field, 'x-deadline');
    }
  });
});

describe('loading progress feed', () => {
  it('replays everything to a late subscriber, then ends', () => {
    const f = new ReplayFeed<number>();
    const early: Array<number | null> = [];
    f.subscribe((e) => early.push(e));
    f.push(1);
    f.push(2);
    const mid: Array<number | null> = [];
    f.subscribe((e) => mid.push(e));
    f.push(3);
    f.end();
    f.push(4);
    const late: Array<number | null> = [];
    f.subscribe((e) => late.push(e));
    for (const got of [early, mid, late]) assert.deepEqual(got, [1, 2, 3, null]);
  });
});

describe('model loading', () => {
  let dir = '';
  before(async () => (dir = await mkdtemp(join(tmpdir(), 'rbee-worker-'))));
  after(async () => rm(dir, { recursive: true, force: true }));

  it('allocates vram_bytes layer by layer over MOCK_LOAD_MS, reporting each layer', async () => {
    const path = join(dir, 'm.gguf');
    await writeFile(
      path,
      modelBytes({ model_ref: 'hf:a/b', vram_bytes: 10 * 1024 * 1024 + 7, layers: 5, size_bytes: 8192 }),
    );
    const progress: Array<[number, number, number]> = [];
    const t0 = performance.now();
    const m = await loadModel(path, 200, { onLayer: (a, b, c) => progress.push([a, b, c]) });
    const ms = performance.now() - t0;
    assert.ok(ms >= 190 && ms < 1500, `took ${ms}`);
    assert.deepEqual(
      progress.map(([a, b]) => [a, b]),
      [
        [1, 5],
        [2, 5],
        [3, 5],
        [4, 5],
        [5, 5],
      ],
    );
    assert.equal(progress.at(-1)![2], 10 * 1024 * 1024 + 7);
    assert.equal(
      m.memory.reduce((n, b) => n + b.length, 0),
      10 * 1024 * 1024 + 7,
    );
    assert.equal(m.header.layers, 5);
  });

  it('fails for a missing or non-model file', async () => {
    await assert.rejects(loadModel(join(dir, 'missing.gguf'), 0), /ENOENT/);
    await writeFile(join(dir, 'junk'), 'GGUF…');
    await assert.rejects(loadModel(join(dir, 'junk'), 0), /not an rbee model file|no model header/);
  });

  it('split() shares the total exactly', () => {
    assert.deepEqual(split(10, 3), [3, 3, 4]);
    assert.equal(
      split(2 ** 31, 48).reduce((a, b) => a + b, 0),
      2 ** 31,
    );
  });
});

describe('hive callbacks', () => {
  it('heartbeat URL is the origin of the callback URL + /v1/heartbeat', () => {
    assert.equal(heartbeatUrl('http://127.0.0.1:9200/v1/workers/ready'), 'http://127.0.0.1:9200/v1/heartbeat');
    assert.equal(heartbeatUrl('http://hive-a:9200/some/prefix/ready?x=1'), 'http://hive-a:9200/v1/heartbeat');
  });

  it('a 4xx other than 404/408/409/429 is final; 5xx and no answer are retried', () => {
    for (const s of [400, 401, 403, 422])
      assert.equal(isFinalRejection(new DownstreamError(s, 'X', 'x')), true, String(s));
    for (const s of [0, 404, 408, 409, 429, 500, 503])
      assert.equal(isFinalRejection(new DownstreamError(s, 'X', 'x')), false, String(s));
  });

  it('retries the ready callback until accepted, with the token; gives up on a final rejection', async () => {
    const answers = [503, 404, 409, 200];
    const seen: Array<{ auth?: string; body: string }> = [];
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        seen.push({ auth: req.headers.authorization, body });
        const status = answers.shift() ?? 400;
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(status === 200 ? '{}' : '{"error":{"code":"NOPE","message":"no"}}');
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as import('node:net').AddressInfo).port}/v1/workers/ready`;
    const body = { worker_id: 'w', url: 'http://x', model_ref: 'hf:a/b', backend: 'cpu', device: 0 };
    try {
      await sendReadyCallback(url, body, { token: 'tok', retryForMs: 5000, log: memoryLogger() });
      assert.equal(seen.length, 4);
      assert.ok(seen.every((s) => s.auth === 'Bearer tok'));
      assert.deepEqual(JSON.parse(seen[0]!.body), body);
      const t0 = Date.now();
      await assert.rejects(
        sendReadyCallback(url, body, { token: 'tok', retryForMs: 5000, log: memoryLogger() }),
        (e: unknown) => (e as DownstreamError).status === 400,
      );
      assert.ok(Date.now() - t0 < 1000, 'a final rejection is not retried');
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('gives up after the retry window when the hive is unreachable', async () => {
    const t0 = Date.now();
    await assert.rejects(
      sendReadyCallback(
        'http://127.0.0.1:1/v1/workers/ready',
        { worker_id: 'w', url: 'u', model_ref: 'm', backend: 'cpu', device: 0 },
        { retryForMs: 600, log: memoryLogger() },
      ),
    );
    const ms = Date.now() - t0;
    assert.ok(ms >= 300 && ms < 3000, `gave up after ${ms} ms`);
  });
});

// ---------------------------------------------------------------------------------------------------
// End to end: the real hub and worker processes, a fake hive in this test.

describe('worker process end to end', () => {
  const TOKEN = 'e2e-token-xyz';
  const TINY = DEFAULT_MODELS[0]!;
  let dir = '';
  let hub: Child;
  let hive: FakeHive;
  let modelPath = '';

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rbee-e2e-'));
    hub = startTs('stack/hub/main.ts', [], { HUB_PORT: '0' });
    const { port } = await hub.waitFor((l) => l.event === 'service.listening');
    const res = await request(`http://127.0.0.1:${port}${downloadPath(TINY)}`);
    assert.equal(res.statusCode, 200);
    modelPath = join(dir, TINY.file);
    await writeFile(modelPath, Buffer.from(await res.body.arrayBuffer()));
    hive = await startFakeHive();
  });
  after(async () => {
    hub?.proc.kill('SIGKILL');
    await hive?.close();
    await rm(dir, { recursive: true, force: true });
  });

  function startWorker(id: string, env: Record<string, string> = {}, model = modelPath): Child {
    return startTs(
      'stack/worker/main.ts',
      [
        '--worker-id',
        id,
        '--model',
        model,
        '--model-ref',
        TINY.model_ref,
        '--backend',
        'cpu',
        '--device',
        '0',
        '--port',
        '0',
        '--callback-url',
        `${hive.url}/v1/workers/ready`,
      ],
      {
        LLORCH_API_TOKEN: TOKEN,
        MOCK_LOAD_MS: '500',
        MOCK_TOKEN_DELAY_MS: '10',
        RBEE_HEARTBEAT_INTERVAL_MS: '100',
        MOCK_READY_RETRY_MS: '2000',
        ...env,
      },
    );
  }
  const auth = { authorization: `Bearer ${TOKEN}` };

  async function infer(base: string, body: Record<string, unknown>, headers: Record<string, string> = {}) {
    const res = await request(`${base}/v1/inference`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
    const text = await res.body.text();
    return { status: res.statusCode, headers: res.headers, text };
  }

  it('loads, calls back, heartbeats, streams an inference in order, and exits 0 on SIGTERM', async () => {
    const w = startWorker('w-e2e');
    try {
      const listening = await w.waitFor((l) => l.event === 'service.listening');
      const base = `http://127.0.0.1:${listening.port}`;
      assert.equal(listening.url, base);

      // While loading: /v1/ready says so, with an absolute progress URL; inference is refused (retryable).
      const ready0 = (await (await request(`${base}/v1/ready`, { headers: auth })).body.json()) as any;
      if (!ready0.model_loaded) {
        assert.equal(ready0.state, 'loading');
        assert.equal(ready0.ready, false);
        assert.equal(ready0.progress_url, `${base}/v1/loading/progress`);
      }
      const progress = await request(`${base}/v1/loading/progress`, { headers: auth });
      let earlyRan = 0; // (if loading finished in between, the early job simply runs)
      if (!ready0.model_loaded) {
        const early = await infer(base, { job_id: 'early', prompt: 'x', max_tokens: 1 });
        if (early.status === 200) earlyRan = 1;
        else {
          assert.equal(early.status, 503);
          const err = JSON.parse(early.text).error;
          assert.deepEqual([err.code, err.retryable], ['WORKER_LOADING', true]);
          assert.ok(early.headers['retry-after']);
        }
      }
      const progressEvents = parseSse(await progress.body.text()) as any[];
      assert.equal(progressEvents.at(-1), '[DONE]');
      assert.deepEqual(progressEvents.at(-2), { stage: 'ready', worker_id: 'w-e2e' });
      const layers = progressEvents.filter((e) => e.stage === 'loading_to_vram');
      assert.equal(layers.length, TINY.layers);
      assert.deepEqual(
        layers.map((e) => e.layers_loaded),
        Array.from({ length: TINY.layers }, (_, i) => i + 1),
      );
      assert.ok(layers.every((e) => e.layers_total === TINY.layers && e.worker_id === 'w-e2e'));

      // Ready callback with the token and the contract fields; heartbeats follow to the callback's origin.
      await w.waitFor((l) => l.event === 'worker.ready_callback_sent');
      const cb = hive.requests.find((r) => r.path === '/v1/workers/ready' && r.body.worker_id === 'w-e2e')!;
      assert.equal(cb.auth, `Bearer ${TOKEN}`);
      assert.deepEqual(cb.body, {
        worker_id: 'w-e2e',
        url: base,
        model_ref: TINY.model_ref,
        backend: 'cpu',
        device: 0,
      });
      await until(
        () => hive.requests.filter((r) => r.path === '/v1/heartbeat' && r.body.worker_id === 'w-e2e').length >= 2,
        5000,
        'heartbeats',
      );
      const hb = hive.requests.find((r) => r.path === '/v1/heartbeat' && r.body.worker_id === 'w-e2e')!;
      assert.equal(hb.auth, `Bearer ${TOKEN}`);
      assert.equal(hb.body.health_status, 'healthy');
      assert.ok(!Number.isNaN(Date.parse(hb.body.timestamp)));
      assert.ok(w.lines.some((l) => l.event === 'model.loaded' && l.vram_bytes === TINY.vram_bytes));

      // Public health; authenticated routes need the token; the token never appears in the logs.
      const health = (await (await request(`${base}/health`)).body.json()) as any;
      assert.deepEqual(health, { status: 'healthy', vram_bytes: TINY.vram_bytes });
      assert.equal((await request(`${base}/v1/ready`)).statusCode, 401);
      assert.equal(
        (await infer(base, { job_id: 'x', prompt: 'x', max_tokens: 1 }, { authorization: 'Bearer wrong' })).status,
        401,
      );

      // One inference: SSE order, token indices, correlation id echo and narration.
      const r = await infer(
        base,
        { job_id: 'job-1', prompt: 'hello', max_tokens: 8, seed: 3 },
        { 'x-correlation-id': 'corr-e2e-1', 'x-rbee-subject': 'alice' },
      );
      assert.equal(r.status, 200);
      assert.equal(r.headers['content-type'], 'text/event-stream');
      assert.equal(r.headers['x-correlation-id'], 'corr-e2e-1');
      const events = parseSse(r.text) as any[];
      assert.deepEqual(
        events.map((e) => (typeof e === 'string' ? e : e.type)),
        ['narration', 'started', ...Array(8).fill('token'), 'end', '[DONE]'],
      );
      assert.equal(events[0].correlation_id, 'corr-e2e-1');
      assert.equal(events[0].job_id, 'job-1');
      assert.equal(events[1].model, TINY.model_ref);
      const tokens = events.filter((e) => e.type === 'token');
      assert.deepEqual(
        tokens.map((t) => t.i),
        [0, 1, 2, 3, 4, 5, 6, 7],
      );
      assert.deepEqual(
        tokens.map((t) => t.t),
        generateTokens('hello', 3, 8),
      );
      assert.deepEqual(
        { ...events[10], decode_time_ms: 0 },
        { type: 'end', tokens_out: 8, decode_time_ms: 0, stop_reason: 'MAX_TOKENS' },
      );
      assert.ok(events[10].decode_time_ms >= 50, 'tokens are paced by MOCK_TOKEN_DELAY_MS');
      const started = await w.waitFor((l) => l.event === 'job.started' && l.job_id === 'job-1');
      assert.deepEqual([started.correlation_id, started.worker_id, started.subject], ['corr-e2e-1', 'w-e2e', 'alice']);
      const finished = await w.waitFor((l) => l.event === 'job.finished' && l.job_id === 'job-1');
      assert.deepEqual([finished.tokens_out, finished.stop_reason], [8, 'MAX_TOKENS']);

      // Validation errors come back as JSON with the contract codes.
      const v = await infer(base, { job_id: 'bad', prompt: '', max_tokens: 0 });
      assert.equal(v.status, 400);
      assert.deepEqual(
        JSON.parse(v.text).error.errors.map((e: any) => e.field),
        ['prompt', 'max_tokens'],
      );
      assert.equal((await infer(base, { job_id: 'bad', prompt: 'x' })).status, 422);

      // While one job streams: /v1/ready says busy, a second job gets 503 ALL_SLOTS_BUSY (Retry-After).
      const longJob = request(`${base}/v1/inference`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ job_id: 'long', prompt: 'p', max_tokens: 2000 }),
      });
      const longRes = await longJob;
      const reader = longRes.body[Symbol.asyncIterator]();
      await reader.next(); // the stream has started
      const busyReady = (await (await request(`${base}/v1/ready`, { headers: auth })).body.json()) as any;
      assert.deepEqual(busyReady, { ready: true, state: 'busy', model_loaded: true });
      const busy = await infer(base, { job_id: 'second', prompt: 'p', max_tokens: 1 });
      assert.equal(busy.status, 503);
      const busyErr = JSON.parse(busy.text).error;
      assert.deepEqual(
        [busyErr.code, busyErr.slots_total, busyErr.slots_busy, busyErr.retryable],
        ['ALL_SLOTS_BUSY', 1, 1, true],
      );
      assert.ok(busyErr.retry_after_ms > 0 && busy.headers['retry-after']);

      // DELETE cancels it (204, idempotent); its stream ends with CANCELLED and [DONE].
      const del = await request(`${base}/v1/inference/long`, { method: 'DELETE', headers: auth });
      assert.equal(del.statusCode, 204);
      await del.body.dump();
      const del2 = await request(`${base}/v1/inference/long`, { method: 'DELETE', headers: auth });
      assert.equal(del2.statusCode, 204);
      await del2.body.dump();
      let rest = '';
      for (let c = await reader.next(); !c.done; c = await reader.next())
        rest += Buffer.from(c.value as Buffer).toString();
      const tail = parseSse(rest) as any[];
      assert.equal(tail.at(-1), '[DONE]');
      assert.equal(tail.at(-2).stop_reason, 'CANCELLED');

      // A client that disconnects mid-stream frees the slot.
      const ac = new AbortController();
      const gone = await request(`${base}/v1/inference`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ job_id: 'gone', prompt: 'p', max_tokens: 2000 }),
        signal: ac.signal,
      });
      await gone.body[Symbol.asyncIterator]().next();
      ac.abort();
      await w.waitFor((l) => l.event === 'job.cancelled' && l.job_id === 'gone' && l.reason === 'client_disconnected');
      const after = await infer(base, { job_id: 'after', prompt: 'p', max_tokens: 2 });
      assert.equal(after.status, 200);

      // Deadline: already past → 504; passing mid-stream → error event then [DONE].
      const past = await infer(
        base,
        { job_id: 'late', prompt: 'p', max_tokens: 2 },
        { 'x-deadline': String(Date.now() - 1) },
      );
      assert.equal(past.status, 504);
      assert.equal(JSON.parse(past.text).error.code, 'DEADLINE_EXCEEDED');
      const mid = parseSse(
        (
          await infer(
            base,
            { job_id: 'mid', prompt: 'p', max_tokens: 2000 },
            { 'x-deadline': String(Date.now() + 200) },
          )
        ).text,
      ) as any[];
      assert.deepEqual(
        [mid.at(-2).type, mid.at(-2).code, mid.at(-2).retryable, mid.at(-1)],
        ['error', 'DEADLINE_EXCEEDED', false, '[DONE]'],
      );

      // Metrics: counters and the high-water mark that proves one job at a time.
      const metrics = await (await request(`${base}/metrics`)).body.text();
      assert.match(metrics, /^rbee_worker_tokens_generated_total \d+$/m);
      assert.match(metrics, new RegExp(`^rbee_worker_jobs_total\\{outcome="completed"\\} ${2 + earlyRan}$`, 'm'));
      assert.match(metrics, /^rbee_worker_jobs_total\{outcome="cancelled"\} 2$/m);
      assert.match(metrics, /^rbee_worker_jobs_total\{outcome="failed"\} 1$/m);
      assert.match(metrics, new RegExp(`^rbee_worker_inference_duration_seconds_count ${5 + earlyRan}$`, 'm'));
      assert.match(metrics, /^rbee_worker_slots_busy 0$/m);
      assert.match(metrics, /^rbee_worker_slots_busy_max 1$/m);
      const rss = Number(/^process_resident_memory_bytes (\d+)$/m.exec(metrics)?.[1]);
      assert.ok(rss > TINY.vram_bytes, `rss ${rss} includes the model's memory`);
      const om = await (
        await request(`${base}/metrics`, { headers: { accept: 'application/openmetrics-text' } })
      ).body.text();
      // (Each bucket keeps only its latest exemplar, so which job's id shows depends on timing.)
      assert.match(
        om,
        /rbee_worker_inference_duration_seconds_bucket\{le="[^"]+"\} \d+ # \{correlation_id="[A-Za-z0-9._:-]+"\}/,
      );

      assert.ok(!w.lines.some((l) => JSON.stringify(l).includes(TOKEN)), 'the token is never logged');

      w.proc.kill('SIGTERM');
      assert.deepEqual(await w.exit, { code: 0, signal: null });
    } finally {
      w.proc.kill('SIGKILL');
    }
  });

  it('SIGTERM during a job lets it finish, then exits 0; admin shutdown does the same', async () => {
    for (const how of ['SIGTERM', 'admin'] as const) {
      const w = startWorker(`w-stop-${how}`);
      try {
        const { port } = await w.waitFor((l) => l.event === 'service.listening');
        const base = `http://127.0.0.1:${port}`;
        await w.waitFor((l) => l.event === 'worker.ready_callback_sent');
        const job = infer(base, { job_id: 'j', prompt: 'p', max_tokens: 30 });
        await w.waitFor((l) => l.event === 'job.started');
        if (how === 'SIGTERM') {
          w.proc.kill('SIGTERM');
        } else {
          const res = await request(`${base}/v1/admin/shutdown`, {
            method: 'POST',
            headers: { ...auth, 'x-correlation-id': 'stop-1' },
          });
          assert.equal(res.statusCode, 202);
          await res.body.dump();
          const req = await w.waitFor((l) => l.event === 'shutdown.requested');
          assert.equal(req.correlation_id, 'stop-1');
        }
        const events = parseSse((await job).text) as any[];
        assert.equal(events.at(-2).stop_reason, 'MAX_TOKENS', how);
        assert.equal(events.at(-2).tokens_out, 30);
        assert.deepEqual(await w.exit, { code: 0, signal: null }, how);
      } finally {
        w.proc.kill('SIGKILL');
      }
    }
  });

  it('exit codes: 2 for a bad command line, 1 for a missing model or a rejected ready callback', async () => {
    const bad = startTs('stack/worker/main.ts', ['--worker-id', 'w', '--nope'], {});
    assert.equal((await bad.exit).code, 2);
    assert.equal(bad.stderr().trim().split('\n').length, 1);
    assert.match(bad.stderr(), /unknown option --nope/);

    const missing = startWorker('w-missing', {}, join(dir, 'no-such.gguf'));
    assert.equal((await missing.exit).code, 1);
    assert.ok(missing.lines.some((l) => l.event === 'model.load_failed'));

    hive.readyStatus = 400;
    try {
      const rejected = startWorker('w-rejected');
      assert.equal((await rejected.exit).code, 1);
      assert.ok(rejected.lines.some((l) => l.event === 'worker.ready_callback_failed'));
    } finally {
      hive.readyStatus = 200;
    }
  });
});
