// The docker runtime: one internal network and one container per service for every stack, through
// dockerode — and, by default, one container per mock worker, started on its hive's request by the
// harness (worker-containers.ts; the hive never gets the engine's socket). With `workers: 'in-hive'` a
// hive starts its workers as child processes in its own container instead (how rbee runs on one machine). Containers are unprivileged (uid 10001, no capabilities, no-new-privileges, read-only root),
// reach each other by service name on the stack's network, and have no route out. The harness reaches
// each service at its container IP on that network (the host is the network's gateway).

import { chownSync, createWriteStream, mkdirSync, rmSync } from 'node:fs';
import { join, posix } from 'node:path';
import type Docker from 'dockerode';
import type { ExternalWorkerStart, RunningStack, Runtime, ServiceHandle, StartContext } from '../stack/runtime.ts';
import type { StackSecrets } from '../stack/secrets.ts';
import {
  planExternalWorker,
  planServices,
  type Addressing,
  type ServiceKind,
  type ServicePlan,
} from '../stack/services.ts';
import type { StackSpec } from '../stack/spec.ts';
import { attachOutput } from './container-io.ts';
import { dockerLinkFaults } from './link-faults.ts';
import { dockerMemoryControl } from './memory.ts';
import { DATA_DIR, DockerServiceHandle, WORKER_PORTS } from './service-container.ts';
import type { DockerStackView } from './stack-view.ts';
import { WorkerContainers } from './worker-containers.ts';
import { docker, engineMessage, hostShortcuts, isNotFound, preflight } from './engine.ts';
import { IMAGE_BUNDLE_DIR, ensureAppImage } from './images.ts';
import { bundleName } from '../stack/bundles.ts';
import { endOnNetwork } from './exit-gate.ts';
import { LABEL, runnerLabels, safeName } from './labels.ts';
import { OomWatch } from './oom.ts';
import { RBEE_UID } from './rootfs.ts';
import { sweep } from './sweep.ts';

/** Ports inside the containers; every service has its own network namespace, so they never clash. */
const PORTS: Record<ServiceKind, number> = { hub: 8000, queen: 8080, hive: 9200, worker: 8100 };

export interface DockerRuntimeOptions {
  docker?: Docker;
  /** App image to run; default: ensureAppImage() (built on first use, cached by content hash). */
  image?: string;
  /** Start only these services of the plan (partial stacks, tests). */
  only?: string[];
  /** Command of a service's container; default `node dist/<kind>.mjs` (the bundle in the app image). */
  command?: (plan: ServicePlan) => string[];
  /** Memory limit in bytes per service name, for every stack of this runtime (see DockerStartContext). */
  memoryLimits?: Record<string, number>;
  /** Read-only root filesystem (default true); /tmp is a tmpfs, /data a bind mount either way. */
  readOnlyRootfs?: boolean;
  /**
   * Where a hive's mock workers run: each in its own container (default), or as child processes inside the
   * hive's container (`in-hive`, also RBEE_DOCKER_WORKERS=in-hive).
   */
  workers?: WorkerPlacement;
}

export type WorkerPlacement = 'containers' | 'in-hive';

function workerPlacement(o: DockerRuntimeOptions): WorkerPlacement {
  const v = o.workers ?? process.env.RBEE_DOCKER_WORKERS ?? 'containers';
  if (v !== 'containers' && v !== 'in-hive')
    throw new Error(`RBEE_DOCKER_WORKERS=${JSON.stringify(v)}: expected "containers" or "in-hive"`);
  // In-hive workers log into the hive's data dir, which the harness reads only where it shares the disk.
  if (v === 'in-hive' && !hostShortcuts())
    throw new Error(
      "RBEE_DOCKER_WORKERS=in-hive needs host shortcuts (a local engine, RBEE_DOCKER_HOST_SHORTCUTS unset): the harness reads in-hive workers' logs from the hive's data dir on this machine; use containers",
    );
  return v;
}

/** Per-stack extras the docker runtime understands on top of StartContext. */
export interface DockerStartContext extends StartContext {
  /** Memory limit in bytes per service (HostConfig.Memory = MemorySwap, so exceeding it is an OOM kill). */
  memoryLimits?: Record<string, number>;
}

/**
 * Why the docker runtime cannot be used right now (one line), or undefined when it can. Any engine that
 * answers will do: without host shortcuts (a remote engine), faults go through helper containers and the
 * engine's archive and exec APIs, and data lives in volumes. The harness still reaches services at their
 * container IPs, so this machine needs a route to the engine's container networks (docker/README.md).
 */
export async function dockerUnavailable(): Promise<string | undefined> {
  const p = await preflight();
  return p.ok ? undefined : p.reason;
}

export class DockerRuntime implements Runtime {
  readonly name = 'docker' as const;
  /** Workers in their own containers live on when their hive's container is killed; inside it they die with it. */
  readonly workersOutliveHive: boolean;
  private readonly d: Docker;
  private readonly opts: DockerRuntimeOptions & { workers: WorkerPlacement };

  constructor(opts: DockerRuntimeOptions = {}) {
    this.d = opts.docker ?? docker();
    this.opts = { ...opts, workers: workerPlacement(opts) };
    this.workersOutliveHive = this.opts.workers === 'containers';
  }

  async start(spec: StackSpec, secrets: StackSecrets, ctx: DockerStartContext): Promise<DockerRunningStack> {
    const image = this.opts.image ?? (await ensureAppImage({ docker: this.d })).ref;
    const stack = new DockerRunningStack(this.d, ctx, this.opts.workers);
    try {
      await stack.create(spec, secrets, image, {
        ...this.opts,
        memoryLimits: { ...this.opts.memoryLimits, ...spec.memoryLimits, ...ctx.memoryLimits },
      });
      await stack.startAll();
      return stack;
    } catch (e) {
      // Safe after a partial start: stop() only touches what was created.
      await stack.stop().catch(() => {});
      throw e;
    }
  }

  sweep(opts: { all: boolean }): Promise<string[]> {
    return sweep(this.d, opts);
  }
}

/** Which uid:gid the services run as, and whether their data dirs must be chowned to it. */
function serviceUser(): { user: string; chown: boolean } {
  const uid = process.getuid?.() ?? RBEE_UID;
  // As root the harness can chown the bind-mounted data dirs to rbee and still read/corrupt the files.
  // As an ordinary user it cannot chown, so the services run as that user and the files are its own.
  if (uid === 0) return { user: `${RBEE_UID}:${RBEE_UID}`, chown: true };
  return { user: `${uid}:${process.getgid?.() ?? uid}`, chown: false };
}

export class DockerRunningStack implements RunningStack, DockerStackView {
  readonly runtime = 'docker' as const;
  readonly id: string;
  readonly services = new Map<string, DockerServiceHandle>();
  /** Per hive, the reconciler of its workers' containers (none when workers run inside the hive). */
  private readonly reconcilers = new Map<string, WorkerContainers>();
  readonly networkName: string;
  private oom: OomWatch | undefined;
  private stopping: Promise<void> | undefined;
  private config:
    | { spec: StackSpec; secrets: StackSecrets; image: string; opts: DockerRuntimeOptions; addressing: Addressing }
    | undefined;

  /** Partitions, link shaping and in-container calls (need a local engine: namespaces of this machine). */
  readonly linkFaults = dockerLinkFaults(this);
  /** Memory limits per container, charged memory and the engine's OOM kills. */
  readonly memory = dockerMemoryControl(this);

  constructor(
    private readonly d: Docker,
    readonly ctx: StartContext,
    private readonly placement: WorkerPlacement = 'containers',
  ) {
    this.id = `${ctx.runId}/${ctx.stackId}`;
    this.networkName = `rbee-${safeName(ctx.runId)}-${safeName(ctx.stackId)}`;
  }

  get dockerClient(): Docker {
    return this.d;
  }

  get workersOutliveHive(): boolean {
    return this.placement === 'containers';
  }

  stackLabels(): Record<string, string> {
    return { ...runnerLabels(this.ctx.runId), [LABEL.stack]: this.id, [LABEL.workDir]: this.ctx.workDir };
  }

  async create(spec: StackSpec, secrets: StackSecrets, image: string, opts: DockerRuntimeOptions): Promise<void> {
    const hives = new Set(spec.hives.map((h) => h.name));
    const kindOf = (name: string): ServiceKind =>
      name === 'hub' || name === 'queen' ? name : hives.has(name) ? 'hive' : 'worker';
    const port = (name: string) => spec.fixedPorts[name] ?? PORTS[kindOf(name)];
    const addressing: Addressing = {
      internalUrl: (name) => `http://${name}:${port(name)}`,
      listenPort: port,
      dataDir: () => DATA_DIR,
      bindHost: '0.0.0.0',
      workerCmd: `node ${IMAGE_BUNDLE_DIR}/${bundleName('worker')}`,
      // Workers run inside their hive's container (reached through its alias) or in their own (alias = worker id).
      workerHost: (name) => name,
      ...(this.placement === 'containers' ? { workerLauncher: 'request' as const } : {}),
      workerPortRange: () => WORKER_PORTS,
    };
    this.config = { spec, secrets, image, opts, addressing };
    let plans = planServices(spec, secrets, addressing);
    if (opts.only) plans = plans.filter((p) => opts.only!.includes(p.name));

    mkdirSync(join(this.ctx.workDir, 'logs'), { recursive: true });
    await this.d.createNetwork({
      Name: this.networkName,
      Driver: 'bridge',
      Internal: true, // no route out: services may only talk to each other (and the host talks to them)
      CheckDuplicate: true,
      Labels: this.stackLabels(),
    });
    this.oom = await OomWatch.start(this.d, this.id);
    for (const plan of plans) {
      const handle = await this.createService(plan, port(plan.name));
      if (plan.kind !== 'hive') continue;
      handle.hostsWorkers = this.placement === 'in-hive';
      if (this.placement === 'containers') this.reconcilers.set(plan.name, this.reconcilerFor(plan));
    }
  }

  private reconcilerFor(hive: ServicePlan): WorkerContainers {
    const w = new WorkerContainers(
      {
        dockerClient: this.d,
        networkName: this.networkName,
        containerOptions: (name, memory) => this.hardened(name, serviceUser().user, memory),
        hiveUrl: (h) => {
          const s = this.services.get(h);
          return s?.ip && s.running() ? s.url : undefined;
        },
        hiveDataDir: (h) => this.service(h).dataDir,
        hiveDataSource: (h) => this.service(h).dataSource,
        dataMount: DATA_DIR,
        token: hive.env.LLORCH_API_TOKEN,
        // A hive's memory limit is its machine's: each of its workers' containers gets it too.
        memoryLimit: (h) => this.config?.opts.memoryLimits?.[h],
        healthTimeoutMs: this.ctx.healthTimeoutMs,
      },
      hive.name,
    );
    w.start();
    return w;
  }

  /** Every mock worker's own container (for diagnostics). */
  workerContainers(): DockerServiceHandle[] {
    return [...this.reconcilers.values()].flatMap((w) => w.handles());
  }

  /** The containers of a hive's mock workers (empty when they run inside the hive's container). */
  workerContainersOf(hive: string): DockerServiceHandle[] {
    return this.reconcilers.get(hive)?.handles() ?? [];
  }

  /** A mock worker's own container, by worker id: null when it has none; undefined when workers run in-hive. */
  workerContainer(workerId: string): DockerServiceHandle | null | undefined {
    if (this.placement === 'in-hive') return undefined;
    for (const w of this.reconcilers.values()) {
      const h = w.get(workerId);
      if (h) return h;
    }
    return null;
  }

  /** Container settings every container of the stack gets: unprivileged, labelled, on the stack network. */
  private hardened(
    name: string,
    user: string,
    memory?: number,
  ): Docker.ContainerCreateOptions & { HostConfig: Docker.HostConfig; Labels: Record<string, string> } {
    const opts = this.config!.opts;
    return {
      name: `${this.networkName}-${safeName(name)}`,
      Image: this.config!.image,
      User: user,
      WorkingDir: '/app',
      Labels: { ...this.stackLabels(), [LABEL.service]: name },
      HostConfig: {
        NetworkMode: this.networkName,
        // An init as pid 1 forwards signals to the service and reaps orphans (e.g. a killed worker's children).
        Init: true,
        CapDrop: ['ALL'],
        SecurityOpt: ['no-new-privileges'],
        ReadonlyRootfs: opts.readOnlyRootfs ?? true,
        Tmpfs: { '/tmp': 'rw,noexec,nosuid,nodev,size=256m,mode=1777' },
        RestartPolicy: { Name: 'no' },
        // Names are the stack's own: the engine's DNS answers them, and must forward nothing beyond the
        // container. By default it forwards unknown names to the host's resolvers, unreachable here, and
        // each lookup then blocks a libuv thread for 10 s: while a restarted hive's name was gone, its
        // workers' heartbeats queued behind such lookups and stayed silent 2-3 s after it was back, so it
        // killed them (CHAOS-001 on CI). A resolver on the container's own loopback, where nothing listens,
        // makes an unknown name fail at once and keeps every lookup inside the stack.
        Dns: ['127.0.0.1'],
        DnsOptions: ['timeout:1', 'attempts:1'],
        PidsLimit: 1024,
        ...(memory ? { Memory: memory, MemorySwap: memory } : {}),
        // Logs reach the harness through attach; the engine's own copy only needs to be bounded.
        LogConfig: { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '1' } },
      },
      NetworkingConfig: { EndpointsConfig: { [this.networkName]: { Aliases: [name] } } },
    };
  }

  /**
   * A helper container on the stack network that is not a service of the stack (e.g. a link proxy):
   * same image and lock-down, output to logs/<name>.log, removed with the stack. Resolves once it runs.
   */
  async startHelper(
    name: string,
    cmd: string[],
    env: Record<string, string>,
  ): Promise<{ container: Docker.Container; ip: string }> {
    if (!this.config) throw new Error(`stack ${this.id} was not created`);
    if (this.stopping) throw new Error(`stack ${this.id} is stopped`);
    const base = this.hardened(name, serviceUser().user);
    const container = await this.d.createContainer({
      ...base,
      Cmd: cmd,
      Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
    });
    const log = createWriteStream(join(this.ctx.workDir, 'logs', `${name}.log`), { flags: 'a' });
    const { done } = await attachOutput(this.d, container, log);
    void done.then(() => log.end());
    await container.start();
    const ip = (await container.inspect()).NetworkSettings.Networks[this.networkName]?.IPAddress;
    if (!ip) throw new Error(`helper ${name} got no address on ${this.networkName}`);
    return { container, ip };
  }

  private async createService(
    plan: ServicePlan,
    port: number,
    extraBinds: string[] = [],
  ): Promise<DockerServiceHandle> {
    const { image, opts } = this.config!;
    const { user, chown } = serviceUser();
    const dataDir = join(this.ctx.workDir, 'data', plan.name);
    mkdirSync(dataDir, { recursive: true });
    if (chown) chownSync(dataDir, RBEE_UID, RBEE_UID);
    // The service's data: this machine's dir, bind-mounted (host shortcuts), or a volume on the engine.
    const dataSource = hostShortcuts() ? dataDir : await this.dataVolume(plan.name);
    const mem = opts.memoryLimits?.[plan.name];
    const base = this.hardened(plan.name, user, mem);
    const create = (env: Record<string, string>) =>
      this.d.createContainer({
        ...base,
        Cmd: opts.command?.(plan) ?? ['node', `${IMAGE_BUNDLE_DIR}/${bundleName(plan.kind)}`, ...(plan.args ?? [])],
        Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
        HostConfig: { ...base.HostConfig, Binds: [`${dataSource}:${DATA_DIR}`, ...extraBinds] },
      });
    const container = await create(plan.env);
    const logFile = join(this.ctx.workDir, 'logs', `${plan.name}.log`);
    const handle = new DockerServiceHandle(
      this.d,
      container,
      plan,
      port,
      this.networkName,
      logFile,
      dataDir,
      this.ctx.healthTimeoutMs,
      mem,
    );
    handle.dataSource = dataSource;
    let env = plan.env;
    handle.recreate = async (changes) => {
      env = { ...env, ...changes };
      const old = handle.container;
      await endOnNetwork(this.networkName, () => old.remove({ force: true }));
      return create(env);
    };
    this.services.set(plan.name, handle);
    return handle;
  }

  /** A volume for one service's data, labelled like the stack (teardown and the sweep remove it). */
  private async dataVolume(name: string): Promise<string> {
    const volume = `${this.networkName}-${safeName(name)}-data`;
    await this.d.createVolume({ Name: volume, Labels: this.stackLabels() });
    return volume;
  }

  /**
   * A worker outside any hive, in its own container on the stack network (alias = worker id), calling
   * back `hive`. The hive's data dir is mounted read-only at /hive-data so the worker can load the model
   * the hive downloaded.
   */
  async startExternalWorker(o: ExternalWorkerStart): Promise<ServiceHandle> {
    if (!this.config) throw new Error(`stack ${this.id} was not created`);
    if (this.stopping) throw new Error(`stack ${this.id} is stopped`);
    if (this.services.has(o.workerId))
      throw new Error(`a service named ${o.workerId} already exists in stack ${this.id}`);
    const hive = this.service(o.hive);
    const { spec, secrets, addressing } = this.config;
    const port = PORTS.worker;
    const plan = planExternalWorker(spec, secrets, addressing, {
      workerId: o.workerId,
      hive: o.hive,
      modelRef: o.modelRef,
      modelPath: posix.join('/hive-data', posix.relative(DATA_DIR, o.hiveModelPath)),
      port,
      token: o.token,
    });
    const handle = await this.createService(plan, port, [`${hive.dataSource}:/hive-data:ro`]);
    await handle.startAndWait();
    return handle;
  }

  async startAll(): Promise<void> {
    // In parallel: hives retry their heartbeat until the queen answers, so order does not matter.
    const results = await Promise.allSettled([...this.services.values()].map((s) => s.startAndWait()));
    const failures = results.flatMap((r) =>
      r.status === 'rejected' ? [r.reason instanceof Error ? r.reason.message : String(r.reason)] : [],
    );
    if (failures.length) throw new Error(`docker stack ${this.id} did not start: ${failures.join(' || ')}`);
  }

  /** The container of a service, or of a mock worker by its id (for fault helpers). */
  service(name: string): DockerServiceHandle {
    const s = this.services.get(name) ?? this.workerContainer(name);
    if (!s)
      throw new Error(`no service "${name}" in stack ${this.id}; it has: ${[...this.services.keys()].join(', ')}`);
    return s;
  }

  /** The first OOM kill the engine reports for `service` (or a worker container of that hive) since `since`. */
  waitForOom(service: string, timeoutMs: number, since = 0) {
    if (!this.oom) return Promise.resolve(undefined);
    return this.oom.waitFor(service, timeoutMs, since);
  }

  /**
   * A URL as the services advertise it (`http://hive-a:8100`) rewritten to one the harness can reach
   * (`http://172.18.0.3:8100`): service names resolve only inside the stack's network.
   */
  harnessUrl(url: string): string {
    return url.replace(/^([a-z]+:\/\/)([^/:?#]+)/i, (whole, scheme: string, host: string) => {
      const ip = (this.services.get(host) ?? this.workerContainer(host))?.ip;
      return ip ? scheme + ip : whole;
    });
  }

  stop(): Promise<void> {
    this.stopping ??= this.teardown();
    return this.stopping;
  }

  private async teardown(): Promise<void> {
    const errors: string[] = [];
    // Reconcilers first, so none starts a worker while its hive goes away.
    await Promise.all([...this.reconcilers.values()].map((w) => w.stop()));
    await Promise.all(
      [...this.services.values()].map((s) =>
        s.remove().catch((e: unknown) => errors.push(`${s.name}: ${engineMessage(e)}`)),
      ),
    );
    // Whatever else carries this stack's label (helpers such as link proxies, or a container whose
    // creation raced with a failure) goes too.
    try {
      const rest = await this.d.listContainers({ all: true, filters: { label: [`${LABEL.stack}=${this.id}`] } });
      await Promise.all(
        rest.map(async (c) => {
          const ct = this.d.getContainer(c.Id);
          await endOnNetwork(this.networkName, async () => {
            if (c.State === 'paused') await ct.unpause().catch(() => {});
            await ct.remove({ force: true }).catch((e: unknown) => {
              if (!isNotFound(e)) errors.push(`container ${c.Names[0]}: ${engineMessage(e)}`);
            });
          });
        }),
      );
    } catch (e) {
      errors.push(`listing containers: ${engineMessage(e)}`);
    }
    try {
      const volumes = (await this.d.listVolumes({ filters: { label: [`${LABEL.stack}=${this.id}`] } })).Volumes ?? [];
      await Promise.all(
        volumes.map((v) =>
          this.d
            .getVolume(v.Name)
            .remove()
            .catch((e: unknown) => {
              if (!isNotFound(e)) errors.push(`volume ${v.Name}: ${engineMessage(e)}`);
            }),
        ),
      );
    } catch (e) {
      errors.push(`listing volumes: ${engineMessage(e)}`);
    }
    this.oom?.close();
    try {
      // By name, not by the handle: a create that failed on our side may still have made it.
      await this.d.getNetwork(this.networkName).remove();
    } catch (e) {
      if (!isNotFound(e)) errors.push(`network ${this.networkName}: ${engineMessage(e)}`);
    }
    try {
      // (--keep never calls stop: the kept stack and its files go with the next run's sweep or --down.)
      rmSync(this.ctx.workDir, { recursive: true, force: true });
    } catch (e) {
      errors.push(`work dir ${this.ctx.workDir}: ${String(e)}`);
    }
    if (errors.length) throw new Error(`teardown of docker stack ${this.id} left problems: ${errors.join('; ')}`);
  }
}
