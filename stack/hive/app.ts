// rbee-hive as an object: the HTTP routes of contract §2 wired to the worker manager, the provisioner
// and the store. main.ts runs it as a process; tests build it in-process with their own config.

import { Service, SseWriter, HttpError, type Ctx } from '../shared/http.ts';
import { RangeChecker, requireShape, isValidModelRef, isHttpUrl } from '../shared/validate.ts';
import { VERSION } from '../shared/config.ts';
import type { Logger } from '../shared/log.ts';
import type { HiveConfig } from './config.ts';
import { HiveStore } from './store.ts';
import { Provisioner } from './provisioner.ts';
import { PortAllocator } from './ports.ts';
import { WorkerManager, type ReadyCallback, type SpawnRequest } from './workers.ts';
import { QueenReporter } from './reporter.ts';
import { RequestLauncher, type LaunchStatus } from './launcher.ts';

const BACKENDS = ['cpu', 'cuda', 'metal'];
const WORKER_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;
/** The store is looked at this often even when the monitor interval is long (INT-006). */
const STORE_CHECK_MS = 1000;

export interface HiveApp {
  readonly service: Service;
  readonly workers: WorkerManager;
  readonly provisioner: Provisioner;
  readonly store: HiveStore;
  /** Listen, reload recorded workers, start monitoring and heartbeats; resolves with the bound port. */
  start(): Promise<number>;
  /** Graceful shutdown without exiting the process (main.ts exits afterwards). */
  drain(reason: string): Promise<void>;
  url(): string;
}

export interface HiveOptions {
  log: Logger;
  /** POST /v1/admin/shutdown: main.ts starts the process-wide shutdown. */
  onShutdownRequest?: (reason: string) => void;
}

/** Request-scoped logger: correlation id (from the kit) plus the caller's identity when there is one. */
export function requestLog(ctx: Ctx, extra: Record<string, unknown> = {}): Logger {
  return ctx.log.child({ ...(ctx.identity.subject ? { subject: ctx.identity.subject } : {}), ...extra });
}

export function createHive(cfg: HiveConfig, opts: HiveOptions): HiveApp {
  const log = opts.log.child({ node_name: cfg.nodeName });
  const service = new Service({ service: 'hive', metricPrefix: 'rbee_hive_', log, token: cfg.token });
  const store = new HiveStore(cfg.dbPath, log);

  const crashes = service.counter('worker_crashes_total', 'Worker processes that ended without being asked to');
  const restarts = service.counter(
    'worker_restarts_total',
    'Crashed workers restarted under RBEE_RESTART_POLICY=on-crash',
  );
  const downloaded = service.counter('models_downloaded_total', 'Models downloaded, verified and added to the catalog');
  const bytes = service.counter('download_bytes_total', 'Bytes received from the model hub');

  const provisioner = new Provisioner(cfg.hubUrl, cfg.modelsDir, store, log, { downloaded, bytes });
  const ports = new PortAllocator(cfg.workerPortRange, [cfg.workerHost]);
  let hiveUrl = cfg.hiveUrl?.replace(/\/+$/, '') ?? `http://127.0.0.1:${cfg.port}`;
  const workers = new WorkerManager(
    cfg,
    store,
    provisioner,
    ports,
    log,
    { crashes, restarts },
    () => `${hiveUrl}/v1/workers/ready`,
  );
  store.setSnapshotSource(() => ({ workers: workers.snapshot(), models: [...provisioner.catalog.values()] }));

  // Gauges are computed when scraped, from the registry itself.
  service.gauge('workers', 'Workers by state', ['state'], function () {
    this.reset();
    for (const [state, n] of Object.entries(workers.counts())) this.set({ state }, n);
  });
  service.gauge('downloads_active', 'Model downloads in progress', [], function () {
    this.set(provisioner.activeCount);
  });

  const reporter = new QueenReporter(
    cfg.queenUrl,
    cfg.heartbeatIntervalMs,
    cfg.token,
    () => ({
      node_name: cfg.nodeName,
      url: hiveUrl,
      workers: workers.list().map((w) => ({ ...w, healthy: w.state !== 'unhealthy' && w.state !== 'crashed' })),
      timestamp: new Date().toISOString(),
    }),
    log,
  );
  workers.onChange = () => reporter.poke();

  const timers: NodeJS.Timeout[] = [];
  let draining = false;

  // ---- health ---------------------------------------------------------------------------------------

  service.route(
    'GET',
    '/v1/health',
    async (ctx) => {
      store.check();
      const reasons: string[] = [];
      if (store.degradedReason) reasons.push(store.degradedReason);
      if (draining) reasons.push('shutting down');
      const deep = ctx.query.get('deep') === '1' || ctx.query.get('deep') === 'true';
      let probed: { worker_id: string; state: string; healthy: boolean }[] | undefined;
      if (deep) {
        probed = await workers.probeAll();
        for (const w of probed) {
          if (w.healthy) continue;
          reasons.push(
            w.state === 'unhealthy'
              ? `worker ${w.worker_id} is unhealthy (stopped heartbeating or failed its /health probes)`
              : `worker ${w.worker_id} (${w.state}) did not answer its /health probe`,
          );
        }
      } else {
        for (const w of workers.list()) if (w.state === 'unhealthy') reasons.push(`worker ${w.worker_id} is unhealthy`);
      }
      return {
        status: reasons.length > 0 ? 'degraded' : 'alive',
        version: VERSION,
        api_version: 'v1',
        node_name: cfg.nodeName,
        reasons,
        ...(probed ? { workers: probed } : {}),
      };
    },
    { public: true },
  );

  // ---- workers --------------------------------------------------------------------------------------

  service.route('POST', '/v1/workers/spawn', async (ctx) => {
    const body = requireShape<Partial<SpawnRequest>>(await ctx.json(), {
      model_ref: { type: 'string', required: true },
      backend: { type: 'string' },
      device: { type: 'integer' },
    });
    const req: SpawnRequest = { model_ref: body.model_ref!, backend: body.backend ?? 'cpu', device: body.device ?? 0 };
    new RangeChecker()
      .check(
        isValidModelRef(req.model_ref),
        'model_ref',
        'pattern',
        'model_ref must be provider:reference of [A-Za-z0-9_./:-], at most 512 chars, no ".."',
        req.model_ref,
      )
      .check(
        BACKENDS.includes(req.backend),
        'backend',
        'enum',
        `backend must be one of ${BACKENDS.join(', ')}`,
        req.backend,
      )
      .check(req.device >= 0, 'device', 'minimum', 'device must be >= 0', req.device)
      .throwIfAny();
    return workers.spawn(req, requestLog(ctx, { model_ref: req.model_ref }));
  });

  service.route('POST', '/v1/workers/ready', async (ctx) => {
    const cb = requireShape<ReadyCallback>(await ctx.json(), {
      worker_id: { type: 'string', required: true },
      url: { type: 'string', required: true },
      model_ref: { type: 'string', required: true },
      backend: { type: 'string' },
      device: { type: 'integer' },
    });
    new RangeChecker()
      .check(
        WORKER_ID_RE.test(cb.worker_id),
        'worker_id',
        'pattern',
        'worker_id must be 1-128 chars of [A-Za-z0-9._:-]',
        cb.worker_id,
      )
      .check(isHttpUrl(cb.url), 'url', 'format', 'url must be an absolute http(s) URL', cb.url)
      .check(isValidModelRef(cb.model_ref), 'model_ref', 'pattern', 'model_ref has an invalid format', cb.model_ref)
      .throwIfAny();
    const info = workers.ready(cb, requestLog(ctx, { worker_id: cb.worker_id }));
    return { success: true, worker_id: info.worker_id, state: info.state };
  });

  service.route('GET', '/v1/workers/list', () => ({
    workers: workers.list(),
    recently_removed: workers.recentlyRemoved,
  }));

  service.route('POST', '/v1/workers/acquire', async (ctx) => {
    const body = requireShape<{ model_ref: string; job_id?: string }>(await ctx.json(), {
      model_ref: { type: 'string', required: true },
      job_id: { type: 'string' },
    });
    return workers.acquire(body.model_ref, body.job_id, ctx.correlationId, requestLog(ctx, { job_id: body.job_id }));
  });

  service.route('POST', '/v1/workers/release', async (ctx) => {
    const body = requireShape<{ worker_id: string; job_id?: string }>(await ctx.json(), {
      worker_id: { type: 'string', required: true },
      job_id: { type: 'string' },
    });
    const info = workers.release(
      body.worker_id,
      body.job_id,
      requestLog(ctx, { job_id: body.job_id, worker_id: body.worker_id }),
    );
    return { success: true, worker_id: info.worker_id, state: info.state };
  });

  service.route('POST', '/v1/workers/shutdown', async (ctx) => {
    const body = requireShape<{ worker_id: string }>(await ctx.json(), {
      worker_id: { type: 'string', required: true },
    });
    await workers.stop(body.worker_id, 'shutdown requested', requestLog(ctx, { worker_id: body.worker_id }));
    return { success: true, worker_id: body.worker_id };
  });

  service.route('POST', '/v1/heartbeat', async (ctx) => {
    const body = requireShape<{ worker_id: string; health_status?: string }>(await ctx.json(), {
      worker_id: { type: 'string', required: true },
      health_status: { type: 'string' },
    });
    workers.heartbeat(body.worker_id, body.health_status, requestLog(ctx, { worker_id: body.worker_id }));
    return { success: true };
  });

  // ---- worker launcher (RBEE_WORKER_LAUNCHER=request) -----------------------------------------------

  const launcher = workers.launcher instanceof RequestLauncher ? workers.launcher : undefined;
  const noLauncher = () =>
    new HttpError(404, 'NOT_FOUND', 'this hive starts its own workers (RBEE_WORKER_LAUNCHER is not "request")');

  service.route('GET', '/v1/launcher/workers', () => {
    if (!launcher) throw noLauncher();
    return { workers: launcher.list() };
  });

  service.route('POST', '/v1/launcher/status', async (ctx) => {
    if (!launcher) throw noLauncher();
    const s = requireShape<LaunchStatus>(await ctx.json(), {
      worker_id: { type: 'string', required: true },
      generation: { type: 'string', required: true },
      state: { type: 'string', required: true },
      pid: { type: 'integer' },
      exit_code: { type: 'integer' },
      signal: { type: 'string' },
      oom_killed: { type: 'boolean' },
      error: { type: 'string' },
    });
    new RangeChecker()
      .check(
        ['running', 'exited', 'failed'].includes(s.state),
        'state',
        'enum',
        'state must be running, exited or failed',
        s.state,
      )
      .throwIfAny();
    return { accepted: launcher.report(s) };
  });

  // ---- models ---------------------------------------------------------------------------------------

  service.route('GET', '/v1/models', () => {
    store.check();
    return { models: [...provisioner.catalog.values()] };
  });

  service.route('POST', '/v1/models/download', async (ctx) => {
    const body = requireShape<{ model_ref: string }>(await ctx.json(), {
      model_ref: { type: 'string', required: true },
    });
    new RangeChecker()
      .check(
        isValidModelRef(body.model_ref),
        'model_ref',
        'pattern',
        'model_ref must be provider:reference of [A-Za-z0-9_./:-], at most 512 chars, no ".."',
        body.model_ref,
      )
      .throwIfAny();
    const r = await provisioner.begin(body.model_ref, requestLog(ctx));
    if ('entry' in r) return { download_id: 'cached', local_path: r.entry.local_path, model_ref: r.entry.model_ref };
    return { download_id: r.download.id, local_path: null, model_ref: r.download.modelRef };
  });

  service.route('GET', '/v1/models/download/progress', async (ctx) => {
    const id = ctx.query.get('id');
    if (!id) throw new HttpError(422, 'INVALID_REQUEST', "missing required query parameter 'id'", { field: 'id' });
    const dl = provisioner.download(id);
    if (!dl) throw new HttpError(404, 'DOWNLOAD_NOT_FOUND', `no download '${id}'`, { download_id: id });
    const sse = new SseWriter(ctx.res);
    await new Promise<void>((resolve) => {
      let unsubscribe = () => {};
      sse.onClose(() => {
        unsubscribe();
        resolve();
      });
      unsubscribe = dl.subscribe((e) => {
        if (e === null) {
          sse.done();
          resolve();
        } else sse.send(e);
      });
    });
    return undefined;
  });

  // ---- lifecycle ------------------------------------------------------------------------------------

  service.route('POST', '/v1/admin/shutdown', (ctx) => {
    requestLog(ctx).info('shutdown requested over HTTP', { event: 'shutdown.requested' });
    setImmediate(() => (opts.onShutdownRequest ?? ((r: string) => void drain(r)))('admin'));
    return { status: 'shutting_down' };
  });

  async function drain(reason: string): Promise<void> {
    if (draining) return;
    draining = true;
    log.info('hive draining', { event: 'hive.draining', reason });
    reporter.stop();
    for (const t of timers) clearInterval(t);
    // Workers a launcher started report their exit over HTTP: keep listening until they have stopped.
    if (launcher) await workers.shutdownAll(log);
    const closed = service.close();
    if (!launcher) await workers.shutdownAll(log);
    await Promise.race([closed, new Promise((r) => setTimeout(r, 500))]);
    service.destroySockets();
    store.close();
  }

  return {
    service,
    workers,
    provisioner,
    store,
    url: () => hiveUrl,
    drain,
    async start() {
      provisioner.loadCatalog();
      // Reload before listening: a worker heartbeat must never meet a registry that is still empty.
      await workers.restore();
      const port = await service.listen(cfg.port, cfg.bindHost);
      if (!cfg.hiveUrl) hiveUrl = `http://127.0.0.1:${port}`;
      log.info('hive listening', { event: 'service.listening', port, url: hiveUrl });
      reporter.start();
      const monitor = setInterval(
        () => void workers.tick().catch((e) => log.error('monitor pass failed', { err: String(e) })),
        Math.max(cfg.monitorIntervalMs, 10),
      );
      const storeCheck = setInterval(() => store.check(), STORE_CHECK_MS);
      monitor.unref();
      storeCheck.unref();
      timers.push(monitor, storeCheck);
      return port;
    },
  };
}
