// Unit tests of rbee-hive (contract §2): the worker state machine, request validation and JSON errors,
// external registration and acquire/release, model provisioning (one download per model, progress replay,
// checksum mismatch), the corrupt-database fallback, and worker processes (spawn, crash, restart, spawn
// failure, loading timeout, stop) with a small fake worker.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { canTransition, WORKER_STATES, type WorkerState } from '../../stack/hive/states.ts';
import { createHive, type HiveApp } from '../../stack/hive/app.ts';
import type { HiveConfig } from '../../stack/hive/config.ts';
import { HiveStore } from '../../stack/hive/store.ts';
import { PortAllocator } from '../../stack/hive/ports.ts';
import { describeExit, OomCounter } from '../../stack/hive/process.ts';
import {
  captureLog,
  eventually,
  req,
  sse,
  startTinyHub,
  type LogRecord,
  type TinyHub,
} from './orchestration-helpers.ts';

const FAKE_WORKER = fileURLToPath(new URL('./fixtures/hive-fake-worker.mjs', import.meta.url));
const TOKEN = 'hive-test-token';
const AUTH = { authorization: `Bearer ${TOKEN}` };
const MODEL = 'hf:test-org/tiny-GGUF';

function tmpdir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'hive-test-'));
}

/** A random slice of high ports, so parallel test runs rarely meet. */
function randomRange(): [number, number] {
  const lo = 20_000 + Math.floor(Math.random() * 20_000);
  return [lo, lo + 200];
}

function config(dir: string, over: Partial<HiveConfig> = {}): HiveConfig {
  return {
    port: 0,
    bindHost: '127.0.0.1',
    nodeName: 'hive-t',
    dbPath: path.join(dir, 'hive.db'),
    modelsDir: path.join(dir, 'models'),
    workerCmd: ['node', FAKE_WORKER],
    workerHost: '127.0.0.1',
    workerLauncher: 'process',
    workerPortRange: randomRange(),
    heartbeatIntervalMs: 1000,
    workerHeartbeatTimeoutMs: 1500,
    workerLoadingTimeoutMs: 10_000,
    monitorIntervalMs: 100,
    workerIdleTimeoutMs: 300_000,
    restartPolicy: 'never',
    maxRestarts: 3,
    maxWorkers: 8,
    shutdownGraceMs: 3000,
    token: TOKEN,
    ...over,
  };
}

async function startHive(
  cfg: HiveConfig,
  records: LogRecord[] = [],
): Promise<{ app: HiveApp; url: string; records: LogRecord[] }> {
  const { log } = captureLog(records);
  const app = createHive(cfg, { log });
  const port = await app.start();
  return { app, url: `http://127.0.0.1:${port}`, records };
}

describe('worker state machine', () => {
  const allowed: [WorkerState, WorkerState][] = [
    ['loading', 'idle'],
    ['idle', 'busy'],
    ['busy', 'idle'],
    ['loading', 'stopping'],
    ['idle', 'stopping'],
    ['busy', 'stopping'],
    ['unhealthy', 'stopping'],
    ['loading', 'crashed'],
    ['idle', 'crashed'],
    ['busy', 'crashed'],
    ['unhealthy', 'crashed'],
    ['idle', 'unhealthy'],
    ['busy', 'unhealthy'],
    ['unhealthy', 'idle'],
    ['unhealthy', 'busy'],
    ['crashed', 'loading'],
  ];
  it('allows exactly the contract arrows', () => {
    for (const from of WORKER_STATES) {
      for (const to of WORKER_STATES) {
        const expected = allowed.some(([f, t]) => f === from && t === to);
        assert.equal(canTransition(from, to), expected, `${from} → ${to}`);
      }
    }
  });
  it('refuses skipping an arrow', () => {
    assert.equal(canTransition('loading', 'busy'), false);
    assert.equal(canTransition('stopping', 'idle'), false);
    assert.equal(canTransition('crashed', 'idle'), false);
  });
});

describe('exit descriptions', () => {
  it('names an out-of-memory kill only when the kernel confirmed it', () => {
    assert.equal(describeExit(null, 'SIGKILL'), 'killed by SIGKILL');
    assert.equal(describeExit(137, null), 'killed by SIGKILL');
    assert.match(describeExit(null, 'SIGKILL', undefined, true), /out-of-memory killer.*oom_kill count went up/);
    assert.equal(describeExit(3, null), 'exited with code 3');
  });

  it("confirms an OOM kill by the cgroup's oom_kill count rising", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oom-'));
    const file = path.join(dir, 'memory.events');
    fs.writeFileSync(file, 'low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n');
    const c = new OomCounter([file]);
    assert.equal(c.rose(), false);
    fs.writeFileSync(file, 'low 0\nhigh 0\nmax 9\noom 2\noom_kill 2\n');
    assert.equal(c.rose(), true);
    assert.equal(c.rose(), false);
    assert.equal(new OomCounter([path.join(dir, 'none')]).rose(), false);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('port allocation', () => {
  it('hands out distinct free ports and skips ports in use', async () => {
    const net = await import('node:net');
    // A port below the ephemeral range that we hold ourselves, inside a range of 20.
    const lo = 20_000 + Math.floor(Math.random() * 9000);
    const blocker = net.createServer();
    await new Promise<void>((resolve, reject) =>
      blocker.once('error', reject).listen(lo + 1, '127.0.0.1', () => resolve()),
    );
    try {
      const ports = new PortAllocator([lo, lo + 20], ['127.0.0.1']);
      const got = new Set<number>();
      for (let i = 0; i < 20; i++) got.add(await ports.allocate().catch(() => -1));
      got.delete(-1);
      assert.ok(got.size >= 15, `distinct ports (${got.size})`);
      assert.ok(!got.has(lo + 1), 'the port in use is skipped');
    } finally {
      blocker.close();
    }
  });
});

describe('hive HTTP API', () => {
  let dir: string;
  let hive: { app: HiveApp; url: string; records: LogRecord[] };
  before(async () => {
    dir = tmpdir();
    hive = await startHive(config(dir));
  });
  after(async () => {
    await hive.app.drain('test');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('health is public and alive', async () => {
    const r = await req('GET', `${hive.url}/v1/health`);
    assert.equal(r.status, 200);
    assert.equal(r.body.status, 'alive');
    assert.equal(r.body.api_version, 'v1');
    assert.deepEqual(r.body.reasons, []);
  });

  it('needs the service token elsewhere', async () => {
    const r = await req('GET', `${hive.url}/v1/workers/list`, undefined, { 'x-correlation-id': 'cid-auth' });
    assert.equal(r.status, 401);
    assert.equal(r.body.error.code, 'MISSING_API_KEY');
    assert.equal(r.body.error.correlation_id, 'cid-auth');
    assert.equal(r.headers.get('www-authenticate'), 'Bearer');
  });

  it('422 for a missing field, 400 listing every out-of-range field, 400 for bad JSON', async () => {
    const missing = await req('POST', `${hive.url}/v1/workers/spawn`, { backend: 'cpu' }, AUTH);
    assert.equal(missing.status, 422);
    assert.equal(missing.body.error.code, 'INVALID_REQUEST');
    assert.equal(missing.body.error.field, 'model_ref');
    const bad = await req(
      'POST',
      `${hive.url}/v1/workers/spawn`,
      { model_ref: 'hf:../etc', backend: 'tpu', device: -1 },
      AUTH,
    );
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 'VALIDATION_FAILED');
    assert.deepEqual(
      bad.body.error.errors.map((e: { field: string }) => e.field),
      ['model_ref', 'backend', 'device'],
    );
    const garbled = await req('POST', `${hive.url}/v1/workers/spawn`, '{"model_ref":', AUTH);
    assert.equal(garbled.status, 400);
    assert.equal(garbled.body.error.code, 'INVALID_JSON');
    assert.equal(hive.app.workers.list().length, 0, 'no state changed');
  });

  it('heartbeat of an unknown worker is 404 WORKER_NOT_FOUND', async () => {
    const r = await req(
      'POST',
      `${hive.url}/v1/heartbeat`,
      { worker_id: 'nobody', timestamp: new Date().toISOString(), health_status: 'healthy' },
      AUTH,
    );
    assert.equal(r.status, 404);
    assert.equal(r.body.error.code, 'WORKER_NOT_FOUND');
    assert.ok(r.body.error.correlation_id);
  });

  it('registers an external worker, routes to it, and rejects out-of-order callbacks', async () => {
    const ready = { worker_id: 'ext-1', url: 'http://127.0.0.1:1', model_ref: MODEL, backend: 'cpu', device: 0 };
    const r = await req('POST', `${hive.url}/v1/workers/ready`, ready, {
      ...AUTH,
      'x-rbee-subject': 'alice',
      'x-correlation-id': 'cid-ready',
    });
    assert.equal(r.status, 200);
    const [w] = hive.app.workers.list();
    assert.equal(w?.state, 'idle');
    assert.equal(w?.external, true);
    assert.ok(
      hive.records.some(
        (l) => l.event === 'worker.registered' && l.subject === 'alice' && l.correlation_id === 'cid-ready',
      ),
    );

    assert.equal(
      (await req('POST', `${hive.url}/v1/workers/ready`, ready, AUTH)).status,
      200,
      'repeated ready for an idle worker is a no-op',
    );
    const none = await req(
      'POST',
      `${hive.url}/v1/workers/acquire`,
      { model_ref: 'hf:other/model', job_id: 'j0' },
      AUTH,
    );
    assert.equal(none.status, 404);
    assert.equal(none.body.error.code, 'NO_IDLE_WORKER');

    const acq = await req('POST', `${hive.url}/v1/workers/acquire`, { model_ref: MODEL, job_id: 'j1' }, AUTH);
    assert.equal(acq.status, 200);
    assert.deepEqual(acq.body, { worker_id: 'ext-1', url: 'http://127.0.0.1:1' });
    const again = await req('POST', `${hive.url}/v1/workers/acquire`, { model_ref: MODEL, job_id: 'j2' }, AUTH);
    assert.equal(again.status, 404);
    assert.deepEqual(again.body.error.matching_workers, { busy: 1 });

    const skip = await req('POST', `${hive.url}/v1/workers/ready`, ready, AUTH);
    assert.equal(skip.status, 409);
    assert.equal(skip.body.error.code, 'INVALID_STATE_TRANSITION');

    assert.equal(
      (await req('POST', `${hive.url}/v1/workers/release`, { worker_id: 'ext-1', job_id: 'j1' }, AUTH)).status,
      200,
    );
    assert.equal(hive.app.workers.list()[0]?.state, 'idle');
    const list = await req('GET', `${hive.url}/v1/workers/list`, undefined, AUTH);
    for (const k of [
      'worker_id',
      'url',
      'model_ref',
      'backend',
      'device',
      'state',
      'pid',
      'started_at_ms',
      'last_heartbeat_ms',
      'failed_health_checks',
      'restart_count',
      'external',
    ]) {
      assert.ok(k in list.body.workers[0], `WorkerInfo has ${k}`);
    }
  });

  it('a worker that stops heartbeating becomes unhealthy, then is removed; health turns degraded', async () => {
    await req(
      'POST',
      `${hive.url}/v1/workers/ready`,
      { worker_id: 'ext-silent', url: 'http://127.0.0.1:1', model_ref: MODEL },
      AUTH,
    );
    await eventually(
      () => hive.app.workers.list().find((w) => w.worker_id === 'ext-silent')?.state === 'unhealthy',
      5000,
      'unhealthy',
    );
    const h = await req('GET', `${hive.url}/v1/health`);
    assert.equal(h.body.status, 'degraded');
    assert.ok(h.body.reasons.some((r: string) => r.includes('ext-silent')));
    assert.ok(hive.records.some((l) => l.event === 'worker.unhealthy' && l.worker_id === 'ext-silent'));
    await eventually(() => !hive.app.workers.list().some((w) => w.worker_id === 'ext-silent'), 5000, 'removed');
  });
});

describe('model provisioning', () => {
  let dir: string;
  let hub: TinyHub;
  let hive: { app: HiveApp; url: string; records: LogRecord[] };
  const good = { model_ref: MODEL, aliases: ['tiny'], file: 'tiny.gguf', bytes: randomBytes(300 * 1024) };
  const broken = {
    model_ref: 'hf:test-org/broken-GGUF',
    aliases: [],
    file: 'broken.gguf',
    bytes: randomBytes(50 * 1024),
    sha256: '0'.repeat(64),
  };
  before(async () => {
    dir = tmpdir();
    hub = await startTinyHub([good, broken]);
    hive = await startHive(config(dir, { hubUrl: hub.url }));
  });
  after(async () => {
    await hive.app.drain('test');
    await hub.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('concurrent requests share one download; progress is replayed in full to a late subscriber', async () => {
    const [a, b, c] = await Promise.all([
      req('POST', `${hive.url}/v1/models/download`, { model_ref: MODEL }, AUTH),
      req('POST', `${hive.url}/v1/models/download`, { model_ref: 'tiny' }, AUTH),
      req('POST', `${hive.url}/v1/models/download`, { model_ref: MODEL }, AUTH),
    ]);
    assert.equal(a.status, 200);
    assert.equal(a.body.local_path, null);
    assert.equal(b.body.download_id, a.body.download_id);
    assert.equal(c.body.download_id, a.body.download_id);
    const id = a.body.download_id as string;
    const live = await sse('GET', `${hive.url}/v1/models/download/progress?id=${id}`, undefined, AUTH);
    const late = await sse('GET', `${hive.url}/v1/models/download/progress?id=${id}`, undefined, AUTH);
    assert.equal(hub.gets.get('tiny.gguf'), 1, 'the hub saw one GET');
    for (const s of [live, late]) {
      assert.equal(s.done, true);
      assert.deepEqual([s.events[0].stage, s.events.at(-1).stage], ['started', 'complete']);
      assert.ok(
        s.events.every((e) => e.download_id === id && e.model_ref === MODEL),
        'ids on every event',
      );
      const fractions = s.events.filter((e) => e.stage === 'downloading').map((e) => e.fraction as number);
      assert.ok(fractions.length >= 3, `several progress events (${fractions.length})`);
      fractions.forEach((f, i) =>
        assert.ok(f > 0 && f <= 1 && (i === 0 || f > fractions[i - 1]!), `fraction ${f} at ${i}`),
      );
      assert.equal(fractions.at(-1), 1);
    }
    assert.deepEqual(late.events, live.events);
    const models = await req('GET', `${hive.url}/v1/models`, undefined, AUTH);
    assert.equal(models.body.models.length, 1);
    assert.equal(models.body.models[0].model_ref, MODEL, 'catalog keeps the canonical ref, not the alias');
    assert.equal(models.body.models[0].size_bytes, good.bytes.length);
    assert.equal(fs.readFileSync(models.body.models[0].local_path).equals(good.bytes), true);
    const cached = await req('POST', `${hive.url}/v1/models/download`, { model_ref: 'tiny' }, AUTH);
    assert.equal(cached.body.download_id, 'cached');
    assert.equal(cached.body.local_path, models.body.models[0].local_path);
  });

  it('a checksum mismatch ends in an error stage, deletes the file and records nothing', async () => {
    const r = await req('POST', `${hive.url}/v1/models/download`, { model_ref: broken.model_ref }, AUTH);
    const s = await sse('GET', `${hive.url}/v1/models/download/progress?id=${r.body.download_id}`, undefined, AUTH);
    const last = s.events.at(-1);
    assert.equal(last.stage, 'error');
    assert.equal(last.code, 'MODEL_CHECKSUM_MISMATCH');
    assert.equal(s.done, true);
    assert.deepEqual(
      fs.readdirSync(path.join(dir, 'models')).filter((f) => f.startsWith('broken')),
      [],
    );
    assert.ok(!hive.app.provisioner.catalog.has(broken.model_ref));
    assert.ok(hive.records.some((l) => l.event === 'model.download.failed'));
  });

  it('an unknown model is 404 MODEL_NOT_FOUND, never a substitute', async () => {
    const r = await req('POST', `${hive.url}/v1/models/download`, { model_ref: 'hf:nobody/nothing' }, AUTH);
    assert.equal(r.status, 404);
    assert.equal(r.body.error.code, 'MODEL_NOT_FOUND');
    const spawn = await req('POST', `${hive.url}/v1/workers/spawn`, { model_ref: 'hf:nobody/nothing' }, AUTH);
    assert.equal(spawn.status, 404);
    assert.equal(spawn.body.error.code, 'MODEL_NOT_FOUND');
    const progress = await req('GET', `${hive.url}/v1/models/download/progress?id=nope`, undefined, AUTH);
    assert.equal(progress.status, 404);
  });

  it('metrics count the download', async () => {
    const text = (await req('GET', `${hive.url}/metrics`)).body as string;
    assert.match(text, /^rbee_hive_models_downloaded_total 1$/m);
    assert.match(text, /^rbee_hive_downloads_active 0$/m);
    assert.match(text, new RegExp(`^rbee_hive_download_bytes_total ${good.bytes.length + broken.bytes.length}$`, 'm'));
  });
});

describe('corrupt database', () => {
  it('at start: logs catalog.corrupt, moves the file aside, runs in memory, reports degraded, still provisions', async () => {
    const dir = tmpdir();
    const db = path.join(dir, 'hive.db');
    fs.writeFileSync(db, randomBytes(8192));
    const hub = await startTinyHub([{ model_ref: MODEL, aliases: [], file: 'tiny.gguf', bytes: randomBytes(70_000) }]);
    const hive = await startHive(config(dir, { hubUrl: hub.url }));
    try {
      const corrupt = hive.records.find((l) => l.event === 'catalog.corrupt');
      assert.ok(corrupt, 'catalog.corrupt logged');
      assert.match(String(corrupt.sqlite_error), /SQLITE_NOTADB|not a database/);
      assert.ok(
        fs.readdirSync(dir).some((f) => f.startsWith('hive.db.corrupt-')),
        'moved aside',
      );
      const h = await req('GET', `${hive.url}/v1/health`);
      assert.equal(h.body.status, 'degraded');
      assert.match(h.body.reasons[0], /corrupt/);
      const r = await req('POST', `${hive.url}/v1/models/download`, { model_ref: MODEL }, AUTH);
      await sse('GET', `${hive.url}/v1/models/download/progress?id=${r.body.download_id}`, undefined, AUTH);
      assert.equal((await req('GET', `${hive.url}/v1/models`, undefined, AUTH)).body.models.length, 1);
    } finally {
      await hive.app.drain('test');
      await hub.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('while running: garbage written over the file is noticed and the catalog is kept', () => {
    const dir = tmpdir();
    const db = path.join(dir, 'hive.db');
    const { log, records } = captureLog();
    const store = new HiveStore(db, log);
    const models = Array.from({ length: 5 }, (_, i) => ({
      model_ref: `hf:o/m${i}`,
      local_path: `/x/${i}`,
      size_bytes: i,
      sha256: 'ab',
      downloaded_at: 'now',
    }));
    store.setSnapshotSource(() => ({ workers: [], models }));
    for (const m of models) store.putModel(m);
    fs.writeFileSync(db, randomBytes(16384)); // same inode, contents destroyed
    store.check();
    assert.ok(records.some((l) => l.event === 'catalog.corrupt'));
    assert.ok(store.degradedReason);
    assert.equal(store.loadModels().length, 5, 'the in-memory store holds what the hive knew');
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a sound database is reloaded after a restart', () => {
    const dir = tmpdir();
    const db = path.join(dir, 'hive.db');
    const a = new HiveStore(db, captureLog().log);
    a.putModel({ model_ref: MODEL, local_path: '/x', size_bytes: 1, sha256: 'ab', downloaded_at: 'now' });
    a.close();
    const b = new HiveStore(db, captureLog().log);
    assert.equal(b.degradedReason, null);
    assert.deepEqual(
      b.loadModels().map((m) => m.model_ref),
      [MODEL],
    );
    b.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('worker processes', () => {
  let dir: string;
  let hub: TinyHub;
  before(async () => {
    dir = tmpdir();
    hub = await startTinyHub([{ model_ref: MODEL, aliases: [], file: 'tiny.gguf', bytes: randomBytes(10_000) }], {
      pauseMs: 0,
    });
  });
  after(async () => {
    await hub.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function withHive(
    over: Partial<HiveConfig>,
    env: Record<string, string>,
    fn: (h: { app: HiveApp; url: string; records: LogRecord[] }) => Promise<void>,
  ) {
    const saved = { ...process.env };
    Object.assign(process.env, env); // the hive passes its environment on to the workers it starts
    const h = await startHive(config(fs.mkdtempSync(path.join(dir, 'h-')), { hubUrl: hub.url, ...over }));
    try {
      await fn(h);
    } finally {
      await h.app.drain('test');
      process.env = saved;
    }
  }

  const spawn = (url: string) =>
    req('POST', `${url}/v1/workers/spawn`, { model_ref: MODEL, backend: 'cpu', device: 0 }, AUTH);

  it('spawn → loading → idle; a SIGKILL is a crash: logged with the signal, counted, removed', async () => {
    await withHive({}, { FAKE_WORKER_MODE: 'normal' }, async ({ app, url, records }) => {
      const r = await spawn(url);
      assert.equal(r.status, 200);
      assert.equal(r.body.state, 'loading');
      const id = r.body.worker_id as string;
      const w = await eventually(
        () => app.workers.list().find((x) => x.worker_id === id && x.state === 'idle'),
        8000,
        'idle',
      );
      assert.ok(w.pid && w.pid > 0);
      assert.ok(
        records.some(
          (l) => l.event === 'worker.spawned' && l.worker_id === id && l.pid === w.pid && typeof l.port === 'number',
        ),
      );
      assert.ok(records.some((l) => l.event === 'worker.ready' && l.worker_id === id));
      process.kill(w.pid!, 'SIGKILL');
      await eventually(() => !app.workers.list().some((x) => x.worker_id === id), 3000, 'removed');
      const crash = records.find((l) => l.event === 'worker.crashed' && l.worker_id === id);
      assert.equal(crash?.signal, 'SIGKILL');
      const list = await req('GET', `${url}/v1/workers/list`, undefined, AUTH);
      assert.match(list.body.recently_removed[0].reason, /SIGKILL/);
      const metrics = (await req('GET', `${url}/metrics`)).body as string;
      assert.match(metrics, /^rbee_hive_worker_crashes_total 1$/m);
      assert.match(metrics, /^rbee_hive_workers\{state="idle"\} 0$/m);
    });
  });

  it('with a worker log dir, each worker writes its own log file there', async () => {
    const logDir = fs.mkdtempSync(path.join(dir, 'wl-'));
    await withHive({ workerLogDir: logDir }, { FAKE_WORKER_MODE: 'normal' }, async ({ app, url }) => {
      const id = (await spawn(url)).body.worker_id as string;
      await eventually(() => app.workers.list().find((x) => x.worker_id === id && x.state === 'idle'), 8000, 'idle');
      const file = path.join(logDir, `${id}.log`);
      const lines = fs
        .readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      assert.ok(
        lines.some((l) => l.event === 'service.listening' && l.worker_id === id),
        `lines of ${file}`,
      );
    });
  });

  it('under on-crash a crashed worker comes back with the same id and restart_count+1', async () => {
    await withHive(
      { restartPolicy: 'on-crash', maxRestarts: 1 },
      { FAKE_WORKER_MODE: 'normal' },
      async ({ app, url, records }) => {
        const id = (await spawn(url)).body.worker_id as string;
        const first = await eventually(
          () => app.workers.list().find((x) => x.worker_id === id && x.state === 'idle'),
          8000,
          'idle',
        );
        process.kill(first.pid!, 'SIGKILL');
        const again = await eventually(
          () => app.workers.list().find((x) => x.worker_id === id && x.state === 'idle' && x.restart_count === 1),
          8000,
          'restarted',
        );
        assert.notEqual(again.pid, first.pid);
        assert.ok(records.some((l) => l.event === 'worker.restarted' && l.worker_id === id && l.restart_count === 1));
        assert.match((await req('GET', `${url}/metrics`)).body, /^rbee_hive_worker_restarts_total 1$/m);
        process.kill(again.pid!, 'SIGKILL'); // limit reached: removed
        await eventually(() => !app.workers.list().some((x) => x.worker_id === id), 3000, 'removed after the limit');
      },
    );
  });

  it('a worker that dies while loading is a spawn failure, with the cause', async () => {
    await withHive(
      { restartPolicy: 'on-crash' },
      { FAKE_WORKER_MODE: 'exit-at-start' },
      async ({ app, url, records }) => {
        const id = (await spawn(url)).body.worker_id as string;
        await eventually(() => !app.workers.list().some((x) => x.worker_id === id), 5000, 'removed');
        const failed = records.find((l) => l.event === 'worker.spawn_failed' && l.worker_id === id);
        assert.equal(failed?.exit_code, 3);
        assert.equal(app.workers.recentlyRemoved.at(-1)?.reason, 'spawn failed: worker exited with code 3');
        assert.ok(!records.some((l) => l.event === 'worker.restarted'), 'a first start that fails is not restarted');
      },
    );
  });

  it('a worker held busy whose job never ran is taken back after the lease grace', async () => {
    await withHive({}, { FAKE_WORKER_MODE: 'normal' }, async ({ app, url, records }) => {
      const id = (await spawn(url)).body.worker_id as string;
      await eventually(() => app.workers.list().find((x) => x.worker_id === id && x.state === 'idle'), 8000, 'idle');
      const acq = await req('POST', `${url}/v1/workers/acquire`, { model_ref: MODEL, job_id: 'lost-job' }, AUTH);
      assert.equal(acq.status, 200);
      assert.equal(app.workers.list()[0]?.state, 'busy');
      await eventually(() => app.workers.list()[0]?.state === 'idle', 6000, 'taken back');
      assert.ok(records.some((l) => l.event === 'worker.lease_expired' && l.job_id === 'lost-job'));
    });
  });

  it('a worker stuck loading is killed after the loading timeout', async () => {
    await withHive(
      { workerLoadingTimeoutMs: 500 },
      { FAKE_WORKER_MODE: 'never-ready' },
      async ({ app, url, records }) => {
        const id = (await spawn(url)).body.worker_id as string;
        await eventually(() => !app.workers.list().some((x) => x.worker_id === id), 5000, 'removed');
        assert.ok(
          records.some((l) => l.event === 'worker.killed' && l.worker_id === id && /loading/.test(String(l.reason))),
        );
      },
    );
  });

  it('shutdown stops the process; capacity is enforced with 507', async () => {
    await withHive({ maxWorkers: 1 }, { FAKE_WORKER_MODE: 'normal' }, async ({ app, url }) => {
      const id = (await spawn(url)).body.worker_id as string;
      const w = await eventually(
        () => app.workers.list().find((x) => x.worker_id === id && x.state === 'idle'),
        8000,
        'idle',
      );
      const full = await spawn(url);
      assert.equal(full.status, 507);
      assert.equal(full.body.error.code, 'INSUFFICIENT_RESOURCES');
      const stop = await req('POST', `${url}/v1/workers/shutdown`, { worker_id: id }, AUTH);
      assert.equal(stop.status, 200);
      assert.equal(app.workers.list().length, 0);
      assert.throws(() => process.kill(w.pid!, 0), 'the process is gone');
    });
  });
});

describe('worker launcher "request" (workers started by another party, e.g. in their own containers)', () => {
  let dir: string;
  let hub: TinyHub;
  const good = { model_ref: MODEL, aliases: ['tiny'], file: 'tiny.gguf', bytes: randomBytes(64 * 1024) };
  before(async () => {
    dir = tmpdir();
    hub = await startTinyHub([good]);
  });
  after(async () => {
    await hub.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('lists what it wants, takes the launcher’s reports, and names a confirmed OOM kill from them', async () => {
    const h = await startHive(config(dir, { hubUrl: hub.url, workerLauncher: 'request' }));
    try {
      const id = (await req('POST', `${h.url}/v1/workers/spawn`, { model_ref: MODEL, backend: 'cpu', device: 0 }, AUTH))
        .body.worker_id as string;
      const wanted = await req('GET', `${h.url}/v1/launcher/workers`, undefined, AUTH);
      assert.equal(wanted.status, 200);
      const [r] = wanted.body.workers;
      assert.equal(r.worker_id, id);
      assert.equal(r.observed, 'requested');
      assert.equal(r.adopt, false);
      assert.equal(r.args[r.args.indexOf('--worker-id') + 1], id);
      assert.equal(r.env.LLORCH_API_TOKEN, TOKEN, 'the worker gets the service token');
      assert.equal(r.env.RBEE_WORKER_HOST, id, 'the worker advertises its own name');
      assert.match(h.app.workers.list()[0]!.url, new RegExp(`^http://${id}:\\d+$`));
      assert.equal((await req('GET', `${h.url}/v1/launcher/workers`)).status, 401, 'the list needs the token');

      const status = (body: Record<string, unknown>) => req('POST', `${h.url}/v1/launcher/status`, body, AUTH);
      assert.equal((await status({ worker_id: id, generation: 'old', state: 'running', pid: 1 })).body.accepted, false);
      assert.equal(
        (await status({ worker_id: id, generation: r.generation, state: 'running', pid: 4242 })).body.accepted,
        true,
      );
      assert.equal(h.app.workers.list()[0]!.pid, 4242);
      assert.ok(h.records.some((l) => l.event === 'worker.spawned' && l.worker_id === id && l.pid === 4242));
      assert.equal(
        (await req('GET', `${h.url}/v1/launcher/workers`, undefined, AUTH)).body.workers[0].observed,
        'running',
      );

      await status({
        worker_id: id,
        generation: r.generation,
        state: 'exited',
        exit_code: null,
        signal: 'SIGKILL',
        oom_killed: true,
      });
      const crash = await eventually(
        () => h.records.find((l) => l.event === 'worker.crashed' && l.worker_id === id),
        3000,
        'worker.crashed',
      );
      assert.equal(crash.signal, 'SIGKILL');
      assert.match(String(crash.cause), /out-of-memory/);
      assert.equal(h.app.workers.list().length, 0, 'the crashed worker is removed');
      assert.deepEqual((await req('GET', `${h.url}/v1/launcher/workers`, undefined, AUTH)).body.workers, []);
    } finally {
      await h.app.drain('test');
    }
  });

  it('a hive that starts its own workers has no launcher routes (404)', async () => {
    const h = await startHive(config(fs.mkdtempSync(path.join(dir, 'p-')), { hubUrl: hub.url }));
    try {
      const r = await req('GET', `${h.url}/v1/launcher/workers`, undefined, AUTH);
      assert.equal(r.status, 404);
      assert.equal(r.body.error.code, 'NOT_FOUND');
    } finally {
      await h.app.drain('test');
    }
  });
});
