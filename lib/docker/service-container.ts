// One service of a docker stack as a container: started with its output attached to a log file, waited on
// until healthy, signalled (SIGSTOP/SIGCONT through the engine's freezer), inspected for diagnostics and
// removed. The stack's services, its mock workers' containers and external workers are all one of these.

import { createWriteStream, type WriteStream } from 'node:fs';
import { constants as osConstants } from 'node:os';
import type Docker from 'dockerode';
import type { ExitStatus, ServiceFiles, ServiceHandle, ServiceInstance, Signal } from '../stack/runtime.ts';
import { archiveFiles } from './archive-files.ts';
import type { ServiceKind, ServicePlan } from '../stack/services.ts';
import { attachOutput, execIn, execOk } from './container-io.ts';
import { waitUntilHealthy } from '../stack/health.ts';
import { eventually, GiveUp, withDeadline } from '../observe/eventually.ts';
import { engineMessage, isNotFound } from './engine.ts';
import { endOnNetwork } from './exit-gate.ts';

/** A hive's in-container workers listen on these ports (when they run inside the hive's container). */
export const WORKER_PORTS = '8100-8199';

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
  /** A hive whose workers run inside its container (listening on WORKER_PORTS there). */
  hostsWorkers = false;
  /**
   * A new container like this one with some variables changed (set by the runtime that created it). A
   * container's environment is fixed at creation, so restart(env) replaces the container, same name and alias.
   */
  recreate?: (env: Record<string, string>) => Promise<Docker.Container>;
  /** What is mounted at its data dir: the host dir `dataDir` (host shortcuts) or a volume's name. */
  dataSource = '';
  /** Its data files through the engine (any engine; no host path involved). */
  readonly files: ServiceFiles;

  constructor(
    private readonly d: Docker,
    /** The current container; a restart that changes the environment replaces it (recreate). */
    public container: Docker.Container,
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
    this.files = archiveFiles(d, () => this.container, DATA_DIR, plan.name);
  }

  get url(): string {
    return `http://${this.ip ?? '0.0.0.0'}:${this.port}`;
  }

  /** How the other services of the stack reach this one (its alias on the stack network). */
  get internalUrl(): string {
    return `http://${this.name}:${this.port}`;
  }

  /** TCP ports that accept connections in this container (a hive's in-container workers listen in it too). */
  get listenPorts(): string[] {
    return this.hostsWorkers ? [String(this.port), WORKER_PORTS.replace('-', ':')] : [String(this.port)];
  }

  get containerId(): string {
    return this.container.id;
  }

  running(): boolean {
    return this.isRunning;
  }

  /** Start the container (output attached first) and wait until its health route answers 2xx. */
  async startAndWait(): Promise<void> {
    await this.start();
    await this.waitHealthy();
  }

  /** Start the container (output attached first); resolves once it runs and has its address. */
  async start(): Promise<void> {
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
      if (sig === 'SIGSTOP') await freeze(this.container, this.name);
      else if (sig === 'SIGCONT') await this.container.unpause();
      else if (sig === 'SIGKILL' || sig === 'SIGTERM')
        await endOnNetwork(
          this.networkName,
          () => this.container.kill({ signal: sig }),
          () => this.exited ?? Promise.resolve(),
        );
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

  async restart(env?: Record<string, string>): Promise<void> {
    const st = (await this.container.inspect()).State;
    if (st.Paused) await this.container.unpause();
    // Same semantics in every runtime: a crash-restart. (A graceful stop would run the service's own
    // shutdown, e.g. the queen's cascade to its hives; signal SIGTERM first for that.)
    if (st.Running)
      await endOnNetwork(
        this.networkName,
        () => this.container.kill({ signal: 'SIGKILL' }),
        () => this.exited ?? Promise.resolve(),
      );
    await this.exited;
    await this.flushOutput();
    if (env) {
      if (!this.recreate) throw new Error(`${this.name} cannot be restarted with another environment`);
      this.container = await this.recreate(env);
    }
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

  /** Unpause, kill, remove; idempotent and fine on a never-started container. */
  async remove(): Promise<void> {
    if (this.removed) return;
    this.removed = true;
    try {
      await endOnNetwork(this.networkName, async () => {
        const st = (await this.container.inspect()).State;
        if (st.Paused) await this.container.unpause();
        // Nothing of the stack is observed any more (diagnostics come first): no grace period, which would
        // only make every teardown wait for the services' own shutdown cascades.
        if (st.Running) await this.container.kill({ signal: 'SIGKILL' }).catch(() => {});
        await this.flushOutput();
        await this.container.remove({ force: true, v: true });
      });
    } catch (e) {
      if (!isNotFound(e)) throw e;
    } finally {
      await new Promise<void>((r) => (this.log ? this.log.end(r) : r()));
    }
  }
}

/**
 * Pause through the cgroup freezer. On cgroup v1, runc gives up ("unable to freeze") when some task does not
 * reach FROZEN within its short window — a task in the middle of a fork or an uninterruptible sleep on a
 * loaded machine — and thaws the container again. That is the engine failing to apply the fault, not the
 * stack misbehaving, so it is tried again, bounded; any other engine error is final.
 */
/** Where every service container has its data dir (a bind mount or a volume). */
export const DATA_DIR = '/data';

export async function freeze(container: Pick<Docker.Container, 'pause'>, name: string): Promise<void> {
  await eventually(
    async () => {
      try {
        await container.pause();
      } catch (e) {
        const message = engineMessage(e);
        if (/already paused/i.test(message)) return; // an earlier try froze it after all
        if (!/unable to freeze/i.test(message)) throw new GiveUp(message);
        throw e;
      }
    },
    { within: 3000, every: 100, what: `the engine to freeze ${name}` },
  );
}
