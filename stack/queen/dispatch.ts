// Getting a worker for a job (contract §1 /v2/tasks): pick hives by the scheduler's rule, ask each for an
// idle worker with the model; if no hive has any worker for that model, ask the best hive to spawn one
// (it provisions the model first) and wait until it is ready; if workers exist but are all busy or still
// loading, wait for one to be released. One spawn per hive and model at a time, however many jobs wait.

import { DownstreamError, type CallOptions } from '../shared/downstream.ts';
import { HttpError, retryable } from '../shared/http.ts';
import type { Logger } from '../shared/log.ts';
import { HiveCalls, hiveUnavailable, isUnreachable } from './hive-calls.ts';
import type { HiveRecord, HiveRegistry, WorkerSummary } from './registry.ts';
import { rankHives } from './scheduler.ts';

const POLL_MS = 100;
const NO_CAPACITY_RETRY_MS = 1000;

export interface Lease {
  hive: HiveRecord;
  worker_id: string;
  url: string;
}

export interface ObtainOptions {
  model: string;
  node?: string;
  jobId: string;
  allowSpawn: boolean;
  /** Absolute epoch ms from x-deadline, or null. */
  deadline: number | null;
  signal: AbortSignal;
  call: CallOptions;
  log: Logger;
}

interface RemovedWorker {
  worker_id: string;
  reason: string;
}

interface HiveList {
  workers: WorkerSummary[];
  recently_removed?: RemovedWorker[];
}

export class Dispatcher {
  private readonly spawning = new Map<string, Promise<void>>();
  private waiters = new Set<() => void>();

  constructor(
    private readonly registry: HiveRegistry,
    private readonly calls: HiveCalls,
    private readonly readyTimeoutMs: number,
  ) {}

  /** A worker was released somewhere: jobs waiting for one try again now. */
  wake(): void {
    const w = this.waiters;
    this.waiters = new Set();
    for (const fn of w) fn();
  }

  async obtain(o: ObtainOptions): Promise<Lease> {
    const giveUpAt = Math.min(o.deadline ?? Infinity, Date.now() + this.readyTimeoutMs);
    for (;;) {
      if (o.signal.aborted) throw new HttpError(499, 'CLIENT_CLOSED', 'the client went away');
      if (o.deadline !== null && Date.now() >= o.deadline) throw deadlineExceeded();
      if (Date.now() >= giveUpAt) {
        throw retryable(
          503,
          'NO_CAPACITY',
          `no worker for '${o.model}' became available within ${this.readyTimeoutMs} ms`,
          NO_CAPACITY_RETRY_MS,
        );
      }
      const candidates = this.candidates(o.node);
      let waitable = false;
      const reachable: HiveRecord[] = [];
      for (const h of candidates) {
        h.inflight++; // counts for the scheduler while the acquire is under way
        try {
          const r = await this.calls.call<{ worker_id: string; url: string }>(
            h,
            'POST',
            '/v1/workers/acquire',
            { model_ref: o.model, job_id: o.jobId },
            o.call,
          );
          return { hive: h, worker_id: r.worker_id, url: r.url };
        } catch (e) {
          h.inflight--;
          if (e instanceof DownstreamError && e.code === 'NO_IDLE_WORKER') {
            reachable.push(h);
            const m =
              (e.body as { error?: { matching_workers?: Record<string, number> } })?.error?.matching_workers ?? {};
            // Busy or loading workers of this model will become usable; unhealthy ones may never.
            if ((m.busy ?? 0) + (m.loading ?? 0) > 0) waitable = true;
            continue;
          }
          if (isUnreachable(e)) {
            o.log.warn('hive did not answer the acquire', {
              event: 'hive.call_failed',
              node_name: h.node_name,
              err: (e as Error).message,
            });
            continue;
          }
          throw fromHive(e, h);
        }
      }
      if (reachable.length === 0) {
        const first = candidates[0]!;
        throw hiveUnavailable(
          first,
          candidates.length === 1 ? `hive '${first.node_name}' is not answering` : 'no hive is answering',
          first.circuit.retryAfterMs() || 1000,
        );
      }
      if (!o.allowSpawn) {
        throw retryable(503, 'NO_CAPACITY', `no idle worker for '${o.model}'`, NO_CAPACITY_RETRY_MS);
      }
      const pending = reachable.map((h) => this.spawning.get(spawnKey(h, o.model))).find((p) => p !== undefined);
      if (pending) {
        // A failed spawn fails every job waiting for it, except "the hive is full" (507): that only means
        // this job waits for a worker like any other, so it goes round again. (It surfaced as a 500
        // INTERNAL_ERROR when ten clients raced three workers under parallel load.)
        await this.waitFor(pending, o).catch((e) => {
          if (!(e instanceof DownstreamError && e.status === 507)) throw e;
        });
      } else if (waitable) {
        await this.waitFor(undefined, o);
      } else {
        await this.waitFor(this.spawnSomewhere(reachable, o), o);
      }
    }
  }

  /** Usable hives, best first; the errors say why there is none. */
  private candidates(node: string | undefined): HiveRecord[] {
    if (node !== undefined) {
      const h = this.registry.get(node);
      if (!h) throw new HttpError(404, 'NODE_NOT_FOUND', `no hive named '${node}' is registered`, { node_name: node });
      const c = this.registry.candidate(h);
      if (c.circuit === 'open')
        throw hiveUnavailable(
          h,
          `the circuit to hive '${node}' is open after repeated failures`,
          h.circuit.retryAfterMs(),
        );
      if (!c.available)
        throw hiveUnavailable(h, `hive '${node}' is unavailable (no heartbeat within the hive timeout)`);
      return [h];
    }
    const all = this.registry.all();
    if (all.length === 0) throw retryable(503, 'NO_CAPACITY', 'no hive is registered', NO_CAPACITY_RETRY_MS);
    const ranked = rankHives(all.map((h) => this.registry.candidate(h))).map((c) => c.hive);
    if (ranked.length === 0) {
      const soonest = Math.min(...all.map((h) => h.circuit.retryAfterMs() || 1000));
      throw retryable(
        503,
        'HIVE_UNAVAILABLE',
        'every registered hive is unavailable (no heartbeat or circuit open)',
        soonest,
      );
    }
    return ranked;
  }

  /** Spawn on the best hive that has room; 507 from one hive moves on to the next. */
  private spawnSomewhere(hives: HiveRecord[], o: ObtainOptions): Promise<void> {
    const run = async () => {
      let lastFull: unknown;
      for (const h of hives) {
        try {
          await this.spawnAndWait(h, o);
          return;
        } catch (e) {
          if (e instanceof DownstreamError && e.status === 507) {
            lastFull = e;
            continue;
          }
          throw e;
        }
      }
      throw retryable(
        503,
        'NO_CAPACITY',
        `every hive is at its worker capacity: ${(lastFull as Error)?.message ?? ''}`.trim(),
        NO_CAPACITY_RETRY_MS,
      );
    };
    return run();
  }

  private spawnAndWait(h: HiveRecord, o: ObtainOptions): Promise<void> {
    const key = spawnKey(h, o.model);
    const existing = this.spawning.get(key);
    if (existing) return existing;
    const p = (async () => {
      let r: { worker_id: string };
      try {
        // The spawn call provisions the model first, so it may take as long as a download.
        r = await this.calls.call(
          h,
          'POST',
          '/v1/workers/spawn',
          { model_ref: o.model, backend: 'cpu', device: 0 },
          { ...o.call, timeoutMs: this.readyTimeoutMs },
        );
      } catch (e) {
        if (e instanceof DownstreamError && e.status === 507) throw e;
        throw fromHive(e, h);
      }
      const log = o.log.child({ node_name: h.node_name, worker_id: r.worker_id });
      log.info('worker spawn requested; waiting for it to be ready', { event: 'worker.spawn_requested' });
      await this.waitReady(h, r.worker_id, o, log);
    })().finally(() => this.spawning.delete(key));
    p.catch(() => {}); // waiters observe it; nobody may be left to
    this.spawning.set(key, p);
    return p;
  }

  /** Poll the hive until the worker is ready; if it disappears, the hive's reason is the error. */
  private async waitReady(h: HiveRecord, workerId: string, o: ObtainOptions, log: Logger): Promise<void> {
    const until = Date.now() + this.readyTimeoutMs;
    while (Date.now() < until) {
      await sleep(POLL_MS);
      let list: HiveList;
      try {
        list = await this.calls.call<HiveList>(h, 'GET', '/v1/workers/list', undefined, o.call);
      } catch {
        continue; // a missed poll is not a failed spawn
      }
      const w = list.workers.find((x) => x.worker_id === workerId);
      if (w && (w.state === 'idle' || w.state === 'busy')) {
        log.info('spawned worker is ready', { event: 'worker.ready_seen' });
        return;
      }
      if (!w) {
        const removed = list.recently_removed?.find((x) => x.worker_id === workerId);
        const why = removed?.reason ?? 'it is no longer listed by the hive';
        log.error(`spawned worker failed: ${why}`, { event: 'worker.spawn_failed' });
        throw new HttpError(
          502,
          'WORKER_SPAWN_FAILED',
          `worker ${workerId} on hive '${h.node_name}' failed to start: ${why}`,
          {
            node_name: h.node_name,
            worker_id: workerId,
            retryable: false,
          },
        );
      }
    }
    throw retryable(
      503,
      'WORKER_NOT_READY',
      `worker ${workerId} on hive '${h.node_name}' was not ready within ${this.readyTimeoutMs} ms`,
      NO_CAPACITY_RETRY_MS,
    );
  }

  /** Sleep until something may have changed: a release, the poll interval, the deadline, or `p` settling. */
  private async waitFor(p: Promise<void> | undefined, o: ObtainOptions): Promise<void> {
    let wake!: () => void;
    const woken = new Promise<void>((r) => (wake = r));
    this.waiters.add(wake);
    o.signal.addEventListener('abort', wake, { once: true });
    const untilDeadline = o.deadline !== null ? Math.max(0, o.deadline - Date.now()) : POLL_MS;
    const timer = setTimeout(wake, Math.min(POLL_MS, untilDeadline));
    try {
      await (p ? Promise.race([p, woken]) : woken);
    } finally {
      clearTimeout(timer);
      this.waiters.delete(wake);
      o.signal.removeEventListener('abort', wake);
    }
  }
}

function spawnKey(h: HiveRecord, model: string): string {
  return `${h.node_name}\u0000${model}`;
}

export function deadlineExceeded(): HttpError {
  return new HttpError(504, 'DEADLINE_EXCEEDED', 'the x-deadline of this job has passed');
}

/** A hive's error, as the queen's client should see it. */
export function fromHive(e: unknown, h: HiveRecord): HttpError {
  if (e instanceof HttpError) return e;
  if (e instanceof DownstreamError) {
    if (isUnreachable(e)) return hiveUnavailable(h, `hive '${h.node_name}' did not answer: ${e.message}`);
    const body = (e.body as { error?: Record<string, unknown> })?.error ?? {};
    const { code: _c, message: _m, correlation_id: _cid, ...extra } = body;
    if (e.status === 503)
      return retryable(503, e.code, e.message, Number(body.retry_after_ms) || 1000, {
        ...extra,
        node_name: h.node_name,
      });
    if (e.status === 401 || e.status === 403) {
      return new HttpError(
        502,
        'HIVE_AUTH_FAILED',
        `hive '${h.node_name}' refused the queen's service token (${e.code})`,
        { node_name: h.node_name },
      );
    }
    return new HttpError(e.status, e.code, e.message, { ...extra, node_name: h.node_name });
  }
  return new HttpError(500, 'INTERNAL_ERROR', String((e as Error)?.message ?? e));
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
