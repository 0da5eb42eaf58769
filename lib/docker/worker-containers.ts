// Mock workers in their own containers (docker runtime default). A hive run with RBEE_WORKER_LAUNCHER=request
// does not start workers itself: it lists the ones it wants (GET /v1/launcher/workers) and this reconciler —
// the harness, which holds the engine's socket, never the hive — makes each one a labelled container on the
// stack network, named after the worker (the hive reaches it at http://<worker_id>:<port>), and reports back
// (POST /v1/launcher/status): running with its pid, or exited with its code, signal and the engine's
// OOMKilled. It delivers the hive's signals (SIGTERM, SIGKILL) and removes a container once the hive no
// longer wants it. Like a kubelet it is level-triggered: every pass compares what the hive wants with what
// runs, so a lost report or a hive restart (whose recorded workers come back as `adopt` requests: "does it
// still run?") heals on the next pass. While the hive does not answer, nothing is started or removed.

import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { request } from 'undici';
import { bundleName } from '../stack/bundles.ts';
import { HEALTH_PATH, WORKER_LOG_DIR } from '../stack/services.ts';
import { IMAGE_BUNDLE_DIR } from './images.ts';
import { DockerServiceHandle } from './service-container.ts';
import { engineMessage, isNotFound } from './engine.ts';
import { LABEL } from './labels.ts';

/** How often the hive's wish list is read (also bounds how long a start or a signal waits). */
const PASS_MS = 100;

/** One request of GET /v1/launcher/workers (stack/hive/launcher.ts). */
interface LaunchRequest {
  worker_id: string;
  generation: string;
  args: string[];
  env: Record<string, string>;
  adopt: boolean;
  signal: string | null;
  signals_sent: number;
  observed: 'requested' | 'running';
}

interface Exit {
  exit_code: number | null;
  signal: string | null;
  oom_killed: boolean;
}

interface WorkerContainer {
  generation: string;
  /** Undefined until its container is created (or when that failed). */
  handle?: DockerServiceHandle;
  /** How many of the hive's signals were delivered. */
  delivered: number;
  /** Set once the container ran and ended (or could not be started). */
  exit?: Exit;
  failed?: string;
  starting?: Promise<void>;
}

/** What the reconciler needs of its stack. */
export interface WorkerContainerHost {
  readonly dockerClient: Docker;
  readonly networkName: string;
  /** Create options for a locked-down, labelled container on the stack network (see DockerRunningStack). */
  containerOptions(
    name: string,
    memory?: number,
  ): Docker.ContainerCreateOptions & { HostConfig: Docker.HostConfig; Labels: Record<string, string> };
  /** The hive's URL as the harness reaches it now, or undefined while it has no address. */
  hiveUrl(hive: string): string | undefined;
  hiveDataDir(hive: string): string;
  /** What a hive's data dir is mounted from (its host dir, or its volume), for its workers' read-only mount. */
  hiveDataSource(hive: string): string;
  /** Where the hive's data dir is mounted in its container (model paths the hive hands out start there). */
  readonly dataMount: string;
  token: string | undefined;
  memoryLimit(hive: string): number | undefined;
  healthTimeoutMs: number;
}

export class WorkerContainers {
  private readonly containers = new Map<string, WorkerContainer>();
  private timer: NodeJS.Timeout | undefined;
  private passing = false;
  private stopped = false;
  /** The last problem of a pass (for diagnostics), cleared by a good pass. */
  lastProblem: string | undefined;

  constructor(
    private readonly host: WorkerContainerHost,
    readonly hive: string,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.pass(), PASS_MS);
    this.timer.unref();
  }

  /** The container of a worker of this hive, if it has one. */
  get(workerId: string): DockerServiceHandle | undefined {
    return this.containers.get(workerId)?.handle;
  }

  handles(): DockerServiceHandle[] {
    return [...this.containers.values()].flatMap((c) => (c.handle ? [c.handle] : []));
  }

  /** Stop reconciling and remove every container (teardown). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await Promise.all([...this.containers.values()].map((c) => c.starting?.catch(() => {})));
    await Promise.all([...this.containers.values()].map((c) => c.handle?.remove().catch(() => {})));
    this.containers.clear();
  }

  private async pass(): Promise<void> {
    if (this.passing || this.stopped) return;
    this.passing = true;
    try {
      const wanted = await this.wanted();
      if (!wanted) return;
      const ids = new Set(wanted.map((r) => r.worker_id));
      // Containers the hive no longer wants (stopped and removed, or a crashed one's old generation) go.
      for (const [id, c] of this.containers) {
        if (!ids.has(id) && !c.starting) {
          this.containers.delete(id);
          await c.handle?.remove().catch(() => {});
        }
      }
      await Promise.all(wanted.map((r) => this.reconcile(r)));
      this.lastProblem = undefined;
    } catch (e) {
      this.lastProblem = engineMessage(e);
    } finally {
      this.passing = false;
    }
  }

  private async wanted(): Promise<LaunchRequest[] | undefined> {
    const base = this.host.hiveUrl(this.hive);
    if (!base) return undefined;
    try {
      const r = await request(`${base}/v1/launcher/workers`, {
        headers: this.auth(),
        headersTimeout: 2000,
        bodyTimeout: 2000,
      });
      const body = (await r.body.json()) as { workers?: LaunchRequest[] };
      return r.statusCode === 200 && Array.isArray(body.workers) ? body.workers : undefined;
    } catch {
      return undefined; // the hive is down, restarting or cut off: leave everything as it is
    }
  }

  private async reconcile(r: LaunchRequest): Promise<void> {
    let c = this.containers.get(r.worker_id);
    if (c?.starting) return;
    if (c && c.generation !== r.generation) {
      if (r.adopt) {
        c.generation = r.generation; // the restarted hive asks about the container that already runs
      } else {
        this.containers.delete(r.worker_id); // a new start of the worker: the old container goes first
        await c.handle?.remove().catch(() => {});
        c = undefined;
      }
    }
    if (!c) {
      if (r.adopt) {
        // Nothing of ours by that id (it ended and was removed while the hive was down).
        await this.report(r, { state: 'exited', exit_code: null, signal: null, oom_killed: false });
        return;
      }
      await this.create(r);
      return;
    }
    if (c.failed !== undefined) {
      await this.report(r, { state: 'failed', error: c.failed });
      return;
    }
    if (r.signals_sent > c.delivered && r.signal && !c.exit) {
      c.delivered = r.signals_sent;
      await c.handle?.signal(r.signal as 'SIGTERM').catch(() => {});
    }
    if (c.exit) await this.report(r, { state: 'exited', ...c.exit });
    else if (r.observed === 'requested') await this.report(r, { state: 'running', pid: await this.pid(c) });
  }

  private async create(r: LaunchRequest): Promise<void> {
    const h = this.host;
    const port = Number(r.args[r.args.indexOf('--port') + 1]);
    const opts = h.containerOptions(`${r.worker_id}-${r.generation}`, h.memoryLimit(this.hive));
    const d = h.dockerClient;
    const logDir = join(h.hiveDataDir(this.hive), WORKER_LOG_DIR);
    mkdirSync(logDir, { recursive: true });
    const c: WorkerContainer = { generation: r.generation, delivered: r.signals_sent };
    this.containers.set(r.worker_id, c);
    c.starting = (async () => {
      try {
        const container = await d.createContainer({
          ...opts,
          Cmd: ['node', `${IMAGE_BUNDLE_DIR}/${bundleName('worker')}`, ...r.args],
          Env: Object.entries(r.env).map(([k, v]) => `${k}=${v}`),
          Labels: { ...opts.Labels, [LABEL.service]: r.worker_id, [LABEL.hive]: this.hive },
          HostConfig: { ...opts.HostConfig, Binds: [`${h.hiveDataSource(this.hive)}:${h.dataMount}:ro`] },
          NetworkingConfig: { EndpointsConfig: { [h.networkName]: { Aliases: [r.worker_id] } } },
        });
        const handle = new DockerServiceHandle(
          d,
          container,
          { name: r.worker_id, kind: 'worker', healthPath: HEALTH_PATH.worker, env: {} },
          port,
          h.networkName,
          join(logDir, `${r.worker_id}.log`),
          h.hiveDataDir(this.hive),
          h.healthTimeoutMs,
          h.memoryLimit(this.hive),
        );
        c.handle = handle;
        await handle.start();
        void handle
          .waitExit(24 * 3600_000)
          // Removed before it could be inspected (the hive already let it go): how it ended is unknown.
          .catch(() => ({ code: null, signal: null, oomKilled: false }))
          .then((st) => {
            if (!st) return;
            c.exit = { exit_code: st.signal ? null : st.code, signal: st.signal, oom_killed: st.oomKilled === true };
            void this.pass(); // report it now, not a pass later
          });
      } catch (e) {
        c.failed = `container for ${r.worker_id} could not be started: ${engineMessage(e)}`;
      } finally {
        c.starting = undefined;
      }
    })();
    await c.starting;
    if (c.failed === undefined && !c.exit) await this.report(r, { state: 'running', pid: await this.pid(c) });
  }

  private async pid(c: WorkerContainer): Promise<number | undefined> {
    if (!c.handle) return undefined;
    try {
      const pid = (await c.handle.container.inspect()).State.Pid;
      return pid > 0 ? pid : undefined;
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  private async report(r: LaunchRequest, status: Record<string, unknown>): Promise<void> {
    const base = this.host.hiveUrl(this.hive);
    if (!base) return;
    await request(`${base}/v1/launcher/status`, {
      method: 'POST',
      headers: { ...this.auth(), 'content-type': 'application/json' },
      body: JSON.stringify({ worker_id: r.worker_id, generation: r.generation, ...status }),
      headersTimeout: 2000,
      bodyTimeout: 2000,
    })
      .then((res) => res.body.dump())
      .catch(() => {}); // the next pass reports again
  }

  private auth(): Record<string, string> {
    return this.host.token ? { authorization: `Bearer ${this.host.token}` } : {};
  }
}
