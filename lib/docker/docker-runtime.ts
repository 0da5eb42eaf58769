// The docker runtime: one internal network and one container per service for every stack, through
// dockerode. Containers are unprivileged (uid 10001, no capabilities, no-new-privileges, read-only root),
// reach each other by service name on the stack's network, and have no route out. The harness reaches
// each service at its container IP on that network (the host is the network's gateway).

import { chownSync, createWriteStream, mkdirSync, rmSync, type WriteStream } from 'node:fs';
import { join, posix } from 'node:path';
import { constants as osConstants } from 'node:os';
import type Docker from 'dockerode';
import type {
  ExitStatus,
  RunningStack,
  Runtime,
  ServiceHandle,
  ServiceInstance,
  Signal,
  StartContext,
} from '../stack/runtime.ts';
import type { StackSecrets } from '../stack/secrets.ts';
import {
  planExternalWorker,
  planServices,
  type Addressing,
  type ServiceKind,
  type ServicePlan,
} from '../stack/services.ts';
import type { StackSpec } from '../stack/spec.ts';
import { attachOutput, execIn, execOk } from './container-io.ts';
import { waitUntilHealthy } from '../stack/health.ts';
import { withDeadline } from '../observe/eventually.ts';
import { dockerNetworkFaults } from './network-faults.ts';
import { docker, engineMessage, isNotFound, preflight } from './engine.ts';
import { IMAGE_BUNDLE_DIR, ensureAppImage } from './images.ts';
import { bundleName } from '../stack/bundles.ts';
import { LABEL, runnerLabels, safeName } from './labels.ts';
import { OomWatch } from './oom.ts';
import { RBEE_UID } from './rootfs.ts';
import { sweep } from './sweep.ts';

/** Ports inside the containers; every service has its own network namespace, so they never clash. */
const PORTS: Record<ServiceKind, number> = { hub: 8000, queen: 8080, hive: 9200, worker: 8100 };
const WORKER_PORTS = '8100-8199';
const DATA_DIR = '/data';
const STOP_TIMEOUT_S = 2;

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
}

/** Per-stack extras the docker runtime understands on top of StartContext. */
export interface DockerStartContext extends StartContext {
  /** Memory limit in bytes per service (HostConfig.Memory = MemorySwap, so exceeding it is an OOM kill). */
  memoryLimits?: Record<string, number>;
}

/**
 * Why the docker runtime cannot be used right now (one line), or undefined when it can. A remote engine
 * answers but is refused: the harness reaches services at their container IPs and reads their data dirs
 * through bind mounts, which needs the engine on this machine. RBEE_DOCKER_REMOTE_OK=1 accepts one anyway
 * (when this machine has a route to the engine's container networks and shares the work dir path with it).
 */
export async function dockerUnavailable(): Promise<string | undefined> {
  const p = await preflight();
  if (!p.ok) return p.reason;
  if (!p.info.local && process.env.RBEE_DOCKER_REMOTE_OK !== '1') {
    return `the engine at ${p.info.endpoint} is remote, and the docker runtime needs container IPs and bind mounts of this machine (set RBEE_DOCKER_REMOTE_OK=1 if both work here)`;
  }
  return undefined;
}

export class DockerRuntime implements Runtime {
  readonly name = 'docker' as const;
  readonly workersOutliveHive = false;
  private readonly d: Docker;

  constructor(private readonly opts: DockerRuntimeOptions = {}) {
    this.d = opts.docker ?? docker();
  }

  async start(spec: StackSpec, secrets: StackSecrets, ctx: DockerStartContext): Promise<DockerRunningStack> {
    const image = this.opts.image ?? (await ensureAppImage({ docker: this.d })).ref;
    const stack = new DockerRunningStack(this.d, ctx);
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

export class DockerRunningStack implements RunningStack {
  readonly runtime = 'docker' as const;
  readonly workersOutliveHive = false;
  readonly id: string;
  readonly services = new Map<string, DockerServiceHandle>();
  readonly networkName: string;
  private oom: OomWatch | undefined;
  private stopping: Promise<void> | undefined;
  private config:
    | { spec: StackSpec; secrets: StackSecrets; image: string; opts: DockerRuntimeOptions; addressing: Addressing }
    | undefined;

  /** Partitions, link shaping, in-container calls and OOM confirmation (needs a local engine). */
  readonly network = dockerNetworkFaults(this);

  constructor(
    private readonly d: Docker,
    readonly ctx: StartContext,
  ) {
    this.id = `${ctx.runId}/${ctx.stackId}`;
    this.networkName = `rbee-${safeName(ctx.runId)}-${safeName(ctx.stackId)}`;
  }

  get dockerClient(): Docker {
    return this.d;
  }

  private labels(): Record<string, string> {
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
      // Workers run inside their hive's container (or their own), reached through its network alias.
      workerHost: (name) => name,
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
      Labels: this.labels(),
    });
    this.oom = await OomWatch.start(this.d, this.id);
    for (const plan of plans) await this.createService(plan, port(plan.name));
  }

  /** Container settings every container of the stack gets: unprivileged, labelled, on the stack network. */
  private hardened(
    name: string,
    user: string,
    memory?: number,
  ): Docker.ContainerCreateOptions & { HostConfig: Docker.HostConfig } {
    const opts = this.config!.opts;
    return {
      name: `${this.networkName}-${safeName(name)}`,
      Image: this.config!.image,
      User: user,
      WorkingDir: '/app',
      Labels: { ...this.labels(), [LABEL.service]: name },
      HostConfig: {
        NetworkMode: this.networkName,
        // An init as pid 1 forwards signals to the service and reaps orphans (e.g. a killed worker's children).
        Init: true,
        CapDrop: ['ALL'],
        SecurityOpt: ['no-new-privileges'],
        ReadonlyRootfs: opts.readOnlyRootfs ?? true,
        Tmpfs: { '/tmp': 'rw,noexec,nosuid,nodev,size=256m,mode=1777' },
        RestartPolicy: { Name: 'no' },
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
    const mem = opts.memoryLimits?.[plan.name];
    const base = this.hardened(plan.name, user, mem);
    const container = await this.d.createContainer({
      ...base,
      Cmd: opts.command?.(plan) ?? ['node', `${IMAGE_BUNDLE_DIR}/${bundleName(plan.kind)}`, ...(plan.args ?? [])],
      Env: Object.entries(plan.env).map(([k, v]) => `${k}=${v}`),
      HostConfig: { ...base.HostConfig, Binds: [`${dataDir}:${DATA_DIR}`, ...extraBinds] },
    });
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
    this.services.set(plan.name, handle);
    return handle;
  }

  /**
   * A worker outside any hive, in its own container on the stack network (alias = worker id), calling
   * back `hive`. The hive's data dir is mounted read-only at /hive-data so the worker can load the model
   * the hive downloaded.
   */
  async startExternalWorker(o: {
    workerId: string;
    hive: string;
    modelRef: string;
    hiveModelPath: string;
  }): Promise<ServiceHandle> {
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
    });
    const handle = await this.createService(plan, port, [`${hive.dataDir}:/hive-data:ro`]);
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

  /** The container of a service (for fault helpers). */
  service(name: string): DockerServiceHandle {
    const s = this.services.get(name);
    if (!s)
      throw new Error(`no service "${name}" in stack ${this.id}; it has: ${[...this.services.keys()].join(', ')}`);
    return s;
  }

  /** OOM kills the engine reported for `service` since `since` (ms epoch). */
  oomEvents(service: string, since = 0) {
    return this.oom?.forService(service, since) ?? [];
  }

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
      const ip = this.services.get(host)?.ip;
      return ip ? scheme + ip : whole;
    });
  }

  stop(): Promise<void> {
    this.stopping ??= this.teardown();
    return this.stopping;
  }

  private async teardown(): Promise<void> {
    const errors: string[] = [];
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
          if (c.State === 'paused') await ct.unpause().catch(() => {});
          await ct.remove({ force: true }).catch((e: unknown) => {
            if (!isNotFound(e)) errors.push(`container ${c.Names[0]}: ${engineMessage(e)}`);
          });
        }),
      );
    } catch (e) {
      errors.push(`listing containers: ${engineMessage(e)}`);
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

/** 137 → SIGKILL etc.: the engine only has the exit code; 128+n is how a signal death is reported. */
function signalOfExitCode(code: number): string | null {
  if (code <= 128) return null;
  const n = code - 128;
  const name = Object.entries(osConstants.signals).find(([, v]) => v === n)?.[0];
  return name ?? null;
}

/** Signals a process inside a container by its pid there; `node -e` because the image has no shell. */
function killScript(pid: number, sig: Signal): string {
  return `process.kill(${pid}, ${JSON.stringify(sig)})`;
}

/** Exit 0 if the pid is alive, 1 if it is gone or a zombie (a dead child its parent has not reaped yet). */
function aliveScript(pid: number): string {
  return `try { const s = require('fs').readFileSync('/proc/${pid}/stat', 'utf8'); const st = s.slice(s.lastIndexOf(')') + 2)[0]; process.exit(st === 'Z' || st === 'X' ? 1 : 0) } catch { process.exit(1) }`;
}

/** `ps` for an image without ps: every process of the container (except this script) from /proc. */
const PS_SCRIPT = `const fs = require('fs');
for (const d of fs.readdirSync('/proc').filter((x) => /^\\d+$/.test(x) && x !== String(process.pid))) {
  try {
    const stat = fs.readFileSync('/proc/' + d + '/stat', 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cmd = fs.readFileSync('/proc/' + d + '/cmdline', 'utf8').split('\\0').join(' ').trim();
    console.log(d, f[0], Number(f[21]) * 4, cmd.slice(0, 120));
  } catch {}
}`;

export class DockerServiceHandle implements ServiceHandle {
  readonly name: string;
  readonly kind: ServiceKind;
  /** Container IP on the stack network; refreshed on every start (a restart may move it). */
  ip: string | undefined;
  private log: WriteStream | undefined;
  private outputDone: Promise<void> = Promise.resolve();
  /** Settles when the current run of the container ends (undefined while not started). */
  private exited: Promise<void> | undefined;
  private isRunning = false;
  private removed = false;

  constructor(
    private readonly d: Docker,
    readonly container: Docker.Container,
    readonly plan: ServicePlan,
    private readonly port: number,
    private readonly networkName: string,
    readonly logFile: string,
    readonly dataDir: string,
    private readonly healthTimeoutMs: number,
    readonly memoryLimit: number | undefined,
  ) {
    this.name = plan.name;
    this.kind = plan.kind;
  }

  get url(): string {
    return `http://${this.ip ?? '0.0.0.0'}:${this.port}`;
  }

  /** How the other services of the stack reach this one (its alias on the stack network). */
  get internalUrl(): string {
    return `http://${this.name}:${this.port}`;
  }

  /** TCP ports that accept connections in this container (a hive's workers listen in it too). */
  get listenPorts(): string[] {
    return this.kind === 'hive' ? [String(this.port), WORKER_PORTS.replace('-', ':')] : [String(this.port)];
  }

  get containerId(): string {
    return this.container.id;
  }

  running(): boolean {
    return this.isRunning;
  }

  /** Start the container (output attached first) and wait until its health route answers 2xx. */
  async startAndWait(): Promise<void> {
    if (this.removed) throw new Error(`${this.name}: the stack has been stopped`);
    this.log ??= createWriteStream(this.logFile, { flags: 'a' });
    this.outputDone = (await attachOutput(this.d, this.container, this.log)).done;
    try {
      await this.container.start();
    } catch (e) {
      throw new Error(`${this.name} did not start: ${engineMessage(e)}`);
    }
    this.isRunning = true;
    // 'not-running' after start: returns at once if it already died, else when it does.
    this.exited = this.container
      .wait({ condition: 'not-running' })
      .then(
        () => undefined,
        () => undefined,
      )
      .finally(() => {
        this.isRunning = false;
      });
    const info = await this.container.inspect();
    this.ip = info.NetworkSettings.Networks[this.networkName]?.IPAddress || undefined;
    await this.waitHealthy();
  }

  private async waitHealthy(): Promise<void> {
    let exited = false;
    void this.exited?.then(() => (exited = true));
    await waitUntilHealthy({
      name: this.name,
      url: this.url,
      path: this.plan.healthPath,
      withinMs: this.healthTimeoutMs,
      logFile: this.logFile,
      exited: async () => {
        if (!exited) return undefined;
        await this.flushOutput();
        const st = (await this.container.inspect()).State;
        return `exit ${st.ExitCode}${st.OOMKilled ? ', OOM-killed' : ''}`;
      },
    });
  }

  /** Wait (bounded) until the container's output has reached the log file. */
  private async flushOutput(): Promise<void> {
    await withDeadline(this.outputDone, 2000, () => 'output not flushed').catch(() => undefined);
  }

  async signal(sig: Signal): Promise<void> {
    try {
      // SIGSTOP would stop only the init; the freezer stops every process of the container at once.
      if (sig === 'SIGSTOP') await this.container.pause();
      else if (sig === 'SIGCONT') await this.container.unpause();
      else await this.container.kill({ signal: sig });
    } catch (e) {
      throw new Error(`${sig} to ${this.name}: ${engineMessage(e)}`);
    }
  }

  async signalChild(pid: number, sig: Signal): Promise<void> {
    await execOk(this.d, this.container, `${sig} to pid ${pid} in ${this.name}`, ['node', '-e', killScript(pid, sig)]);
  }

  async childAlive(pid: number): Promise<boolean> {
    if (!this.isRunning) return false; // the container's processes die with it
    const st = (await this.container.inspect()).State;
    if (st.Paused) throw new Error(`cannot look into ${this.name}: it is paused`);
    const r = await execIn(this.d, this.container, ['node', '-e', aliveScript(pid)]);
    return r.code === 0;
  }

  async waitExit(timeoutMs: number): Promise<ExitStatus | undefined> {
    if (this.exited) {
      const done = await withDeadline(
        this.exited.then(() => true),
        timeoutMs,
        () => 'still running',
      ).catch(() => false);
      if (!done) return undefined;
    }
    const st = (await this.container.inspect()).State;
    if (st.Running) return undefined;
    const signal = signalOfExitCode(st.ExitCode);
    return { code: signal ? null : st.ExitCode, signal, oomKilled: st.OOMKilled };
  }

  async restart(): Promise<void> {
    const st = (await this.container.inspect()).State;
    if (st.Paused) await this.container.unpause();
    // Same semantics in every runtime: a crash-restart. (A graceful stop would run the service's own
    // shutdown, e.g. the queen's cascade to its hives; signal SIGTERM first for that.)
    if (st.Running) await this.container.kill({ signal: 'SIGKILL' });
    await this.exited;
    await this.flushOutput();
    await this.startAndWait();
  }

  async instance(): Promise<ServiceInstance> {
    const s = (await this.container.inspect()).State;
    return { id: `container ${this.container.id.slice(0, 12)} pid ${s.Pid}`, startedAt: Date.parse(s.StartedAt) };
  }

  async describe(): Promise<string> {
    let info: Docker.ContainerInspectInfo;
    try {
      info = await this.container.inspect();
    } catch (e) {
      return `${this.name}: container ${this.container.id.slice(0, 12)} is gone (${engineMessage(e)})`;
    }
    const s = info.State;
    const parts = [
      `${this.name}: container ${info.Name.replace(/^\//, '')} (${info.Id.slice(0, 12)})`,
      `status=${s.Status} exit=${s.ExitCode} oom_killed=${s.OOMKilled} paused=${s.Paused}`,
      `pid=${s.Pid} ip=${this.ip ?? '-'} started=${s.StartedAt} finished=${s.FinishedAt}`,
    ];
    if (this.memoryLimit) parts.push(`memory_limit=${this.memoryLimit}`);
    if (s.Running && !s.Paused) {
      // Pids as the container sees them — the ones a hive reports for its workers.
      const r = await execIn(this.d, this.container, ['node', '-e', PS_SCRIPT], 5000).catch(() => undefined);
      if (r?.code === 0) parts.push(`processes (pid state rss_kb cmd): ${r.stdout.trim().split('\n').join(' | ')}`);
    }
    return parts.join('; ');
  }

  /** Unpause, stop (short timeout), remove; idempotent and fine on a never-started container. */
  async remove(): Promise<void> {
    if (this.removed) return;
    this.removed = true;
    try {
      const st = (await this.container.inspect()).State;
      if (st.Paused) await this.container.unpause();
      if (st.Running) await this.container.stop({ t: STOP_TIMEOUT_S }).catch(() => {});
      await this.flushOutput();
      await this.container.remove({ force: true, v: true });
    } catch (e) {
      if (!isNotFound(e)) throw e;
    } finally {
      await new Promise<void>((r) => (this.log ? this.log.end(r) : r()));
    }
  }
}
