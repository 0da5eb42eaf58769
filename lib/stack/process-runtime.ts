// The `process` runtime: every service is a child process of the runner on loopback, started in its
// own process group (so the workers a hive spawns can be killed with it), labelled through its
// environment (see reaper.ts), with stdout and stderr going straight to a per-service log file.
// Works with no daemon at all; it is the embedded default.

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventually } from '../observe/eventually.ts';
import { freePort, freePortBlock, releasePorts } from './ports.ts';
import { RUN_ENV, STACK_ENV, killAll, labelledProcesses, sweepProcesses } from './reaper.ts';
import type { ExitStatus, RunningStack, Runtime, ServiceHandle, Signal, StartContext } from './runtime.ts';
import { planExternalWorker, planServices, type Addressing, type ServicePlan } from './services.ts';
import type { StackSpec } from './spec.ts';
import type { StackSecrets } from './secrets.ts';
import { waitUntilHealthy } from './health.ts';
import { FaultUnsupported } from '../faults/unsupported.ts';

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const WORKER_PORTS_PER_HIVE = 24;

export class ProcessRuntime implements Runtime {
  readonly name = 'process' as const;

  async start(spec: StackSpec, secrets: StackSecrets, ctx: StartContext): Promise<RunningStack> {
    if (Object.keys(spec.memoryLimits).length) {
      throw new FaultUnsupported('memory limits (and real OOM kills) need the docker runtime: the process runtime does not confine services in cgroups');
    }
    const ports = new Map<string, number>();
    const workerRanges = new Map<string, [number, number]>();
    const names = ['hub', 'queen', ...spec.hives.map((h) => h.name)];
    for (const n of names) ports.set(n, spec.fixedPorts[n] ?? (await freePort()));
    for (const h of spec.hives) workerRanges.set(h.name, await freePortBlock(WORKER_PORTS_PER_HIVE));

    const addressing: Addressing = {
      internalUrl: (n) => `http://127.0.0.1:${ports.get(n)}`,
      listenPort: (n) => ports.get(n)!,
      dataDir: (n) => path.join(ctx.workDir, 'data', n),
      bindHost: '127.0.0.1',
      workerCmd: `${process.execPath} --import tsx ${path.join(PROJECT_ROOT, 'stack/worker/main.ts')}`,
      workerHost: () => '127.0.0.1',
      workerPortRange: (h) => workerRanges.get(h)!.join('-'),
    };
    const stack = new ProcessStack(ctx, spec, secrets, addressing, () => releasePorts([...ports.values(), ...[...workerRanges.values()].flatMap(([a, b]) => range(a, b))]));
    try {
      const plans = planServices(spec, secrets, addressing);
      // The hub and the queen first: hives heartbeat to the queen and download from the hub.
      for (const plan of plans.filter((p) => p.kind !== 'hive')) await stack.launch(plan, addressing);
      await Promise.all(plans.filter((p) => p.kind === 'hive').map((p) => stack.launch(p, addressing)));
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

function range(a: number, b: number): number[] {
  return Array.from({ length: b - a + 1 }, (_, i) => a + i);
}

class ProcessStack implements RunningStack {
  readonly runtime = 'process' as const;
  readonly services = new Map<string, ProcessService>();
  private stopped = false;
  readonly networkUnsupportedReason =
    'the process runtime runs every service on one loopback interface: partitions, link shaping and kernel OOM kills need the docker runtime (--runtime docker)';
  constructor(
    private readonly ctx: StartContext,
    private readonly spec: StackSpec,
    private readonly secrets: StackSecrets,
    private readonly addressing: Addressing,
    private readonly onStopped: () => void,
  ) {}
  get id(): string {
    return this.ctx.stackId;
  }

  async launch(plan: ServicePlan, a: Addressing, url = a.internalUrl(plan.name)): Promise<ProcessService> {
    const svc = new ProcessService(plan, this.ctx, url, a.dataDir(plan.name));
    this.services.set(plan.name, svc);
    await svc.startAndWait();
    return svc;
  }

  async startExternalWorker(o: { workerId: string; hive: string; modelRef: string; hiveModelPath: string }): Promise<ServiceHandle> {
    if (this.services.has(o.workerId)) throw new Error(`a service named ${o.workerId} already exists in stack ${this.id}`);
    const port = await freePort();
    const plan = planExternalWorker(this.spec, this.secrets, this.addressing, {
      workerId: o.workerId,
      hive: o.hive,
      modelRef: o.modelRef,
      modelPath: o.hiveModelPath, // same filesystem
      port,
    });
    return this.launch(plan, this.addressing, `http://127.0.0.1:${port}`);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const s of this.services.values()) s.killGroup();
    // Workers a hive restarted may sit in other process groups: find them by label.
    const mine = () => labelledProcesses().filter((p) => p.run === this.ctx.runId && p.stack === this.ctx.stackId);
    killAll(mine().map((p) => p.pid));
    await eventually(() => {
      const left = mine();
      if (left.length) throw new Error(`still running: ${left.map((p) => `${p.pid} ${p.cmd}`).join('; ')}`);
    }, { within: 5000, what: `every process of stack ${this.id} to exit` });
    this.onStopped();
    fs.rmSync(this.ctx.workDir, { recursive: true, force: true });
  }
}

class ProcessService implements ServiceHandle {
  readonly name: string;
  readonly kind: ServicePlan['kind'];
  readonly logFile: string;
  readonly internalUrl: string;
  private child?: ChildProcess;
  private exit?: ExitStatus;
  private exitWaiters: Array<(s: ExitStatus) => void> = [];

  constructor(
    private readonly plan: ServicePlan,
    private readonly ctx: StartContext,
    readonly url: string,
    readonly dataDir: string,
  ) {
    this.internalUrl = url;
    this.name = plan.name;
    this.kind = plan.kind;
    this.logFile = path.join(ctx.workDir, 'logs', `${plan.name}.log`);
  }

  async startAndWait(): Promise<void> {
    fs.mkdirSync(path.dirname(this.logFile), { recursive: true });
    fs.mkdirSync(this.dataDir, { recursive: true });
    const fd = fs.openSync(this.logFile, 'a');
    this.exit = undefined;
    const child = spawn(process.execPath, ['--import', 'tsx', this.plan.entry, ...(this.plan.args ?? [])], {
      cwd: PROJECT_ROOT,
      // Only what the service needs: the harness's own environment may hold secrets.
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        TMPDIR: this.dataDir,
        HOME: this.dataDir,
        ...this.plan.env,
        [RUN_ENV]: this.ctx.runId,
        [STACK_ENV]: this.ctx.stackId,
      },
      stdio: ['ignore', fd, fd],
      detached: true, // own process group: teardown kills the hive and its workers together
    });
    fs.closeSync(fd);
    this.child = child;
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

  async restart(): Promise<void> {
    if (this.running()) {
      await this.signal('SIGKILL');
      await this.waitExit(5000);
    }
    await this.startAndWait();
  }

  async describe(): Promise<string> {
    const procs = labelledProcesses().filter((p) => p.stack === this.ctx.stackId);
    const main = this.exit ? `exited (code ${this.exit.code}, signal ${this.exit.signal})` : `running, pid ${this.child?.pid}`;
    const kids = procs.filter((p) => p.pid !== this.child?.pid && this.kind === 'hive' && p.cmd.includes('stack/worker/'));
    const stateOf = procs.find((p) => p.pid === this.child?.pid)?.state;
    return `${this.name}: ${main}${stateOf ? ` [state ${stateOf}]` : ''}` + (kids.length ? `; worker processes of the stack: ${kids.map((k) => `${k.pid}[${k.state}]`).join(', ')}` : '');
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
