// Unit tests of queen-rbee (contract §1): circuit breaker, hive choice, request validation, JWTs, hive
// availability, registry storage outages (INT-007), and the /v2/tasks flow against an in-process fake hive
// and fake worker (relay, stream break, spawn, spawn failure, before-stream errors, circuit opening).
// Last, one end-to-end job through real hub + hive + queen + worker processes.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { generateKeyPair, exportSPKI, SignJWT } from 'jose';
import { CircuitBreaker } from '../../stack/queen/circuit.ts';
import { chooseHive, rankHives } from '../../stack/queen/scheduler.ts';
import { validateTask } from '../../stack/queen/validate.ts';
import { HiveRegistry } from '../../stack/queen/registry.ts';
import { QueenStore } from '../../stack/queen/store.ts';
import { createQueen, type QueenApp } from '../../stack/queen/app.ts';
import type { QueenConfig } from '../../stack/queen/config.ts';
import { HttpError } from '../../stack/shared/http.ts';
import {
  captureLog,
  eventually,
  req,
  sse,
  startService,
  type LogRecord,
  type ServiceProcess,
} from './orchestration-helpers.ts';

const TOKEN = 'queen-test-token';
const AUTH = { authorization: `Bearer ${TOKEN}` };
const MODEL = 'hf:test-org/tiny-GGUF';

function thrown(fn: () => unknown): HttpError {
  try {
    fn();
  } catch (e) {
    if (e instanceof HttpError) return e;
    throw e;
  }
  throw new Error('expected an HttpError');
}

describe('circuit breaker', () => {
  it('closed → open after N failures → half_open after the cooldown → closed on success / open on failure', () => {
    let now = 0;
    const cb = new CircuitBreaker(3, 1000, () => now);
    assert.equal(cb.state, 'closed');
    cb.failure();
    cb.failure();
    assert.equal(cb.state, 'closed');
    cb.success(); // success resets the count: failures must be consecutive
    cb.failure();
    cb.failure();
    assert.equal(cb.state, 'closed');
    cb.failure();
    assert.equal(cb.state, 'open');
    assert.equal(cb.tryAcquire(), false, 'fails fast while open');
    assert.equal(cb.retryAfterMs(), 1000);
    now = 999;
    assert.equal(cb.state, 'open');
    now = 1000;
    assert.equal(cb.state, 'half_open');
    assert.equal(cb.tryAcquire(), true, 'one trial call');
    assert.equal(cb.tryAcquire(), false, 'only one at a time');
    cb.failure();
    assert.equal(cb.state, 'open', 'a failed trial re-opens');
    now = 2000;
    assert.equal(cb.tryAcquire(), true);
    cb.success();
    assert.equal(cb.state, 'closed');
    assert.equal(cb.tryAcquire(), true);
  });
});

describe('hive choice', () => {
  const h = (
    node_name: string,
    busy: number,
    extra: Partial<{ available: boolean; circuit: 'closed' | 'open' | 'half_open' }> = {},
  ) => ({ node_name, busy, available: true, circuit: 'closed' as const, ...extra });
  it('fewest busy workers first, ties by name', () => {
    assert.equal(chooseHive([h('b', 1), h('a', 2), h('c', 0)])?.node_name, 'c');
    assert.equal(chooseHive([h('b', 1), h('a', 1)])?.node_name, 'a');
    assert.deepEqual(
      rankHives([h('c', 1), h('b', 0), h('a', 1)]).map((x) => x.node_name),
      ['b', 'a', 'c'],
    );
  });
  it('skips hives whose circuit is open or that are unavailable; half-open may take a trial', () => {
    assert.equal(chooseHive([h('a', 0, { circuit: 'open' }), h('b', 5)])?.node_name, 'b');
    assert.equal(chooseHive([h('a', 0, { available: false }), h('b', 5)])?.node_name, 'b');
    assert.equal(chooseHive([h('a', 0, { circuit: 'half_open' }), h('b', 5)])?.node_name, 'a');
    assert.equal(chooseHive([h('a', 0, { circuit: 'open' })]), undefined);
  });
});

describe('task validation', () => {
  it('422 names a missing or mistyped field', () => {
    const missing = thrown(() => validateTask({ model: MODEL, max_tokens: 5 }));
    assert.deepEqual([missing.status, missing.code, missing.extra.field], [422, 'INVALID_REQUEST', 'prompt']);
    const typed = thrown(() => validateTask({ model: MODEL, prompt: 'x', max_tokens: 1.5 }));
    assert.deepEqual([typed.status, typed.extra.field], [422, 'max_tokens']);
  });
  it('400 VALIDATION_FAILED lists every out-of-range field', () => {
    const e = thrown(() =>
      validateTask({ model: MODEL, prompt: '', max_tokens: 0, temperature: 3, stop: ['a', 'b', 'c', 'd', 'e'] }),
    );
    assert.equal(e.status, 400);
    assert.equal(e.code, 'VALIDATION_FAILED');
    assert.deepEqual(
      (e.extra.errors as { field: string }[]).map((x) => x.field),
      ['prompt', 'max_tokens', 'temperature', 'stop'],
    );
  });
  it('accepts a good request', () => {
    assert.equal(
      validateTask({ model: 'tinyllama', prompt: 'hi', max_tokens: 2048, temperature: 0, seed: 1, stop: ['x'] })
        .max_tokens,
      2048,
    );
  });
});

describe('hive availability', () => {
  it('available on heartbeat, unavailable after the timeout or when the circuit opens', () => {
    let now = 10_000;
    const { log } = captureLog();
    const reg = new HiveRegistry(
      { hiveTimeoutMs: 1000, cbFailures: 2, cbCooldownMs: 500 },
      new QueenStore(undefined, log),
      log,
      () => now,
    );
    const h = reg.heartbeat(
      'hive-a',
      'http://h:1/',
      [{ worker_id: 'w', url: 'u', model_ref: MODEL, state: 'busy' }],
      log,
    );
    assert.equal(h.url, 'http://h:1');
    assert.equal(reg.status(h), 'available');
    assert.equal(reg.candidate(h).busy, 1);
    assert.equal(reg.workerView().length, 1);
    now += 1001;
    assert.equal(reg.status(h), 'unavailable');
    assert.equal(reg.workerView().length, 0, 'workers of an unavailable hive are not listed');
    reg.heartbeat('hive-a', 'http://h:1', [], log);
    assert.equal(reg.status(h), 'available');
    h.circuit.failure();
    h.circuit.failure();
    assert.equal(reg.status(h), 'unavailable');
    now += 500;
    reg.heartbeat('hive-a', 'http://h:1', [], log);
    assert.equal(reg.status(h), 'available', 'half-open: a trial may go through');
  });
});

describe('registry storage', () => {
  it('keeps working from memory when the database cannot be written and writes everything once it can', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'queen-store-'));
    const sub = path.join(dir, 'data');
    const db = path.join(sub, 'queen.db');
    const { log, records } = captureLog();
    const a = new QueenStore(db, log);
    a.load();
    a.upsert({ node_name: 'h1', url: 'http://h1', static: true, registered_at_ms: 1, last_heartbeat_ms: null });
    assert.equal(a.flush(), true);
    // Storage disappears: the directory is replaced by a plain file, so the database cannot even be created.
    fs.rmSync(sub, { recursive: true });
    fs.writeFileSync(sub, 'not a directory');
    a.upsert({ node_name: 'h2', url: 'http://h2', static: false, registered_at_ms: 2, last_heartbeat_ms: 5 });
    assert.equal(a.flush(), false);
    assert.equal(a.pendingWrites, true);
    assert.ok(records.some((l) => l.event === 'store.write_failed'));
    // Storage is back: the next flush writes the whole registry, including what came meanwhile.
    fs.rmSync(sub);
    fs.mkdirSync(sub);
    assert.equal(a.flush(), true);
    assert.ok(records.some((l) => l.event === 'store.recovered'));
    a.close();
    const b = new QueenStore(db, log);
    assert.deepEqual(
      b
        .load()
        .map((r) => r.node_name)
        .sort(),
      ['h1', 'h2'],
    );
    b.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a registry unreadable at start is merged in once readable, never overwritten', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'queen-store-'));
    const sub = path.join(dir, 'data');
    const db = path.join(sub, 'queen.db');
    const { log } = captureLog();
    const first = new QueenStore(db, log);
    first.load();
    first.upsert({ node_name: 'old', url: 'http://old', static: true, registered_at_ms: 1, last_heartbeat_ms: null });
    first.close();
    fs.renameSync(sub, `${sub}.away`);
    fs.writeFileSync(sub, 'storage is gone');
    const store = new QueenStore(db, log);
    const reg = new HiveRegistry({ hiveTimeoutMs: 1000, cbFailures: 3, cbCooldownMs: 500 }, store, log);
    reg.load();
    assert.deepEqual(
      reg.all().map((h) => h.node_name),
      [],
    );
    reg.heartbeat('new', 'http://new', [], log);
    assert.equal(store.flush(), false);
    fs.rmSync(sub);
    fs.renameSync(`${sub}.away`, sub);
    assert.equal(store.flush(), true);
    assert.deepEqual(
      reg.all().map((h) => h.node_name),
      ['new', 'old'],
      'the registry learned the hive from disk',
    );
    store.close();
    const check = new QueenStore(db, log);
    assert.deepEqual(
      check
        .load()
        .map((r) => r.node_name)
        .sort(),
      ['new', 'old'],
    );
    check.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

// ---- the /v2/tasks flow against fakes ------------------------------------------------------------------

interface FakeWorkerEntry {
  worker_id: string;
  url: string;
  model_ref: string;
  state: string;
}

interface Recorded {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: any;
}

async function listen(server: http.Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function readBody(r: http.IncomingMessage): Promise<any> {
  return new Promise((resolve) => {
    let b = '';
    r.on('data', (c) => (b += c));
    r.on('end', () => resolve(b ? JSON.parse(b) : undefined));
  });
}

function json(res: http.ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** A worker that streams `max_tokens` tokens; `mode = 'break'` cuts the connection after two. */
async function startFakeWorker(onCrash: () => void) {
  const calls: Recorded[] = [];
  // break: the connection drops mid-job; vanish: the worker goes silent with its connection open (its
  // container's network namespace torn down: no FIN ever comes).
  const state = { mode: 'normal' as 'normal' | 'break' | 'vanish', delayMs: 5 };
  const cancelled = new Set<string>();
  const server = http.createServer(async (req, res) => {
    const body = await readBody(req);
    calls.push({ method: req.method!, path: req.url!, headers: req.headers, body });
    if (req.method === 'DELETE') {
      cancelled.add(decodeURIComponent(req.url!.split('/').at(-1)!));
      return void res.writeHead(204).end();
    }
    if (req.url === '/health') return json(res, 200, { status: 'healthy' });
    if (req.url !== '/v1/inference') return json(res, 404, {});
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const send = (e: unknown) => res.write(`data: ${JSON.stringify(e)}\n\n`);
    send({
      type: 'narration',
      actor: 'llm-worker-rbee',
      action: 'inference_start',
      human: 'go',
      job_id: body.job_id,
      correlation_id: req.headers['x-correlation-id'],
    });
    send({ type: 'started', job_id: body.job_id, model: MODEL, started_at: new Date().toISOString() });
    for (let i = 0; i < body.max_tokens; i++) {
      if (state.mode !== 'normal' && i === 2) {
        onCrash();
        if (state.mode === 'break') res.socket?.destroy();
        return;
      }
      if (cancelled.has(body.job_id)) {
        send({ type: 'end', tokens_out: i, decode_time_ms: 1, stop_reason: 'CANCELLED' });
        return void res.end('data: [DONE]\n\n');
      }
      send({ type: 'token', t: ` t${i}`, i });
      await new Promise((r) => setTimeout(r, state.delayMs));
    }
    send({ type: 'end', tokens_out: body.max_tokens, decode_time_ms: 1, stop_reason: 'MAX_TOKENS' });
    res.end('data: [DONE]\n\n');
  });
  const url = await listen(server);
  return {
    url,
    calls,
    state,
    close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}

/** A hive speaking the contract's worker routes, heartbeating to the queen like the real one. */
async function startFakeHive(name: string, workerUrl: string) {
  const calls: Recorded[] = [];
  const workers: FakeWorkerEntry[] = [];
  const removed: { worker_id: string; reason: string }[] = [];
  const state = { spawn: 'ok' as 'ok' | 'fail', queenUrl: '', n: 0 };
  const server = http.createServer(async (req, res) => {
    const body = await readBody(req);
    calls.push({ method: req.method!, path: req.url!, headers: req.headers, body });
    const route = `${req.method} ${req.url}`;
    if (route === 'POST /v1/workers/acquire') {
      const w = workers.find((x) => x.state === 'idle' && x.model_ref === body.model_ref);
      if (!w) {
        const matching: Record<string, number> = {};
        for (const x of workers.filter((y) => y.model_ref === body.model_ref))
          matching[x.state] = (matching[x.state] ?? 0) + 1;
        return json(res, 404, { error: { code: 'NO_IDLE_WORKER', message: 'none', matching_workers: matching } });
      }
      w.state = 'busy';
      return json(res, 200, { worker_id: w.worker_id, url: w.url });
    }
    if (route === 'POST /v1/workers/release') {
      const w = workers.find((x) => x.worker_id === body.worker_id);
      if (!w) return json(res, 404, { error: { code: 'WORKER_NOT_FOUND', message: 'gone' } });
      w.state = 'idle';
      return json(res, 200, { success: true });
    }
    if (route === 'GET /v1/workers/list') return json(res, 200, { workers, recently_removed: removed });
    if (route === 'POST /v1/workers/spawn') {
      const w = { worker_id: `${name}-w${++state.n}`, url: workerUrl, model_ref: body.model_ref, state: 'loading' };
      workers.push(w);
      setTimeout(() => {
        if (state.spawn === 'ok') w.state = 'idle';
        else {
          workers.splice(workers.indexOf(w), 1);
          removed.push({
            worker_id: w.worker_id,
            reason: 'spawn failed: worker killed by SIGKILL (possibly an out-of-memory kill by the kernel)',
          });
        }
      }, 150);
      return json(res, 200, { worker_id: w.worker_id, url: w.url, state: 'loading' });
    }
    if (route === 'GET /v1/health?deep=1') {
      return json(res, 200, {
        status: 'alive',
        reasons: [],
        workers: workers.map((w) => ({ worker_id: w.worker_id, state: w.state, healthy: true })),
      });
    }
    json(res, 404, { error: { code: 'NOT_FOUND', message: route } });
  });
  const url = await listen(server);
  const beat = () =>
    state.queenUrl &&
    req(
      'POST',
      `${state.queenUrl}/v2/hives/heartbeat`,
      { node_name: name, url, workers, timestamp: new Date().toISOString() },
      AUTH,
    ).catch(() => {});
  const timer = setInterval(beat, 100);
  return {
    url,
    calls,
    workers,
    removed,
    state,
    beat,
    close: () =>
      new Promise<void>((r) => (clearInterval(timer), server.closeAllConnections(), server.close(() => r()))),
  };
}

describe('queen /v2/tasks', () => {
  let dir: string;
  let queen: QueenApp;
  let url: string;
  let records: LogRecord[];
  let worker: Awaited<ReturnType<typeof startFakeWorker>>;
  let hive: Awaited<ReturnType<typeof startFakeHive>>;
  let privateKey: CryptoKey;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'queen-test-'));
    const keys = await generateKeyPair('EdDSA', { extractable: true });
    privateKey = keys.privateKey;
    const cfg: QueenConfig = {
      port: 0,
      bindHost: '127.0.0.1',
      dbPath: path.join(dir, 'queen.db'),
      jwtPublicKey: await exportSPKI(keys.publicKey),
      hiveTimeoutMs: 1000,
      cbFailures: 3,
      cbCooldownMs: 600,
      workerReadyTimeoutMs: 5000,
      shutdownGraceMs: 3000,
      token: TOKEN,
    };
    const cap = captureLog();
    records = cap.records;
    queen = createQueen(cfg, { log: cap.log });
    url = `http://127.0.0.1:${await queen.start()}`;
    worker = await startFakeWorker(() => {
      const w = hive.workers.find((x) => x.state === 'busy');
      if (w) {
        hive.workers.splice(hive.workers.indexOf(w), 1);
        hive.removed.push({ worker_id: w.worker_id, reason: 'crashed: worker killed by SIGKILL' });
      }
    });
    hive = await startFakeHive('hive-a', worker.url);
    hive.state.queenUrl = url;
    await hive.beat();
  });
  after(async () => {
    await hive.close();
    await worker.close();
    await queen.drain('test');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const task = (over: Record<string, unknown> = {}) => ({ model: MODEL, prompt: 'hello', max_tokens: 4, ...over });

  it('spawns a worker when the hive has none, then relays the stream after one queen narration', async () => {
    const s = await sse('POST', `${url}/v2/tasks`, task(), { ...AUTH, 'x-correlation-id': 'cid-job-1' });
    assert.equal(s.status, 200);
    assert.equal(s.headers.get('x-correlation-id'), 'cid-job-1');
    const [first, ...rest] = s.events;
    assert.equal(first.type, 'narration');
    assert.equal(first.actor, 'queen-rbee');
    assert.equal(first.node_name, 'hive-a');
    assert.equal(first.worker_id, 'hive-a-w1');
    assert.equal(first.correlation_id, 'cid-job-1');
    assert.deepEqual(
      rest.map((e) => e.type),
      ['narration', 'started', 'token', 'token', 'token', 'token', 'end'],
    );
    assert.deepEqual(
      rest.filter((e) => e.type === 'token').map((e) => e.i),
      [0, 1, 2, 3],
    );
    assert.equal(s.done, true);
    assert.ok(hive.calls.some((c) => c.path === '/v1/workers/spawn' && c.body.model_ref === MODEL));
    const release = hive.calls.find((c) => c.path === '/v1/workers/release');
    assert.equal(release?.body.job_id, first.job_id);
    assert.equal(hive.workers[0]?.state, 'idle', 'released before the client saw [DONE]');
    const inf = worker.calls.find((c) => c.path === '/v1/inference')!;
    assert.equal(inf.body.job_id, first.job_id);
    assert.equal(inf.headers['x-correlation-id'], 'cid-job-1');
    assert.equal(inf.headers.authorization, `Bearer ${TOKEN}`);
  });

  it('uses an idle worker without spawning and counts the job', async () => {
    const spawnsBefore = hive.calls.filter((c) => c.path === '/v1/workers/spawn').length;
    const s = await sse('POST', `${url}/v1/inference`, task({ max_tokens: 2 }), AUTH);
    assert.equal(s.done, true);
    assert.equal(s.events.at(-1).type, 'end');
    assert.equal(hive.calls.filter((c) => c.path === '/v1/workers/spawn').length, spawnsBefore);
    const metrics = (await req('GET', `${url}/metrics`)).body as string;
    assert.match(metrics, /^rbee_queen_jobs_total\{outcome="completed"\} 2$/m);
    assert.match(metrics, /^rbee_queen_hives\{status="available"\} 1$/m);
    assert.match(metrics, /^rbee_queen_circuit_open\{node_name="hive-a"\} 0$/m);
  });

  it('accepts a valid JWT and forwards its subject; rejects bad ones naming why', async () => {
    const sign = (o: { aud?: string; exp?: number; key?: CryptoKey } = {}) =>
      new SignJWT({ scope: 'jobs' })
        .setProtectedHeader({ alg: 'EdDSA' })
        .setSubject('alice')
        .setAudience(o.aud ?? 'rbee')
        .setExpirationTime(o.exp ?? Math.floor(Date.now() / 1000) + 300)
        .sign(o.key ?? privateKey);
    const ok = await sse('POST', `${url}/v2/tasks`, task({ max_tokens: 1 }), {
      authorization: `Bearer ${await sign()}`,
      'x-correlation-id': 'cid-jwt',
    });
    assert.equal(ok.status, 200);
    const inf = worker.calls.filter((c) => c.path === '/v1/inference').at(-1)!;
    assert.equal(inf.headers['x-rbee-subject'], 'alice');
    assert.equal(inf.headers['x-rbee-scope'], 'jobs');
    assert.equal(inf.headers.authorization, `Bearer ${TOKEN}`, 'internal hops carry the service token, not the JWT');
    assert.equal(hive.calls.filter((c) => c.path === '/v1/workers/acquire').at(-1)?.headers['x-rbee-subject'], 'alice');
    assert.ok(
      records.some((l) => l.event === 'job.dispatched' && l.subject === 'alice' && l.correlation_id === 'cid-jwt'),
    );

    const other = (await generateKeyPair('EdDSA')).privateKey;
    const cases: [string, string, RegExp][] = [
      ['expired', await sign({ exp: Math.floor(Date.now() / 1000) - 60 }), /expired/],
      ['audience', await sign({ aud: 'someone-else' }), /audience/],
      ['signature', await sign({ key: other }), /signature/],
    ];
    for (const [what, jwt, why] of cases) {
      const r = await req('POST', `${url}/v2/tasks`, task(), { authorization: `Bearer ${jwt}` });
      assert.equal(r.status, 401, what);
      assert.equal(r.body.error.code, 'INVALID_TOKEN', what);
      assert.match(r.body.error.message, why);
    }
    const none = await req('POST', `${url}/v2/tasks`, task());
    assert.equal(none.status, 401);
    assert.equal(none.body.error.code, 'MISSING_API_KEY');
  });

  it('a stream that breaks mid-job ends with a retryable WORKER_CRASHED error and [DONE]', async () => {
    worker.state.mode = 'break';
    try {
      const s = await sse('POST', `${url}/v2/tasks`, task({ max_tokens: 10 }), AUTH);
      const last = s.events.at(-1);
      assert.equal(last.type, 'error');
      assert.equal(last.code, 'WORKER_CRASHED');
      assert.equal(last.retryable, true);
      assert.equal(last.job_id, s.events[0].job_id);
      assert.match(last.message, /SIGKILL/);
      assert.equal(s.done, true);
      assert.deepEqual(
        s.events.filter((e) => e.type === 'token').map((e) => e.i),
        [0, 1],
      );
    } finally {
      worker.state.mode = 'normal';
    }
  });

  it('a worker that goes silent without closing its stream, and that its hive no longer lists, ends the job with WORKER_CRASHED', async () => {
    worker.state.mode = 'vanish';
    try {
      const t0 = Date.now();
      const s = await sse('POST', `${url}/v2/tasks`, task({ max_tokens: 10 }), AUTH);
      const last = s.events.at(-1);
      assert.deepEqual(
        { type: last.type, code: last.code, retryable: last.retryable },
        { type: 'error', code: 'WORKER_CRASHED', retryable: true },
      );
      assert.equal(s.done, true);
      assert.ok(Date.now() - t0 < 5000, `the silent stream was ended after ${Date.now() - t0} ms`);
      assert.ok(
        records.some((l) => l.event === 'job.worker_gone'),
        'the queen logs why it gave up on the stream',
      );
    } finally {
      worker.state.mode = 'normal';
    }
  });

  it('a client that goes away has its job cancelled on the worker, and the worker released', async () => {
    const ac = new AbortController();
    const r = await fetch(`${url}/v2/tasks`, {
      method: 'POST',
      headers: { ...AUTH, 'content-type': 'application/json' },
      body: JSON.stringify(task({ max_tokens: 400 })),
      signal: ac.signal,
    });
    const reader = r.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    const jobId = JSON.parse(first.slice(first.indexOf('{'), first.indexOf('\n'))).job_id as string;
    ac.abort();
    await eventually(
      () => worker.calls.some((c) => c.method === 'DELETE' && c.path === `/v1/inference/${jobId}`),
      3000,
      'cancel sent',
    );
    await eventually(
      () => hive.calls.some((c) => c.path === '/v1/workers/release' && c.body.job_id === jobId),
      3000,
      'released',
    );
    await eventually(
      async () => /^rbee_queen_jobs_total\{outcome="cancelled"\} 1$/m.test((await req('GET', `${url}/metrics`)).body),
      3000,
      'counted',
    );
  });

  it('a deadline that passes mid-stream ends it with DEADLINE_EXCEEDED and cancels the job', async () => {
    const s = await sse('POST', `${url}/v2/tasks`, task({ max_tokens: 400 }), {
      ...AUTH,
      'x-deadline': String(Date.now() + 300),
    });
    const last = s.events.at(-1);
    assert.equal(last.type, 'error');
    assert.equal(last.code, 'DEADLINE_EXCEEDED');
    assert.equal(s.done, true);
    const jobId = s.events[0].job_id as string;
    assert.equal(
      worker.calls.find((c) => c.path === '/v1/inference' && c.body.job_id === jobId)?.headers['x-deadline'] !==
        undefined,
      true,
      'x-deadline forwarded',
    );
    await eventually(
      () => worker.calls.some((c) => c.method === 'DELETE' && c.path === `/v1/inference/${jobId}`),
      3000,
      'cancel sent',
    );
    await eventually(() => hive.workers.every((w) => w.state === 'idle'), 3000, 'released');
  });

  it("a spawn that fails is reported with the hive's reason", async () => {
    hive.state.spawn = 'fail';
    try {
      const r = await req('POST', `${url}/v2/tasks`, task({ model: 'hf:test-org/oversized-GGUF' }), AUTH);
      assert.equal(r.status, 502);
      assert.equal(r.body.error.code, 'WORKER_SPAWN_FAILED');
      assert.match(r.body.error.message, /out-of-memory/);
    } finally {
      hive.state.spawn = 'ok';
    }
  });

  it('errors before the stream: validation, unknown node, deadline, no idle worker', async () => {
    const before = hive.calls.length;
    const bad = await req(
      'POST',
      `${url}/v2/tasks`,
      task({ max_tokens: 0, prompt: '', temperature: 3, stop: ['1', '2', '3', '4', '5'] }),
      { ...AUTH, 'x-correlation-id': 'cid-bad' },
    );
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.correlation_id, 'cid-bad');
    assert.deepEqual(
      bad.body.error.errors.map((e: { field: string }) => e.field),
      ['prompt', 'max_tokens', 'temperature', 'stop'],
    );
    const missing = await req('POST', `${url}/v2/tasks`, { model: MODEL, prompt: 'x' }, AUTH);
    assert.equal(missing.status, 422);
    const garbled = await req('POST', `${url}/v2/tasks`, '{"model":', AUTH);
    assert.equal(garbled.status, 400);
    assert.equal(garbled.body.error.code, 'INVALID_JSON');
    assert.equal(hive.calls.slice(before).filter((c) => c.method === 'POST').length, 0, 'no hive state was touched');

    const node = await req('POST', `${url}/v2/tasks`, task({ node: 'nowhere' }), AUTH);
    assert.equal(node.status, 404);
    assert.equal(node.body.error.code, 'NODE_NOT_FOUND');
    const late = await req('POST', `${url}/v2/tasks`, task(), { ...AUTH, 'x-deadline': String(Date.now() - 1) });
    assert.equal(late.status, 504);
    assert.equal(late.body.error.code, 'DEADLINE_EXCEEDED');
    const idle = await req('POST', `${url}/v1/inference`, task({ model: 'hf:test-org/unseen-GGUF' }), AUTH);
    assert.equal(idle.status, 503);
    assert.equal(idle.body.error.code, 'NO_CAPACITY');
    assert.equal(idle.body.error.retryable, true);
    assert.ok(idle.headers.get('retry-after'));
  });

  it('system health lists the hive and its workers', async () => {
    const h = await req('GET', `${url}/v2/health`, undefined, AUTH);
    assert.equal(h.status, 200);
    assert.equal(h.body.status, 'ok');
    assert.equal(h.body.hives[0].node_name, 'hive-a');
    assert.equal(h.body.hives[0].circuit, 'closed');
    assert.deepEqual(
      h.body.hives[0].workers.map((w: { worker_id: string }) => w.worker_id),
      hive.workers.map((w) => w.worker_id),
    );
    const list = await req('GET', `${url}/v2/workers/list`, undefined, AUTH);
    assert.ok(list.body.workers.every((w: { node: string }) => w.node === 'hive-a'));
  });

  it("repeated failures open a hive's circuit: fail fast with HIVE_UNAVAILABLE, metric set, then half-open", async () => {
    const dead = 'http://127.0.0.1:1';
    const beatDead = () =>
      req(
        'POST',
        `${url}/v2/hives/heartbeat`,
        { node_name: 'dead', url: dead, workers: [], timestamp: new Date().toISOString() },
        AUTH,
      );
    await beatDead();
    for (let i = 0; i < 3; i++) {
      const r = await req('POST', `${url}/v2/tasks`, task({ node: 'dead' }), AUTH);
      assert.equal(r.status, 503);
      assert.equal(r.body.error.code, 'HIVE_UNAVAILABLE');
    }
    await beatDead();
    const fast = await req('POST', `${url}/v2/tasks`, task({ node: 'dead' }), AUTH);
    assert.equal(fast.status, 503);
    assert.match(fast.body.error.message, /circuit/);
    assert.ok(fast.body.error.retry_after_ms > 0);
    assert.match((await req('GET', `${url}/metrics`)).body, /^rbee_queen_circuit_open\{node_name="dead"\} 1$/m);
    assert.ok(records.some((l) => l.event === 'circuit.open' && l.node_name === 'dead'));
    await eventually(() => queen.registry.get('dead')?.circuit.state === 'half_open', 3000, 'half-open');
    const health = await req('GET', `${url}/v2/health`, undefined, AUTH);
    assert.equal(health.body.status, 'degraded');
    assert.equal((await req('POST', `${url}/v2/registry/beehives/remove`, { node_name: 'dead' }, AUTH)).status, 200);
    assert.equal(
      (await req('POST', `${url}/v2/registry/beehives/remove`, { node_name: 'dead' }, AUTH)).body.error.code,
      'NODE_NOT_FOUND',
    );
  });

  it('persists the registry: a restarted queen knows its hives', async () => {
    const added = await req(
      'POST',
      `${url}/v2/registry/beehives/add`,
      { node_name: 'static-1', url: 'http://127.0.0.1:2' },
      AUTH,
    );
    assert.deepEqual(added.body, { success: true, node_name: 'static-1' });
    queen.store.flush();
    const { log } = captureLog();
    const again = new HiveRegistry(
      { hiveTimeoutMs: 1000, cbFailures: 3, cbCooldownMs: 600 },
      new QueenStore(path.join(dir, 'queen.db'), log),
      log,
    );
    again.load();
    assert.deepEqual(
      again
        .all()
        .map((h) => h.node_name)
        .sort(),
      ['hive-a', 'static-1'],
    );
    const list = await req('GET', `${url}/v2/registry/beehives/list`, undefined, AUTH);
    const node = list.body.nodes.find((n: { node_name: string }) => n.node_name === 'static-1');
    assert.equal(node.status, 'unavailable');
    assert.equal(node.last_heartbeat_ms, null);
  });
});

// ---- end to end ----------------------------------------------------------------------------------------

const WORKER_MAIN = new URL('../../stack/worker/main.ts', import.meta.url);
const HUB_MAIN = new URL('../../stack/hub/main.ts', import.meta.url);
const skipE2e =
  !fs.existsSync(WORKER_MAIN) || !fs.existsSync(HUB_MAIN)
    ? 'stack/worker/main.ts or stack/hub/main.ts does not exist yet'
    : false;

describe('end to end: hub + hive + queen + one spawned worker', { skip: skipE2e }, () => {
  const procs: ServiceProcess[] = [];
  let dir: string;
  after(() => {
    for (const p of procs) if (p.proc.exitCode === null) p.proc.kill('SIGKILL');
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('runs one /v2/tasks job and shuts the whole stack down on SIGTERM', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rbee-e2e-'));
    const common = { LLORCH_API_TOKEN: TOKEN, RBEE_SHUTDOWN_GRACE_MS: '5000' };
    const hub = await startService('stack/hub/main.ts', { HUB_PORT: '0' });
    procs.push(hub);
    const queen = await startService('stack/queen/main.ts', {
      ...common,
      RBEE_QUEEN_PORT: '0',
      RBEE_QUEEN_DB: path.join(dir, 'queen.db'),
      RBEE_HIVE_TIMEOUT_MS: '2000',
    });
    procs.push(queen);
    const lo = 30_000 + Math.floor(Math.random() * 20_000);
    const hive = await startService('stack/hive/main.ts', {
      ...common,
      RBEE_HIVE_PORT: '0',
      RBEE_NODE_NAME: 'hive-e2e',
      RBEE_QUEEN_URL: `http://127.0.0.1:${queen.port}`,
      RBEE_HIVE_DB: path.join(dir, 'hive.db'),
      RBEE_MODELS_DIR: path.join(dir, 'models'),
      RBEE_MODEL_HUB_URL: `http://127.0.0.1:${hub.port}`,
      RBEE_WORKER_PORT_RANGE: `${lo}-${lo + 100}`,
      RBEE_HEARTBEAT_INTERVAL_MS: '250',
      RBEE_MONITOR_INTERVAL_MS: '250',
      RBEE_WORKER_HEARTBEAT_TIMEOUT_MS: '1500',
      MOCK_LOAD_MS: '50',
      MOCK_TOKEN_DELAY_MS: '5',
    });
    procs.push(hive);
    const q = `http://127.0.0.1:${queen.port}`;
    await eventually(
      async () =>
        (await req('GET', `${q}/v2/registry/beehives/list`, undefined, AUTH)).body.nodes?.[0]?.status === 'available',
      10_000,
      'hive registered',
    );

    const t0 = Date.now();
    const s = await sse(
      'POST',
      `${q}/v2/tasks`,
      { model: 'tinyllama', prompt: 'hello', max_tokens: 5 },
      { ...AUTH, 'x-correlation-id': 'cid-e2e' },
    );
    assert.equal(s.status, 200);
    assert.equal(s.events[0].node_name, 'hive-e2e');
    const tokens = s.events.filter((e) => e.type === 'token');
    assert.deepEqual(
      tokens.map((e) => e.i),
      [0, 1, 2, 3, 4],
    );
    assert.equal(s.events.at(-1).type, 'end');
    assert.equal(s.done, true);
    assert.ok(Date.now() - t0 < 10_000);
    const workers = (await req('GET', `http://127.0.0.1:${hive.port}/v1/workers/list`, undefined, AUTH)).body.workers;
    assert.equal(workers.length, 1);
    assert.equal(workers[0].state, 'idle');
    assert.equal(workers[0].worker_id, s.events[0].worker_id);
    const workerPid = workers[0].pid as number;
    assert.ok(
      hive.lines.some((l) => l.service === 'worker' && l.correlation_id === 'cid-e2e'),
      'worker logs flow through the hive',
    );

    queen.proc.kill('SIGTERM');
    const [qe, he] = await Promise.all([queen.exited, hive.exited]);
    assert.deepEqual([qe.code, he.code], [0, 0]);
    await eventually(
      () => {
        try {
          process.kill(workerPid, 0);
          return false;
        } catch {
          return true;
        }
      },
      5000,
      'worker exited',
    );
    hub.proc.kill('SIGTERM');
    await hub.exited;
  });
});
