// The `process` runtime: every service is a child process of the runner on loopback, started in its
// own process group (so the workers a hive spawns can be killed with it), labelled through its
// environment (see reaper.ts), with stdout and stderr going straight to a per-service log file.
// Works with no daemon at all; it is the embedded default.
//
// Every service-to-service address goes through a link proxy the harness owns (lib/links): a service's
// port behind 127.0.0.1:<link port>, and a hive's worker ports behind [::1]:<port> (the hive advertises
// workers at RBEE_WORKER_HOST=[::1] while they listen on 127.0.0.1 at the same port; see linkWorkerPorts).
// That is how partitions and link shaping work without Docker. The harness's own clients go direct.

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventually } from '../observe/eventually.ts';
import { freePort, freePortBlock, releasePorts } from './ports.ts';
import { RUN_ENV, STACK_ENV, killAll, labelledProcesses, sweepProcesses } from './reaper.ts';
import type {
  ExitStatus,
  ExternalWorkerStart,
  LinkFaults,
  RunningStack,
  Runtime,
  ServiceFiles,
  ServiceHandle,
  ServiceInstance,
  Signal,
  StartContext,
} from './runtime.ts';
import { planExternalWorker, planServices, type Addressing, type ServicePlan } from './services.ts';
import type { StackSpec } from './spec.ts';
import type { StackSecrets } from './secrets.ts';
import { waitUntilHealthy } from './health.ts';
import { FaultUnsupported } from '../faults/unsupported.ts';
import { bundleName, ensureBundles, type Bundles } from './bundles.ts';
import { serviceCommand } from './build-commands.ts';
import { diskFiles } from './files.ts';
import { StackLinks, placeLabel } from '../links/stack-links.ts';
import { processesWithEnv } from '../links/owner.ts';

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const WORKER_PORTS_PER_HIVE = 24;

export interface ProcessRuntimeOptions {
  /**
   * Put the harness's link proxies between services (default: yes, unless RBEE_KEEP=1: the links live in
   * the runner, so a stack kept after the run would lose them; kept stacks are wired directly).
   */
  links?: boolean;
}

export class ProcessRuntime implements Runtime {
  readonly name = 'process' as const;
  readonly workersOutliveHive = true;
  private readonly links: boolean;

  constructor(o: ProcessRuntimeOptions = {}) {
    this.links = o.links ?? process.env.RBEE_KEEP !== '1';
  }

  async start(spec: StackSpec, secrets: StackSecrets, ctx: StartContext): Promise<RunningStack> {
    if (Object.keys(spec.memoryLimits).length) {
      throw new FaultUnsupported(
        'memory limits (and real OOM kills) need the docker runtime: the process runtime does not confine services in cgroups',
      );
    }
    const bundles = await ensureBundles();
    const ports = new Map<string, number>();
    const workerRanges = new Map<string, [number, number]>();
    const names = ['hub', 'queen', ...spec.hives.map((h) => h.name)];
    for (const n of names) ports.set(n, spec.fixedPorts[n] ?? (await freePort()));
    for (const h of spec.hives) workerRanges.set(h.name, await freePortBlock(WORKER_PORTS_PER_HIVE));

    let links: StackLinks | undefined;
    const addressing: Addressing = {
      internalUrl: (n) => links?.url(n) ?? `http://127.0.0.1:${ports.get(n)}`,
      listenPort: (n) => ports.get(n)!,
      dataDir: (n) => path.join(ctx.workDir, 'data', n),
      bindHost: '127.0.0.1',
      workerCmd: serviceCommand('worker', bundles.path('worker')).join(' '),
      workerHost: () => (links ? LINKED_WORKER_HOST : '127.0.0.1'),
      workerPortRange: (h) => workerRanges.get(h)!.join('-'),
    };
    const stack = new ProcessStack(ctx, spec, secrets, addressing, bundles, workerRanges, () =>
      releasePorts([...ports.values(), ...[...workerRanges.values()].flatMap(([a, b]) => range(a, b))]),
    );
    try {
      if (this.links) {
        links = stack.links = new StackLinks({ stackId: ctx.stackId, processes: (fresh) => stack.processes(fresh) });
        await Promise.all(
          names.map((n) =>
            links!.add({ service: n }, { host: '127.0.0.1', port: 0 }, { host: '127.0.0.1', port: ports.get(n)! }),
          ),
        );
        await Promise.all(spec.hives.map((h) => linkWorkerPorts(links!, h.name, workerRanges.get(h.name)!)));
      }
      // All at once: a hive's heartbeats to a queen still starting are retried at the next interval, and
      // it downloads from the hub only when asked to spawn a worker, after start-up.
      await Promise.all(planServices(spec, secrets, addressing).map((p) => stack.launch(p, addressing)));
      return stack;
    } catch (e) {
      await stack.stop();
      throw e;
    }
  }

  async sweep(opts: { all: boolean }): Promise<string[]> {
    return sweepProcesses(opts);
  }
}

/**
 * Where a linked stack's workers are advertised. A worker listens on 127.0.0.1:<port> (RBEE_BIND_HOST, as
 * every service) and the hive advertises http://[::1]:<port>, where the link proxy listens. Same port, other
 * address family: a listener on [::1] does not collide with the hive's port probes (it binds the port on
 * RBEE_WORKER_HOST, which "[::1]" is not as a host name, and on 0.0.0.0, which an IPv6-only socket on ::1
 * does not conflict with), so the hive allocates ports as before and every call to a worker crosses a link.
 */
const LINKED_WORKER_HOST = '[::1]';

/** A link on [::1]:p → 127.0.0.1:p for every port p of a hive's worker range. */
async function linkWorkerPorts(links: StackLinks, hive: string, [lo, hi]: [number, number]): Promise<void> {
  await Promise.all(
    range(lo, hi).map((p) =>
      links.add({ service: hive, workerPort: p }, { host: '::1', port: p }, { host: '127.0.0.1', port: p }),
    ),
  );
}

function range(a: number, b: number): number[] {
  return Array.from({ length: b - a + 1 }, (_, i) => a + i);
}

class ProcessStack implements RunningStack {
  readonly runtime = 'process' as const;
  readonly workersOutliveHive = true;
  readonly services = new Map<string, ProcessService>();
  private stopped = false;
  /** The harness's link proxies between the services (absent when the runtime runs without links). */
  links: StackLinks | undefined;
  /** Pids of workers the hives started, with their place (hive@port); refreshed when a lookup misses. */
  private workerPids = new Map<number, string>();
  private rescan: Promise<void> | undefined;
  constructor(
    private readonly ctx: StartContext,
    private readonly spec: StackSpec,
    private readonly secrets: StackSecrets,
    private readonly addressing: Addressing,
    private readonly bundles: Bundles,
    private readonly workerRanges: ReadonlyMap<string, [number, number]>,
    private readonly onStopped: () => void,
  ) {}
  get id(): string {
    return this.ctx.stackId;
  }

  get linkFaults(): LinkFaults | undefined {
    return this.links?.faults();
  }

  /** No memory control: processes are not confined in cgroups. */
  get unsupported(): { linkFaults?: string; memory: string } {
    return {
      memory:
        'memory limits and kernel OOM kills need the docker runtime (--runtime docker): the process runtime does not confine services in cgroups',
      ...(this.links
        ? {}
        : {
            linkFaults:
              'this process stack runs without link proxies (with --keep the services are wired directly, since the links live in the runner): partitions and link shaping need the links or the docker runtime',
          }),
    };
  }

  harnessUrl(url: string): string | undefined {
    return this.links?.direct(url);
  }

  /** The stack's processes by pid, with the place each one is (for the links' caller lookup). */
  async processes(fresh: boolean): Promise<Map<number, string>> {
    if (fresh) await (this.rescan ??= this.findWorkers().finally(() => (this.rescan = undefined)));
    const out = new Map<number, string>();
    for (const s of this.services.values()) if (s.pid !== undefined && s.running()) out.set(s.pid, s.place);
    for (const [pid, label] of this.workerPids) if (!out.has(pid)) out.set(pid, label);
    return out;
  }

  /** Workers carry the stack's labels (inherited from their hive) and their port on the command line. */
  private async findWorkers(): Promise<void> {
    const found = new Map<number, string>();
    for (const p of await processesWithEnv({ [RUN_ENV]: this.ctx.runId, [STACK_ENV]: this.ctx.stackId })) {
      const i = p.argv.indexOf('--port');
      const port = i >= 0 ? Number(p.argv[i + 1]) : NaN;
      const hive = [...this.workerRanges].find(([, [lo, hi]]) => port >= lo && port <= hi)?.[0];
      if (hive) found.set(p.pid, placeLabel({ service: hive, workerPort: port }));
    }
    this.workerPids = found;
  }

  async launch(
    plan: ServicePlan,
    a: Addressing,
    direct = `http://127.0.0.1:${a.listenPort(plan.name)}`,
    place = plan.name,
  ): Promise<ProcessService> {
    const linksInto = () => this.links?.describeInto(plan.name) ?? [];
    const svc = new ProcessService(
      plan,
      this.ctx,
      direct,
      a.internalUrl(plan.name),
      place,
      a.dataDir(plan.name),
      serviceCommand(plan.kind, this.bundles.path(plan.kind)),
      linksInto,
    );
    this.services.set(plan.name, svc);
    await svc.startAndWait();
    return svc;
  }

  async startExternalWorker(o: ExternalWorkerStart): Promise<ServiceHandle> {
    if (this.services.has(o.workerId))
      throw new Error(`a service named ${o.workerId} already exists in stack ${this.id}`);
    const port = await freePort();
    // Its own link, on [::1] like the hives' worker ports: the hive calls it at the URL it registers with.
    await this.links?.add(
      { service: o.workerId, workerPort: port },
      { host: '::1', port },
      { host: '127.0.0.1', port },
      { main: true },
    );
    const addressing: Addressing = {
      ...this.addressing,
      internalUrl: (n) =>
        n === o.workerId ? (this.links?.url(n) ?? `http://127.0.0.1:${port}`) : this.addressing.internalUrl(n),
    };
    const plan = planExternalWorker(this.spec, this.secrets, addressing, {
      workerId: o.workerId,
      hive: o.hive,
      modelRef: o.modelRef,
      modelPath: o.hiveModelPath, // same filesystem
      port,
      token: o.token,
    });
    return this.launch(
      plan,
      addressing,
      `http://127.0.0.1:${port}`,
      this.links ? placeLabel({ service: o.workerId, workerPort: port }) : o.workerId,
    );
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const s of this.services.values()) s.killGroup();
    // Workers a hive restarted may sit in other process groups: find them by label.
    const mine = () => labelledProcesses().filter((p) => p.run === this.ctx.runId && p.stack === this.ctx.stackId);
    killAll(mine().map((p) => p.pid));
    try {
      await eventually(
        () => {
          const left = mine();
          if (left.length) throw new Error(`still running: ${left.map((p) => `${p.pid} ${p.cmd}`).join('; ')}`);
        },
        { within: 5000, what: `every process of stack ${this.id} to exit` },
      );
    } finally {
      // After the processes (nothing is left to call through them), and even if one would not die: the
      // links live in the runner. close() checks that none still listens.
      await this.links?.close();
    }
    this.onStopped();
    fs.rmSync(this.ctx.workDir, { recursive: true, force: true });
  }
}

class ProcessService implements ServiceHandle {
  readonly name: string;
  readonly kind: ServicePlan['kind'];
  readonly logFile: string;
  private child?: ChildProcess;
  private startedAt = 0;
  private exit?: ExitStatus;
  private exitWaiters: Array<(s: ExitStatus) => void> = [];

  constructor(
    private readonly plan: ServicePlan,
    private readonly ctx: StartContext,
    readonly url: string,
    readonly internalUrl: string,
    /** Who its connections are, for the links (its name; an external worker's is name@port). */
    readonly place: string,
    readonly dataDir: string,
    /** Executable and its first arguments (build-commands.ts); the plan's arguments follow. */
    private readonly command: string[],
    private readonly linksInto: () => string[],
  ) {
    this.name = plan.name;
    this.kind = plan.kind;
    this.logFile = path.join(ctx.workDir, 'logs', `${plan.name}.log`);
    this.files = diskFiles(dataDir);
  }

  readonly files: ServiceFiles;
  /** Variables a restart changed (restart(env)); they hold for every later start. */
  private envChanges: Record<string, string> = {};

  async startAndWait(): Promise<void> {
    fs.mkdirSync(path.dirname(this.logFile), { recursive: true });
    fs.mkdirSync(this.dataDir, { recursive: true });
    const fd = fs.openSync(this.logFile, 'a');
    this.exit = undefined;
    const [exe, ...first] = this.command;
    const child = spawn(exe!, [...first, ...(this.plan.args ?? [])], {
      cwd: PROJECT_ROOT,
      // Only what the service needs: the harness's own environment may hold secrets.
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        TMPDIR: this.dataDir,
        HOME: this.dataDir,
        ...this.plan.env,
        ...this.envChanges,
        [RUN_ENV]: this.ctx.runId,
        [STACK_ENV]: this.ctx.stackId,
      },
      stdio: ['ignore', fd, fd],
      detached: true, // own process group: teardown kills the hive and its workers together
    });
    fs.closeSync(fd);
    this.child = child;
    this.startedAt = Date.now();
    child.on('exit', (code, signal) => {
      if (this.child !== child) return;
      this.exit = { code, signal };
      for (const w of this.exitWaiters.splice(0)) w(this.exit);
    });
    child.unref();
    await waitUntilHealthy({
      name: this.name,
      url: this.url,
      path: this.plan.healthPath,
      withinMs: this.ctx.healthTimeoutMs,
      logFile: this.logFile,
      exited: () => (this.exit ? `code ${this.exit.code}, signal ${this.exit.signal}` : undefined),
    });
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  running(): boolean {
    return !!this.child && !this.exit;
  }

  async signal(sig: Signal): Promise<void> {
    if (!this.child?.pid || this.exit) throw new Error(`${this.name} is not running`);
    process.kill(this.child.pid, sig);
  }

  async signalChild(pid: number, sig: Signal): Promise<void> {
    const p = labelledProcesses().find((x) => x.pid === pid && x.stack === this.ctx.stackId);
    if (!p) throw new Error(`pid ${pid} is not a live process of stack ${this.ctx.stackId}`);
    process.kill(pid, sig);
  }

  async childAlive(pid: number): Promise<boolean> {
    return labelledProcesses().some((x) => x.pid === pid && x.stack === this.ctx.stackId);
  }

  waitExit(timeoutMs: number): Promise<ExitStatus | undefined> {
    if (this.exit) return Promise.resolve(this.exit);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(undefined), timeoutMs);
      this.exitWaiters.push((s) => {
        clearTimeout(t);
        resolve(s);
      });
    });
  }

  async restart(env?: Record<string, string>): Promise<void> {
    if (this.running()) {
      await this.signal('SIGKILL');
      await this.waitExit(5000);
    }
    if (env) this.envChanges = { ...this.envChanges, ...env };
    await this.startAndWait();
  }

  async instance(): Promise<ServiceInstance> {
    return { id: `pid ${this.child?.pid ?? 'none'}`, startedAt: this.startedAt };
  }

  async describe(): Promise<string> {
    const procs = labelledProcesses().filter((p) => p.stack === this.ctx.stackId);
    const main = this.exit
      ? `exited (code ${this.exit.code}, signal ${this.exit.signal})`
      : `running, pid ${this.child?.pid}`;
    const kids = procs.filter(
      (p) => p.pid !== this.child?.pid && this.kind === 'hive' && p.cmd.includes(bundleName('worker')),
    );
    const stateOf = procs.find((p) => p.pid === this.child?.pid)?.state;
    const links = this.linksInto();
    return (
      `${this.name}: ${main}${stateOf ? ` [state ${stateOf}]` : ''}` +
      (kids.length ? `; worker processes of the stack: ${kids.map((k) => `${k.pid}[${k.state}]`).join(', ')}` : '') +
      (links.length ? `; links into it: ${links.join(' | ')}` : '')
    );
  }

  killGroup(): void {
    const pid = this.child?.pid;
    if (!pid) return;
    try {
      process.kill(-pid, 'SIGCONT');
      process.kill(-pid, 'SIGKILL');
    } catch {
      /* group already gone */
    }
  }
}
