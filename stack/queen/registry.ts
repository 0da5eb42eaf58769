// The queen's view of its hives (contract §1): registered hives (static adds and heartbeating ones,
// persisted), when each was last heard from, its latest worker list, its circuit breaker, and whether it
// is `available` — heard from within RBEE_HIVE_TIMEOUT_MS and circuit not open.

import type { Logger } from '../shared/log.ts';
import { CircuitBreaker, type CircuitState } from './circuit.ts';
import type { HiveCandidate } from './scheduler.ts';
import type { HiveRow, QueenStore } from './store.ts';

export interface WorkerSummary {
  worker_id: string;
  url: string;
  model_ref: string;
  state: string;
  healthy?: boolean;
  [k: string]: unknown;
}

export type HiveStatus = 'available' | 'unavailable';

export interface HiveRecord {
  node_name: string;
  url: string;
  static: boolean;
  registered_at_ms: number;
  last_heartbeat_ms: number | null;
  /** Last time the hive answered or called us (heartbeat or successful poll); null = not since start. */
  last_contact_ms: number | null;
  /** Heartbeats arrived since this queen started: then they, not polls, decide availability. */
  heartbeating: boolean;
  workers: WorkerSummary[];
  circuit: CircuitBreaker;
  /** Jobs of this queen holding or acquiring a worker on this hive (fresher than the heartbeat view). */
  inflight: number;
  reportedStatus: HiveStatus;
  reportedCircuit: CircuitState;
}

export interface RegistryConfig {
  hiveTimeoutMs: number;
  cbFailures: number;
  cbCooldownMs: number;
}

export const NODE_NAME_RE = /^[A-Za-z0-9_-]{1,64}$/;

export class HiveRegistry {
  private readonly hives = new Map<string, HiveRecord>();

  constructor(
    private readonly cfg: RegistryConfig,
    private readonly store: QueenStore,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** After a restart: every hive on disk comes back (unavailable until it is heard from). */
  load(): void {
    const adopt = (rows: HiveRow[]) => {
      for (const row of rows) {
        if (this.hives.has(row.node_name)) continue;
        const h = this.create(row.node_name, row.url, row.static, row.registered_at_ms);
        h.last_heartbeat_ms = row.last_heartbeat_ms;
      }
    };
    // Rows that only become readable later (storage was unavailable at start) join the registry then.
    this.store.onLateRows = (rows) => {
      adopt(rows);
      this.log.info('hive registry rows merged from storage that was unreadable at start', {
        event: 'registry.loaded',
        hives: rows.map((r) => r.node_name),
      });
    };
    adopt(this.store.load());
    if (this.hives.size > 0)
      this.log.info('hive registry reloaded', { event: 'registry.loaded', hives: [...this.hives.keys()] });
  }

  all(): HiveRecord[] {
    return [...this.hives.values()].sort((a, b) => (a.node_name < b.node_name ? -1 : 1));
  }

  get(name: string): HiveRecord | undefined {
    return this.hives.get(name);
  }

  status(h: HiveRecord): HiveStatus {
    const heard = h.last_contact_ms !== null && this.now() - h.last_contact_ms <= this.cfg.hiveTimeoutMs;
    return heard && h.circuit.state !== 'open' ? 'available' : 'unavailable';
  }

  candidate(h: HiveRecord): HiveCandidate & { hive: HiveRecord } {
    const viewBusy = h.workers.filter((w) => w.state === 'busy').length;
    return {
      node_name: h.node_name,
      available: this.status(h) === 'available',
      circuit: h.circuit.state,
      busy: Math.max(viewBusy, h.inflight),
      hive: h,
    };
  }

  heartbeat(nodeName: string, rawUrl: string, workers: WorkerSummary[], log: Logger): HiveRecord {
    const now = this.now();
    const url = rawUrl.replace(/\/+$/, '');
    let h = this.hives.get(nodeName);
    if (!h) {
      h = this.create(nodeName, url, false, now);
      log.info('hive registered by heartbeat', { event: 'hive.registered', node_name: nodeName, url });
    } else if (h.url !== url) {
      log.info('hive URL changed', { event: 'hive.url_changed', node_name: nodeName, url, previous_url: h.url });
      h.url = url;
    }
    h.last_heartbeat_ms = now;
    h.last_contact_ms = now;
    h.heartbeating = true;
    h.workers = workers;
    this.persist(h);
    this.reportTransitions(h);
    return h;
  }

  /** A successful poll of a hive that does not heartbeat to us (statically added). */
  polled(h: HiveRecord, workers: WorkerSummary[]): void {
    h.last_contact_ms = this.now();
    h.workers = workers;
    this.reportTransitions(h);
  }

  add(nodeName: string, url: string, log: Logger): HiveRecord {
    const existing = this.hives.get(nodeName);
    if (existing) {
      existing.url = url.replace(/\/+$/, '');
      existing.static = true;
      this.persist(existing);
      return existing;
    }
    const h = this.create(nodeName, url, true, this.now());
    this.persist(h);
    log.info('hive added', { event: 'hive.added', node_name: nodeName, url });
    return h;
  }

  remove(nodeName: string, log: Logger): boolean {
    if (!this.hives.delete(nodeName)) return false;
    this.store.delete(nodeName);
    log.info('hive removed', { event: 'hive.removed', node_name: nodeName });
    return true;
  }

  /** Log availability and circuit changes (called by the sweep timer and after contacts). */
  sweep(): void {
    for (const h of this.hives.values()) this.reportTransitions(h);
  }

  reportTransitions(h: HiveRecord): void {
    const status = this.status(h);
    const circuit = h.circuit.state;
    const log = this.log.child({ node_name: h.node_name });
    if (circuit !== h.reportedCircuit) {
      log.info(`circuit ${circuit}`, { event: `circuit.${circuit}`, failures: h.circuit.consecutiveFailures });
      h.reportedCircuit = circuit;
    }
    if (status !== h.reportedStatus) {
      const why =
        circuit === 'open'
          ? 'circuit open'
          : h.last_contact_ms === null
            ? 'not heard from since start'
            : `no heartbeat for ${this.now() - h.last_contact_ms} ms`;
      if (status === 'available') log.info('hive available', { event: 'hive.available' });
      else log.warn(`hive unavailable: ${why}`, { event: 'hive.unavailable', reason: why });
      h.reportedStatus = status;
    }
  }

  /** Workers as the hives last reported them; hives that are unavailable contribute none. */
  workerView(): Array<WorkerSummary & { node: string }> {
    const out: Array<WorkerSummary & { node: string }> = [];
    for (const h of this.all()) {
      if (this.status(h) !== 'available') continue;
      for (const w of h.workers) out.push({ ...w, node: h.node_name });
    }
    return out;
  }

  findWorker(workerId: string): HiveRecord | undefined {
    return this.all().find((h) => h.workers.some((w) => w.worker_id === workerId));
  }

  private create(nodeName: string, url: string, isStatic: boolean, registeredAt: number): HiveRecord {
    const h: HiveRecord = {
      node_name: nodeName,
      url: url.replace(/\/+$/, ''),
      static: isStatic,
      registered_at_ms: registeredAt,
      last_heartbeat_ms: null,
      last_contact_ms: null,
      heartbeating: false,
      workers: [],
      circuit: new CircuitBreaker(this.cfg.cbFailures, this.cfg.cbCooldownMs, this.now),
      inflight: 0,
      reportedStatus: 'unavailable',
      reportedCircuit: 'closed',
    };
    this.hives.set(nodeName, h);
    return h;
  }

  private persist(h: HiveRecord): void {
    this.store.upsert({
      node_name: h.node_name,
      url: h.url,
      static: h.static,
      registered_at_ms: h.registered_at_ms,
      last_heartbeat_ms: h.last_heartbeat_ms,
    });
  }
}
