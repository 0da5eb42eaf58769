// The hive's worker registry and lifecycle (contract §2): spawning, ready callbacks, heartbeats,
// acquire/release, stopping, crash handling with the restart policy, periodic monitoring, recovery after a
// hive restart and the shutdown cascade. Every state change goes through `setState`, which enforces the
// state machine of states.ts, persists the worker and tells the hive to report the change to the queen.

import { randomUUID } from 'node:crypto';
import type { Counter } from 'prom-client';
import { HttpError } from '../shared/http.ts';
import { callJson, DownstreamError } from '../shared/downstream.ts';
import type { Logger } from '../shared/log.ts';
import type { HiveConfig } from './config.ts';
import type { PortAllocator } from './ports.ts';
import type { Provisioner } from './provisioner.ts';
import { describeExit, killPid, OomCounter, pidAlive } from './process.ts';
import { ProcessLauncher, RequestLauncher, type WorkerChild, type WorkerLauncher } from './launcher.ts';
import { canTransition, WORKER_STATES, type WorkerState } from './states.ts';
import type { HiveStore } from './store.ts';
import type { PersistedWorker, WorkerInfo } from './types.ts';

/** Failed /health probes in a row that make a worker unhealthy (contract §2 Monitoring). */
const MAX_FAILED_PROBES = 3;
const PROBE_TIMEOUT_MS = 1000;
/** How many removed workers are remembered (with why) for callers that wait on a spawn. */
const REMOVED_MEMORY = 100;
/** Upper bound on how long a single worker stop waits for the process before SIGKILL. */
const STOP_WAIT_CAP_MS = 15_000;
/** Shortest time a worker must be held busy before the hive checks whether its job is real. */
const LEASE_GRACE_MIN_MS = 3000;

interface Entry {
  info: WorkerInfo;
  port: number | null;
  modelPath: string | null;
  jobId: string | null;
  /** Correlation id of the job the worker is running, so crash logs join that job's timeline. */
  jobCorrelationId: string | null;
  stateSinceMs: number;
  lastUsedMs: number;
  /**
   * Our child (a process, or a worker a launcher started for us); null for external workers and for
   * workers adopted after a hive restart by the process launcher.
   */
  child: WorkerChild | null;
  exited: Promise<void> | null;
  /** Why the worker is being stopped, for the removal log line. */
  stopReason: string | null;
  probing: boolean;
  /** When the worker itself last said it is idle while the hive holds it busy (lease check). */
  idleSeenAt: number | null;
  /** What the last failed /health probe got (status and code, or the connection error), for the logs. */
  lastProbeError?: string;
  /** The probe error last logged by a failed recovery (each distinct one is logged once). */
  loggedProbeError?: string;
}

/** A registry entry for a worker the hive just learned of (spawned, registered or restored): no job, no child yet. */
function newEntry(info: WorkerInfo, port: number | null, modelPath: string | null, now: number): Entry {
  return {
    info,
    port,
    modelPath,
    jobId: null,
    jobCorrelationId: null,
    stateSinceMs: now,
    lastUsedMs: now,
    child: null,
    exited: null,
    stopReason: null,
    probing: false,
    idleSeenAt: null,
  };
}

export interface RemovedWorker {
  worker_id: string;
  model_ref: string;
  reason: string;
  state_before: WorkerState;
  exit_code: number | null;
  signal: string | null;
  removed_at_ms: number;
}

export interface SpawnRequest {
  model_ref: string;
  backend: string;
  device: number;
}

export interface ReadyCallback {
  worker_id: string;
  url: string;
  model_ref: string;
  backend?: string;
  device?: number;
}

export interface WorkerMetrics {
  crashes: Counter<string>;
  restarts: Counter<string>;
}

export class WorkerManager {
  private readonly workers = new Map<string, Entry>();
  /** Confirms a SIGKILL as an out-of-memory kill (the cgroup's oom_kill count), instead of guessing. */
  private readonly oom = new OomCounter();
  readonly recentlyRemoved: RemovedWorker[] = [];
  private pendingSpawns = 0;
  private shuttingDown = false;
  private ticking = false;
  /** Called after every state change (the hive sends a debounced heartbeat to the queen). */
  onChange: () => void = () => {};
  /** Starts workers: child processes, or requests another party fulfils (launcher.ts). */
  readonly launcher: WorkerLauncher;

  constructor(
    private readonly cfg: HiveConfig,
    private readonly store: HiveStore,
    private readonly provisioner: Provisioner,
    private readonly ports: PortAllocator,
    private readonly log: Logger,
    private readonly metrics: WorkerMetrics,
    private readonly callbackUrl: () => string,
  ) {
    this.launcher =
      cfg.workerLauncher === 'request'
        ? new RequestLauncher(cfg.token)
        : new ProcessLauncher(cfg.workerCmd, cfg.token, cfg.workerLogDir);
  }

  /** A requested worker gets its own address (its own container, named after it); a child shares the hive's host. */
  private workerUrl(workerId: string, port: number): string {
    return `http://${this.cfg.workerLauncher === 'request' ? workerId : this.cfg.workerHost}:${port}`;
  }

  list(): WorkerInfo[] {
    return [...this.workers.values()].map((e) => ({ ...e.info }));
  }

  counts(): Record<WorkerState, number> {
    const c = Object.fromEntries(WORKER_STATES.map((s) => [s, 0])) as Record<WorkerState, number>;
    for (const e of this.workers.values()) c[e.info.state]++;
    return c;
  }

  snapshot(): PersistedWorker[] {
    return [...this.workers.values()].map(persisted);
  }

  // ---- spawning -------------------------------------------------------------------------------------

  async spawn(req: SpawnRequest, log: Logger): Promise<{ worker_id: string; url: string; state: WorkerState }> {
    if (this.shuttingDown) throw new HttpError(503, 'SHUTTING_DOWN', 'the hive is shutting down');
    if (this.workers.size + this.pendingSpawns >= this.cfg.maxWorkers) {
      throw new HttpError(
        507,
        'INSUFFICIENT_RESOURCES',
        `the hive runs its maximum of ${this.cfg.maxWorkers} workers (RBEE_MAX_WORKERS)`,
        {
          max_workers: this.cfg.maxWorkers,
        },
      );
    }
    // Count the spawn while the model is provisioned so concurrent spawns cannot overshoot the capacity.
    this.pendingSpawns++;
    try {
      const model = await this.provisioner.ensure(req.model_ref, log);
      const port = await this.ports.allocate();
      const now = Date.now();
      const id = `worker-${randomUUID()}`;
      const e = newEntry(
        {
          worker_id: id,
          url: this.workerUrl(id, port),
          model_ref: model.model_ref,
          backend: req.backend,
          device: req.device,
          state: 'loading',
          pid: null,
          started_at_ms: now,
          last_heartbeat_ms: null,
          failed_health_checks: 0,
          restart_count: 0,
          external: false,
        },
        port,
        model.local_path,
        now,
      );
      this.workers.set(id, e);
      this.launch(e, log);
      this.changed(e);
      return { worker_id: id, url: e.info.url, state: e.info.state };
    } finally {
      this.pendingSpawns--;
    }
  }

  private launch(e: Entry, log: Logger): void {
    const fields = { worker_id: e.info.worker_id, model_ref: e.info.model_ref, port: e.port };
    let child: WorkerChild;
    try {
      child = this.launcher.launch({
        workerId: e.info.worker_id,
        modelPath: e.modelPath ?? '',
        modelRef: e.info.model_ref,
        backend: e.info.backend,
        device: e.info.device,
        port: e.port ?? 0,
        callbackUrl: this.callbackUrl(),
      });
    } catch (err) {
      // Synchronous spawn failures (bad command line) go through the same path as an early exit.
      queueMicrotask(() => this.onExit(e, null, null, null, err as Error));
      return;
    }
    this.watch(e, child, log, fields);
  }

  /** Follow a child to its end (onExit); its pid is known at once (a process) or once it runs (a request). */
  private watch(e: Entry, child: WorkerChild, log: Logger, fields: Record<string, unknown>): void {
    e.child = child;
    e.info.pid = child.pid ?? null;
    let resolveExited!: () => void;
    e.exited = new Promise((r) => (resolveExited = r));
    let settled = false;
    const gone = (code: number | null, signal: string | null, err?: Error, oomKilled?: boolean) => {
      if (settled) return;
      settled = true;
      resolveExited();
      this.onExit(e, child, code, signal, err, oomKilled);
    };
    child.once('exit', (code, signal, oomKilled) => gone(code, signal, undefined, oomKilled));
    child.once('error', (err) => {
      // 'error' without a pid means the process never started; otherwise 'exit' follows.
      if (child.pid === undefined) gone(null, null, err);
      else log.warn('worker process error', { ...fields, event: 'worker.process_error', err: String(err) });
    });
    // Logged once the worker runs: at once for a process, on the launcher's report for a request. A worker
    // adopted after a hive restart (not loading) is not spawned again: only its pid is confirmed.
    const spawned = () => {
      if (e.child !== child) return;
      e.info.pid = child.pid ?? null;
      if (e.info.state !== 'loading') return;
      log.info('worker spawned', {
        ...fields,
        event: 'worker.spawned',
        pid: child.pid,
        restart_count: e.info.restart_count,
      });
    };
    if (this.launcher.kind === 'process') {
      if (child.pid !== undefined) spawned();
    } else
      child.once('spawn', () => {
        spawned();
        this.changed(e);
      });
  }

  /** A child ended: a requested stop → removed; otherwise a crash (restarted under on-crash). */
  private onExit(
    e: Entry,
    child: WorkerChild | null,
    code: number | null,
    signal: string | null,
    err?: Error,
    /** The launcher's word that the kernel killed it for memory (its own container's record). */
    oomKilled?: boolean,
  ): void {
    if (e.child !== child) return; // an older process of a worker that has been restarted since
    e.child = null;
    // The process is gone: forget its pid now, so the monitor's "adopted worker died" check cannot
    // report this same exit a second time while a restart is being prepared.
    e.info.pid = null;
    if (this.workers.get(e.info.worker_id) !== e) return;
    const log = this.workerLog(e);
    const killed = signal === 'SIGKILL' || code === 137;
    const cause = describeExit(code, signal, err, killed && (oomKilled ?? this.oom.rose()));
    const exit = { exit_code: code, signal };
    if (e.info.state === 'stopping') {
      log.info('worker stopped', { event: 'worker.stopped', ...exit });
      this.remove(e, e.stopReason ?? 'stopped', exit);
      return;
    }
    const before = e.info.state;
    this.setState(e, 'crashed');
    this.metrics.crashes.inc();
    log.error(`worker crashed: ${cause}`, { event: 'worker.crashed', ...exit, cause, state_before: before });
    if (before === 'loading') {
      log.error(`worker failed to start: ${cause}`, { event: 'worker.spawn_failed', ...exit, cause });
    }
    // A first start that fails is a spawn failure (reported to whoever asked for it); restarting a model
    // that cannot load would only loop. A worker that ran before is restarted within the limit.
    const mayRestart =
      this.cfg.restartPolicy === 'on-crash' &&
      !this.shuttingDown &&
      e.info.restart_count < this.cfg.maxRestarts &&
      (before !== 'loading' || e.info.restart_count > 0);
    if (mayRestart) {
      void this.restart(e, log);
      return;
    }
    this.remove(e, before === 'loading' ? `spawn failed: worker ${cause}` : `crashed: worker ${cause}`, exit, before);
  }

  private async restart(e: Entry, log: Logger): Promise<void> {
    e.info.restart_count++;
    this.metrics.restarts.inc();
    const oldPort = e.port;
    if (oldPort !== null) this.ports.release(oldPort);
    try {
      e.port = await this.ports.allocate(oldPort ?? undefined);
    } catch (err) {
      this.remove(e, `restart failed: ${(err as Error).message}`, { exit_code: null, signal: null }, 'crashed');
      return;
    }
    const now = Date.now();
    e.info.url = this.workerUrl(e.info.worker_id, e.port);
    e.info.started_at_ms = now;
    e.info.last_heartbeat_ms = null;
    e.info.failed_health_checks = 0;
    e.info.pid = null;
    e.jobId = null;
    e.jobCorrelationId = null;
    this.setState(e, 'loading');
    this.launch(e, log);
    log.info('worker restarted', {
      event: 'worker.restarted',
      restart_count: e.info.restart_count,
      pid: e.info.pid,
      port: e.port,
    });
    this.changed(e);
  }

  // ---- callbacks from workers ---------------------------------------------------------------------

  ready(cb: ReadyCallback, log: Logger): WorkerInfo {
    const e = this.workers.get(cb.worker_id);
    const now = Date.now();
    if (!e) {
      // A worker started outside the hive registers itself (contract §2, FULL-003).
      const info: WorkerInfo = {
        worker_id: cb.worker_id,
        url: cb.url.replace(/\/+$/, ''),
        model_ref: this.provisioner.canonicalFromCache(cb.model_ref) ?? cb.model_ref,
        backend: cb.backend ?? 'cpu',
        device: cb.device ?? 0,
        state: 'idle',
        pid: null,
        started_at_ms: now,
        last_heartbeat_ms: now,
        failed_health_checks: 0,
        restart_count: 0,
        external: true,
      };
      const entry = newEntry(info, null, null, now);
      this.workers.set(info.worker_id, entry);
      log.info('external worker registered', {
        event: 'worker.registered',
        worker_id: info.worker_id,
        url: info.url,
        model_ref: info.model_ref,
      });
      log.info('worker ready', { event: 'worker.ready', worker_id: info.worker_id, external: true });
      this.changed(entry);
      return { ...info };
    }
    const fields = { worker_id: e.info.worker_id };
    switch (e.info.state) {
      case 'loading':
        e.info.last_heartbeat_ms = now;
        this.setState(e, 'idle');
        e.lastUsedMs = now;
        log.info('worker ready', {
          ...fields,
          event: 'worker.ready',
          pid: e.info.pid,
          port: e.port,
          startup_ms: now - e.info.started_at_ms,
        });
        break;
      case 'idle':
        break; // a repeated callback (the worker retries until one is accepted)
      case 'unhealthy':
        e.info.last_heartbeat_ms = now;
        e.info.failed_health_checks = 0;
        e.jobId = null;
        this.setState(e, 'idle');
        log.info('worker recovered', { ...fields, event: 'worker.recovered', via: 'ready' });
        break;
      default:
        throw new HttpError(
          409,
          'INVALID_STATE_TRANSITION',
          `worker ${e.info.worker_id} is ${e.info.state}; a ready callback cannot make it idle`,
          {
            worker_id: e.info.worker_id,
            from: e.info.state,
            to: 'idle',
          },
        );
    }
    return { ...e.info };
  }

  heartbeat(workerId: string, healthStatus: string | undefined, log: Logger): void {
    const e = this.workers.get(workerId);
    if (!e)
      throw new HttpError(404, 'WORKER_NOT_FOUND', `no worker '${workerId}' is registered at this hive`, {
        worker_id: workerId,
      });
    e.info.last_heartbeat_ms = Date.now();
    if (healthStatus === 'degraded')
      log.debug('worker reports degraded health', { event: 'worker.degraded', worker_id: workerId });
    if (e.info.state === 'unhealthy') void this.tryRecover(e);
  }

  /** Heartbeats resumed: confirm with a probe that we can reach it again, then route to it again. */
  private async tryRecover(e: Entry): Promise<void> {
    if (e.probing) return;
    e.probing = true;
    try {
      const ok = await this.probe(e);
      if (!ok && e.info.state === 'unhealthy' && e.loggedProbeError !== e.lastProbeError) {
        // Heartbeats are back but the probe is not: say why it stays unhealthy (once per distinct error).
        e.loggedProbeError = e.lastProbeError;
        this.workerLog(e).warn('worker heartbeats again but its health probe fails; it stays unhealthy', {
          event: 'worker.recovery_failed',
          reason: e.lastProbeError,
        });
      }
      if (ok && e.info.state === 'unhealthy' && this.workers.get(e.info.worker_id) === e) {
        e.info.failed_health_checks = 0;
        this.setState(e, e.jobId ? 'busy' : 'idle');
        e.lastUsedMs = Date.now();
        this.workerLog(e).info('worker recovered', { event: 'worker.recovered', state: e.info.state });
      }
    } finally {
      e.probing = false;
    }
  }

  // ---- jobs ---------------------------------------------------------------------------------------

  async acquire(
    modelRef: string,
    jobId: string | undefined,
    correlationId: string,
    log: Logger,
  ): Promise<{ worker_id: string; url: string }> {
    let matching = this.matching(modelRef);
    if (matching.length === 0 && !this.provisioner.canonicalFromCache(modelRef)) {
      // Maybe an alias we have not seen yet; the hub index says which model it names.
      try {
        await this.provisioner.resolve(modelRef);
        matching = this.matching(modelRef);
      } catch {
        /* unknown model or hub down: simply no worker */
      }
    }
    const idle = matching
      .filter((e) => e.info.state === 'idle')
      .sort((a, b) => a.lastUsedMs - b.lastUsedMs || a.info.worker_id.localeCompare(b.info.worker_id));
    const chosen = idle[0];
    if (!chosen) {
      const counts: Record<string, number> = {};
      for (const e of matching) counts[e.info.state] = (counts[e.info.state] ?? 0) + 1;
      throw new HttpError(404, 'NO_IDLE_WORKER', `no idle worker for model '${modelRef}'`, {
        model_ref: modelRef,
        matching_workers: counts,
      });
    }
    this.setState(chosen, 'busy');
    chosen.idleSeenAt = null;
    chosen.jobId = jobId ?? null;
    chosen.jobCorrelationId = correlationId;
    chosen.lastUsedMs = Date.now();
    log.info('worker acquired', { event: 'worker.acquired', worker_id: chosen.info.worker_id, job_id: jobId });
    return { worker_id: chosen.info.worker_id, url: chosen.info.url };
  }

  release(workerId: string, jobId: string | undefined, log: Logger): WorkerInfo {
    const e = this.mustGet(workerId);
    switch (e.info.state) {
      case 'busy':
        if (jobId && e.jobId && jobId !== e.jobId) {
          throw new HttpError(409, 'JOB_MISMATCH', `worker ${workerId} runs job ${e.jobId}, not ${jobId}`, {
            worker_id: workerId,
          });
        }
        this.setState(e, 'idle');
        break;
      case 'idle':
        break; // released twice: nothing to do
      case 'unhealthy':
        break; // stays unhealthy; recovery will make it idle since the job is gone
      default:
        throw new HttpError(
          409,
          'INVALID_STATE_TRANSITION',
          `worker ${workerId} is ${e.info.state}; it cannot be released`,
          {
            worker_id: workerId,
            from: e.info.state,
            to: 'idle',
          },
        );
    }
    e.jobId = null;
    e.jobCorrelationId = null;
    e.lastUsedMs = Date.now();
    log.info('worker released', { event: 'worker.released', worker_id: workerId, job_id: jobId });
    return { ...e.info };
  }

  private matching(modelRef: string): Entry[] {
    const canonical = this.provisioner.canonicalFromCache(modelRef) ?? modelRef;
    return [...this.workers.values()].filter((e) => e.info.model_ref === modelRef || e.info.model_ref === canonical);
  }

  // ---- stopping -----------------------------------------------------------------------------------

  /** Graceful stop of one worker: admin shutdown, wait for the process, SIGKILL after the grace. */
  async stop(workerId: string, reason: string, log: Logger): Promise<void> {
    const e = this.mustGet(workerId);
    if (e.info.state === 'stopping') {
      await this.waitGone(e, this.stopWaitMs());
      return;
    }
    if (e.info.state === 'crashed') return; // being removed or restarted right now
    this.setState(e, 'stopping');
    e.stopReason = reason;
    log.info('stopping worker', { event: 'worker.stopping', worker_id: workerId, reason });
    let asked = true;
    try {
      await callJson('POST', `${e.info.url}/v1/admin/shutdown`, {}, { token: this.cfg.token, timeoutMs: 2000 });
    } catch (err) {
      asked = false;
      log.warn('worker did not accept the shutdown call', {
        event: 'worker.shutdown_call_failed',
        worker_id: workerId,
        err: String(err),
      });
    }
    if (e.info.external) {
      // Not our process: we asked it to stop; it is no longer ours to route to.
      this.remove(e, reason, { exit_code: null, signal: null });
      return;
    }
    if (!asked) this.signal(e, 'SIGTERM');
    if (!(await this.waitGone(e, this.stopWaitMs()))) {
      log.warn('worker did not exit in time; killing it', { event: 'worker.killed', worker_id: workerId });
      this.signal(e, 'SIGKILL');
      await this.waitGone(e, 2000);
    }
    // Adopted workers (no child handle) are removed here; children are removed by their exit event.
    if (this.workers.get(workerId) === e) this.remove(e, reason, { exit_code: null, signal: null });
  }

  /** Kill without asking (unhealthy too long, loading too long); the exit event removes it. */
  private kill(e: Entry, reason: string): void {
    this.setState(e, 'stopping');
    if (e.info.external) {
      // Not our process to kill: it is only dropped from the registry.
      this.remove(e, reason, { exit_code: null, signal: null });
      return;
    }
    this.workerLog(e).warn(`killing worker: ${reason}`, { event: 'worker.killed', reason });
    e.stopReason = reason;
    this.signal(e, 'SIGKILL');
    if (!e.child) this.remove(e, reason, { exit_code: null, signal: 'SIGKILL' });
  }

  private signal(e: Entry, sig: NodeJS.Signals): void {
    if (e.child) e.child.kill(sig);
    else if (e.info.pid !== null && !e.info.external) killPid(e.info.pid, sig);
  }

  private async waitGone(e: Entry, ms: number): Promise<boolean> {
    if (e.child && e.exited) {
      return Promise.race([e.exited.then(() => true), sleep(ms).then(() => false)]);
    }
    const pid = e.info.pid;
    if (pid === null) return true;
    const until = Date.now() + ms;
    while (Date.now() < until) {
      if (!pidAlive(pid)) return true;
      await sleep(50);
    }
    return !pidAlive(pid);
  }

  private stopWaitMs(): number {
    return Math.min(Math.max(this.cfg.shutdownGraceMs - 1000, 500), STOP_WAIT_CAP_MS);
  }

  /** Shutdown cascade (§5): every worker the hive started is asked to stop, then killed after the grace. */
  async shutdownAll(log: Logger): Promise<void> {
    this.shuttingDown = true;
    const mine = [...this.workers.values()].filter((e) => !e.info.external);
    await Promise.all(mine.map((e) => this.stop(e.info.worker_id, 'hive shutdown', log).catch(() => {})));
  }

  /** Last resort when the hive process itself is exiting: nothing it started may outlive it. */
  killAllSync(): void {
    for (const e of this.workers.values()) {
      if (!e.info.external) this.signal(e, 'SIGKILL');
    }
  }

  // ---- monitoring ---------------------------------------------------------------------------------

  /** One monitor pass (every RBEE_MONITOR_INTERVAL_MS). */
  async tick(): Promise<void> {
    if (this.ticking || this.shuttingDown) return;
    this.ticking = true;
    try {
      await Promise.all([...this.workers.values()].map((e) => this.check(e)));
    } finally {
      this.ticking = false;
    }
  }

  private async check(e: Entry): Promise<void> {
    const now = Date.now();
    const c = this.cfg;
    // Adopted workers are not our children: their exit is noticed here instead of by an event.
    if (
      !e.child &&
      !e.info.external &&
      e.info.pid !== null &&
      e.info.state !== 'stopping' &&
      e.info.state !== 'crashed' &&
      !pidAlive(e.info.pid)
    ) {
      this.onExit(e, null, null, null, new Error('process is gone'));
      return;
    }
    switch (e.info.state) {
      case 'loading':
        if (now - e.stateSinceMs > c.workerLoadingTimeoutMs) {
          this.kill(e, `still loading after ${c.workerLoadingTimeoutMs} ms (RBEE_WORKER_LOADING_TIMEOUT_MS)`);
        }
        return;
      case 'idle':
      case 'busy': {
        // Heartbeat silence is judged on every pass; the /health probe runs beside it, so a probe that waits
        // out its whole timeout (a cut-off worker) never holds the next verdict back.
        const silentMs = now - (e.info.last_heartbeat_ms ?? e.stateSinceMs);
        if (silentMs > c.workerHeartbeatTimeoutMs) return this.markUnhealthy(e, `no heartbeat for ${silentMs} ms`);
        if (!e.probing) void this.monitorProbe(e);
        if (e.info.state === 'busy') await this.checkLease(e);
        if (e.info.state === 'idle' && !e.info.external && Date.now() - e.lastUsedMs > c.workerIdleTimeoutMs) {
          this.workerLog(e).info('worker idle too long; stopping it', {
            event: 'worker.idle_timeout',
            idle_ms: Date.now() - e.lastUsedMs,
          });
          await this.stop(
            e.info.worker_id,
            `idle for more than ${c.workerIdleTimeoutMs} ms (RBEE_WORKER_IDLE_TIMEOUT_MS)`,
            this.workerLog(e),
          ).catch(() => {});
        }
        return;
      }
      case 'unhealthy': {
        const heartbeatFresh =
          e.info.last_heartbeat_ms !== null && now - e.info.last_heartbeat_ms <= c.workerHeartbeatTimeoutMs;
        if (heartbeatFresh) {
          await this.tryRecover(e);
          if (e.info.state !== 'unhealthy') return;
        }
        if (now - e.stateSinceMs > c.workerHeartbeatTimeoutMs) {
          this.kill(e, `unhealthy for more than ${c.workerHeartbeatTimeoutMs} ms`);
        }
        return;
      }
      default:
        return;
    }
  }

  /**
   * A worker can be left busy by a job that never ran or whose end was never reported: an acquire whose
   * answer was lost (partition, paused hive), or a queen that died mid-job. When the hive has held it busy
   * for longer than the lease grace and the worker itself says idle on two passes in a row, the hive takes
   * it back.
   */
  private async checkLease(e: Entry): Promise<void> {
    const grace = Math.max(this.cfg.workerHeartbeatTimeoutMs, LEASE_GRACE_MIN_MS);
    if (Date.now() - e.stateSinceMs < grace) return;
    let state: string | undefined;
    try {
      state = (
        await callJson<{ state?: string }>('GET', `${e.info.url}/v1/ready`, undefined, {
          timeoutMs: PROBE_TIMEOUT_MS,
          token: this.cfg.token,
        })
      )?.state;
    } catch {
      return;
    }
    if (e.info.state !== 'busy' || this.workers.get(e.info.worker_id) !== e) return;
    if (state !== 'idle') {
      e.idleSeenAt = null;
      return;
    }
    if (e.idleSeenAt === null) {
      e.idleSeenAt = Date.now();
      return;
    }
    this.workerLog(e).warn('worker held busy but idle itself; taking it back', {
      event: 'worker.lease_expired',
      busy_ms: Date.now() - e.stateSinceMs,
    });
    e.jobId = null;
    e.jobCorrelationId = null;
    e.idleSeenAt = null;
    this.setState(e, 'idle');
  }

  private async probe(e: Entry): Promise<boolean> {
    try {
      await callJson('GET', `${e.info.url}/health`, undefined, { timeoutMs: PROBE_TIMEOUT_MS, token: this.cfg.token });
      return true;
    } catch (err) {
      e.lastProbeError =
        err instanceof DownstreamError && err.status
          ? `${err.status} ${err.code}: ${err.message}`
          : (err as Error).message;
      return false;
    }
  }

  /** The monitor's /health probe of an idle or busy worker: MAX_FAILED_PROBES failures in a row make it unhealthy. */
  private async monitorProbe(e: Entry): Promise<void> {
    e.probing = true;
    try {
      const ok = await this.probe(e);
      if (this.workers.get(e.info.worker_id) !== e || (e.info.state !== 'idle' && e.info.state !== 'busy')) return;
      e.info.failed_health_checks = ok ? 0 : e.info.failed_health_checks + 1;
      if (e.info.failed_health_checks >= MAX_FAILED_PROBES)
        this.markUnhealthy(
          e,
          `${e.info.failed_health_checks} failed /health probes (last: ${e.lastProbeError ?? 'unknown'})`,
        );
    } finally {
      e.probing = false;
    }
  }

  private markUnhealthy(e: Entry, why: string): void {
    this.setState(e, 'unhealthy');
    this.workerLog(e).warn(`worker unhealthy: ${why}`, {
      event: 'worker.unhealthy',
      reason: why,
      failed_health_checks: e.info.failed_health_checks,
    });
  }

  /** Deep health: probe every worker now (1 s each, in parallel). */
  async probeAll(): Promise<{ worker_id: string; state: WorkerState; healthy: boolean }[]> {
    return Promise.all(
      [...this.workers.values()].map(async (e) => {
        const ok = await this.probe(e);
        return {
          worker_id: e.info.worker_id,
          state: e.info.state,
          healthy: ok && e.info.state !== 'unhealthy' && e.info.state !== 'crashed',
        };
      }),
    );
  }

  // ---- recovery after a hive restart --------------------------------------------------------------

  /** Reload recorded workers, keep the live ones (probe + process check), drop the dead. */
  async restore(): Promise<void> {
    const recorded = this.store.loadWorkers();
    await Promise.all(recorded.map((p) => this.restoreOne(p)));
    if (recorded.length > 0) {
      this.log.info('worker registry reloaded', {
        event: 'workers.restored',
        recorded: recorded.length,
        kept: this.workers.size,
      });
    }
  }

  private async restoreOne(p: PersistedWorker): Promise<void> {
    const info = { ...p.info };
    const log = this.log.child({ worker_id: info.worker_id });
    const drop = (reason: string) => {
      this.store.deleteWorker(info.worker_id);
      log.info(`recorded worker dropped: ${reason}`, { event: 'worker.removed', reason });
    };
    const requested = this.launcher instanceof RequestLauncher && !info.external ? this.launcher : undefined;
    if (info.state === 'stopping' || info.state === 'crashed') {
      if (requested) requested.adopt(info.worker_id, info.pid).kill('SIGKILL');
      else if (info.pid !== null && !info.external) killPid(info.pid, 'SIGKILL');
      return drop(`was ${info.state} when the hive went down`);
    }
    // A requested worker's pid is not ours to look up: its launcher says whether it still runs (watch below).
    if (!requested && !info.external && info.pid !== null && !pidAlive(info.pid)) return drop('process is gone');
    let state: WorkerState = info.state;
    try {
      const ready = await callJson<{ state?: string }>('GET', `${info.url}/v1/ready`, undefined, {
        timeoutMs: PROBE_TIMEOUT_MS,
        token: this.cfg.token,
      });
      if (ready?.state === 'idle' || ready?.state === 'busy' || ready?.state === 'loading') state = ready.state;
    } catch (e) {
      // A worker that answers but refuses the hive's token is not one of ours any more: say so, not "unreachable".
      const status = e instanceof DownstreamError ? e.status : 0;
      if (status === 401 || status === 403)
        return drop(`the worker refused the hive's token (${status} ${(e as DownstreamError).code})`);
      return drop('not reachable after the hive restarted');
    }
    const now = Date.now();
    info.state = state;
    info.last_heartbeat_ms = now;
    info.failed_health_checks = 0;
    const e = newEntry(info, p.port, p.model_path, now);
    if (p.port !== null && !info.external) this.ports.markUsed(p.port);
    this.workers.set(info.worker_id, e);
    if (requested) this.watch(e, requested.adopt(info.worker_id, info.pid), log, { worker_id: info.worker_id });
    this.store.putWorker(persisted(e));
    log.info('recorded worker is alive; kept', {
      event: 'worker.restored',
      state,
      pid: info.pid,
      external: info.external,
    });
  }

  // ---- bookkeeping --------------------------------------------------------------------------------

  private setState(e: Entry, to: WorkerState): void {
    const from = e.info.state;
    if (from === to) return;
    if (!canTransition(from, to)) {
      throw new HttpError(
        409,
        'INVALID_STATE_TRANSITION',
        `worker ${e.info.worker_id} cannot go from ${from} to ${to}`,
        {
          worker_id: e.info.worker_id,
          from,
          to,
        },
      );
    }
    e.info.state = to;
    e.stateSinceMs = Date.now();
    this.changed(e);
  }

  private changed(e: Entry): void {
    if (this.workers.get(e.info.worker_id) === e) this.store.putWorker(persisted(e));
    this.onChange();
  }

  private remove(
    e: Entry,
    reason: string,
    exit: { exit_code: number | null; signal: string | null },
    stateBefore?: WorkerState,
  ): void {
    if (this.workers.get(e.info.worker_id) !== e) return;
    this.workers.delete(e.info.worker_id);
    this.store.deleteWorker(e.info.worker_id);
    if (e.port !== null && !e.info.external) this.ports.release(e.port);
    this.recentlyRemoved.push({
      worker_id: e.info.worker_id,
      model_ref: e.info.model_ref,
      reason,
      state_before: stateBefore ?? e.info.state,
      ...exit,
      removed_at_ms: Date.now(),
    });
    if (this.recentlyRemoved.length > REMOVED_MEMORY) this.recentlyRemoved.shift();
    this.workerLog(e).info(`worker removed: ${reason}`, { event: 'worker.removed', reason, ...exit });
    this.onChange();
  }

  private mustGet(workerId: string): Entry {
    const e = this.workers.get(workerId);
    if (!e)
      throw new HttpError(404, 'WORKER_NOT_FOUND', `no worker '${workerId}' is registered at this hive`, {
        worker_id: workerId,
      });
    return e;
  }

  private workerLog(e: Entry): Logger {
    return this.log.child({
      worker_id: e.info.worker_id,
      ...(e.jobId ? { job_id: e.jobId } : {}),
      ...(e.jobCorrelationId ? { correlation_id: e.jobCorrelationId } : {}),
    });
  }
}

function persisted(e: Entry): PersistedWorker {
  return { info: { ...e.info }, port: e.port, model_path: e.modelPath };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
