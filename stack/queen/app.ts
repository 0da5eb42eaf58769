// queen-rbee as an object: the routes of contract §1 wired to the hive registry, the dispatcher and the
// job relay. main.ts runs it as a process; tests build it in-process with their own config.

import { callJson, DownstreamError } from '../shared/downstream.ts';
import { HttpError, Service } from '../shared/http.ts';
import { RangeChecker, requireShape, isHttpUrl } from '../shared/validate.ts';
import { VERSION } from '../shared/config.ts';
import type { Logger } from '../shared/log.ts';
import type { QueenConfig } from './config.ts';
import { QueenStore } from './store.ts';
import { HiveRegistry, NODE_NAME_RE, type HiveRecord, type WorkerSummary } from './registry.ts';
import { HiveCalls, isUnreachable } from './hive-calls.ts';
import { Dispatcher, fromHive } from './dispatch.ts';
import { OUTCOMES, requestLog, runTask } from './tasks.ts';
import { jwtVerifier } from './jwt.ts';

const HEALTH_TIMEOUT_MS = 2000;

export interface QueenApp {
  readonly service: Service;
  readonly registry: HiveRegistry;
  readonly store: QueenStore;
  start(): Promise<number>;
  drain(reason: string): Promise<void>;
}

export interface QueenOptions {
  log: Logger;
  onShutdownRequest?: (reason: string) => void;
}

export function createQueen(cfg: QueenConfig, opts: QueenOptions): QueenApp {
  const log = opts.log;
  const verifyBearer = cfg.jwtPublicKey ? jwtVerifier(cfg.jwtPublicKey) : undefined;
  const service = new Service({ service: 'queen', metricPrefix: 'rbee_queen_', log, token: cfg.token, verifyBearer });
  const store = new QueenStore(cfg.dbPath, log);
  const registry = new HiveRegistry(cfg, store, log);
  // A hive call may take as long as the hive timeout; beyond that the hive counts as gone anyway.
  const calls = new HiveCalls(registry, cfg.token, Math.min(Math.max(cfg.hiveTimeoutMs, 1000), 5000));
  const dispatcher = new Dispatcher(registry, calls, cfg.workerReadyTimeoutMs);
  const active = new Set<Promise<unknown>>();
  let shuttingDown = false;

  const jobs = service.counter('jobs_total', 'Inference jobs by outcome', ['outcome']);
  for (const outcome of OUTCOMES) jobs.inc({ outcome }, 0);
  service.gauge('hives', 'Registered hives by status', ['status'], function () {
    const counts = { available: 0, unavailable: 0 };
    for (const h of registry.all()) counts[registry.status(h)]++;
    for (const [status, n] of Object.entries(counts)) this.set({ status }, n);
  });
  service.gauge('circuit_open', 'Whether the circuit to a hive is open (1) or not (0)', ['node_name'], function () {
    this.reset();
    for (const h of registry.all()) this.set({ node_name: h.node_name }, h.circuit.state === 'open' ? 1 : 0);
  });

  const taskDeps = { dispatcher, calls, token: cfg.token, jobs, active, isShuttingDown: () => shuttingDown };

  // ---- health ---------------------------------------------------------------------------------------

  service.route('GET', '/health', () => ({ status: 'ok', version: VERSION }), { public: true });

  service.route('GET', '/v2/health', async (ctx) => {
    const hives = await Promise.all(
      registry.all().map(async (h) => {
        let workers = h.workers.map((w) => ({
          worker_id: w.worker_id,
          state: w.state,
          healthy: w.healthy ?? w.state !== 'unhealthy',
        }));
        let hiveStatus = 'unknown';
        let reasons: string[] = [];
        if (registry.status(h) === 'available') {
          try {
            const r = await calls.call<{ status: string; reasons?: string[]; workers?: typeof workers }>(
              h,
              'GET',
              '/v1/health?deep=1',
              undefined,
              {
                correlationId: ctx.correlationId,
                timeoutMs: HEALTH_TIMEOUT_MS,
              },
            );
            hiveStatus = r.status;
            reasons = r.reasons ?? [];
            if (r.workers) workers = r.workers;
          } catch (e) {
            hiveStatus = 'unreachable';
            reasons = [(e as Error).message];
          }
        }
        return {
          node_name: h.node_name,
          url: h.url,
          status: registry.status(h),
          circuit: h.circuit.state,
          hive_status: hiveStatus,
          reasons,
          workers,
        };
      }),
    );
    const problems: string[] = [];
    for (const h of hives) {
      if (h.status !== 'available') problems.push(`hive ${h.node_name} is unavailable`);
      else if (h.circuit !== 'closed') problems.push(`hive ${h.node_name}: circuit ${h.circuit}`);
      if (h.status === 'available' && h.hive_status !== 'alive')
        problems.push(`hive ${h.node_name} is ${h.hive_status}: ${h.reasons.join('; ')}`);
      for (const w of h.workers)
        if (!w.healthy) problems.push(`worker ${w.worker_id} on hive ${h.node_name} is not healthy (state ${w.state})`);
    }
    const anyAvailable = hives.some((h) => h.status === 'available');
    return {
      status: !anyAvailable ? 'down' : problems.length > 0 ? 'degraded' : 'ok',
      version: VERSION,
      reasons: problems,
      hives,
    };
  });

  // ---- registry -------------------------------------------------------------------------------------

  const checkHive = (node_name: string, url: string) =>
    new RangeChecker()
      .check(
        NODE_NAME_RE.test(node_name),
        'node_name',
        'pattern',
        'node_name must be 1-64 chars of [A-Za-z0-9_-]',
        node_name,
      )
      .check(isHttpUrl(url), 'url', 'format', 'url must be an absolute http(s) URL', url)
      .throwIfAny();

  service.route('POST', '/v2/hives/heartbeat', async (ctx) => {
    const b = requireShape<{ node_name: string; url: string; workers?: WorkerSummary[] }>(await ctx.json(), {
      node_name: { type: 'string', required: true },
      url: { type: 'string', required: true },
      workers: { type: 'array' },
    });
    checkHive(b.node_name, b.url);
    const workers = (b.workers ?? []).filter(
      (w): w is WorkerSummary => typeof w?.worker_id === 'string' && typeof w?.state === 'string',
    );
    registry.heartbeat(b.node_name, b.url, workers, requestLog(ctx, { node_name: b.node_name }));
    return { success: true };
  });

  service.route('POST', '/v2/registry/beehives/add', async (ctx) => {
    const b = requireShape<{ node_name: string; url: string }>(await ctx.json(), {
      node_name: { type: 'string', required: true },
      url: { type: 'string', required: true },
    });
    checkHive(b.node_name, b.url);
    const h = registry.add(b.node_name, b.url, requestLog(ctx, { node_name: b.node_name }));
    void poll(h); // learn its state now rather than at the next sweep
    return { success: true, node_name: b.node_name };
  });

  service.route('GET', '/v2/registry/beehives/list', () => ({
    nodes: registry.all().map((h) => ({
      node_name: h.node_name,
      url: h.url,
      status: registry.status(h),
      last_heartbeat_ms: h.last_heartbeat_ms,
      circuit: h.circuit.state,
      static: h.static,
      workers: h.workers.length,
    })),
  }));

  service.route('POST', '/v2/registry/beehives/remove', async (ctx) => {
    const b = requireShape<{ node_name: string }>(await ctx.json(), { node_name: { type: 'string', required: true } });
    if (!registry.remove(b.node_name, requestLog(ctx, { node_name: b.node_name }))) {
      throw new HttpError(404, 'NODE_NOT_FOUND', `no hive named '${b.node_name}' is registered`, {
        node_name: b.node_name,
      });
    }
    return { success: true, node_name: b.node_name };
  });

  // ---- workers --------------------------------------------------------------------------------------

  service.route('GET', '/v2/workers/list', () => ({
    workers: registry.workerView().map((w) => ({
      worker_id: w.worker_id,
      node: w.node,
      state: w.state,
      model_ref: w.model_ref,
      url: w.url,
      healthy: w.healthy ?? w.state !== 'unhealthy',
    })),
  }));

  service.route('POST', '/v2/workers/shutdown', async (ctx) => {
    const b = requireShape<{ worker_id: string }>(await ctx.json(), { worker_id: { type: 'string', required: true } });
    const log = requestLog(ctx, { worker_id: b.worker_id });
    const callOpts = {
      correlationId: ctx.correlationId,
      identity: ctx.identity,
      timeoutMs: Math.max(cfg.shutdownGraceMs, 5000),
    };
    let h: HiveRecord | undefined = registry.findWorker(b.worker_id);
    if (!h) {
      // The view may be a heartbeat behind: ask the hives themselves.
      const lists = await Promise.all(
        registry
          .all()
          .filter((x) => registry.status(x) === 'available')
          .map(async (x) => {
            try {
              const l = await calls.call<{ workers: WorkerSummary[] }>(x, 'GET', '/v1/workers/list', undefined, {
                correlationId: ctx.correlationId,
              });
              return l.workers.some((w) => w.worker_id === b.worker_id) ? x : undefined;
            } catch {
              return undefined;
            }
          }),
      );
      h = lists.find((x) => x !== undefined);
    }
    if (!h)
      throw new HttpError(404, 'WORKER_NOT_FOUND', `no hive reports a worker '${b.worker_id}'`, {
        worker_id: b.worker_id,
      });
    try {
      await calls.call(h, 'POST', '/v1/workers/shutdown', { worker_id: b.worker_id }, callOpts);
    } catch (e) {
      if (e instanceof DownstreamError && e.status === 404) {
        throw new HttpError(404, 'WORKER_NOT_FOUND', `hive '${h.node_name}' has no worker '${b.worker_id}'`, {
          worker_id: b.worker_id,
        });
      }
      throw fromHive(e, h);
    }
    log.info('worker shut down through its hive', { event: 'worker.shutdown', node_name: h.node_name });
    return { success: true, worker_id: b.worker_id, node_name: h.node_name };
  });

  // ---- jobs -----------------------------------------------------------------------------------------

  service.route('POST', '/v2/tasks', (ctx) => runTask(ctx, taskDeps, true));
  service.route('POST', '/v1/inference', (ctx) => runTask(ctx, taskDeps, false));

  // ---- lifecycle ------------------------------------------------------------------------------------

  service.route('POST', '/v1/admin/shutdown', (ctx) => {
    requestLog(ctx).info('shutdown requested over HTTP', { event: 'shutdown.requested' });
    setImmediate(() => (opts.onShutdownRequest ?? ((r: string) => void drain(r)))('admin'));
    return { status: 'shutting_down' };
  });

  /** Hives that do not heartbeat to us (static adds, or not yet since a restart) are polled instead. */
  const lastPoll = new Map<string, number>();
  async function poll(h: HiveRecord): Promise<void> {
    lastPoll.set(h.node_name, Date.now());
    try {
      const l = await calls.call<{ workers: WorkerSummary[] }>(h, 'GET', '/v1/workers/list', undefined, {
        timeoutMs: Math.min(HEALTH_TIMEOUT_MS, cfg.hiveTimeoutMs),
      });
      if (registry.get(h.node_name) === h)
        registry.polled(
          h,
          l.workers.map((w) => ({ ...w, healthy: w.healthy ?? w.state !== 'unhealthy' })),
        );
    } catch (e) {
      if (!isUnreachable(e)) log.debug('poll of hive failed', { node_name: h.node_name, err: String(e) });
    }
  }

  const sweepEvery = Math.max(Math.floor(cfg.hiveTimeoutMs / 4), 25);
  let sweeper: NodeJS.Timeout | null = null;
  function sweep(): void {
    registry.sweep();
    for (const h of registry.all()) {
      if (h.heartbeating) continue;
      if (Date.now() - (lastPoll.get(h.node_name) ?? 0) >= sweepEvery) void poll(h);
    }
  }

  let draining: Promise<void> | null = null;
  function drain(reason: string): Promise<void> {
    draining ??= (async () => {
      shuttingDown = true;
      log.info('queen draining', { event: 'queen.draining', reason });
      if (sweeper) clearInterval(sweeper);
      const closed = service.close();
      const targets = registry.all().filter((h) => registry.status(h) === 'available');
      const deadline = Math.max(cfg.shutdownGraceMs - 1000, 500);
      // Contract §5: every available hive is told, in parallel; each stops the workers it started.
      await Promise.all(
        targets.map(async (h) => {
          try {
            await callJson(
              'POST',
              `${h.url}/v1/admin/shutdown`,
              {},
              { token: cfg.token, timeoutMs: Math.min(deadline, 10_000) },
            );
            log.info('hive acknowledged shutdown', { event: 'hive.shutdown_sent', node_name: h.node_name });
          } catch (e) {
            log.warn('hive did not acknowledge shutdown', {
              event: 'hive.shutdown_failed',
              node_name: h.node_name,
              err: String((e as Error).message),
            });
          }
        }),
      );
      // Jobs still streaming end when their workers finish (the workers finish the running job, then exit).
      const until = Date.now() + deadline;
      while (active.size > 0 && Date.now() < until) await Promise.race([Promise.all(active), sleep(100)]);
      await Promise.race([closed, sleep(200)]);
      service.destroySockets();
      store.close();
    })();
    return draining;
  }

  return {
    service,
    registry,
    store,
    drain,
    async start() {
      registry.load();
      const port = await service.listen(cfg.port, cfg.bindHost);
      log.info('queen listening', { event: 'service.listening', port });
      // After a restart, ask every known hive for its workers right away instead of waiting for heartbeats.
      for (const h of registry.all()) void poll(h);
      sweeper = setInterval(sweep, sweepEvery);
      sweeper.unref();
      return port;
    },
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
