// The runtime interface: how a stack's services are started, signalled and torn down. Two
// implementations: `process` (children on loopback) and `docker` (containers via dockerode).
// Everything above this interface (stack start-up, clients, faults, steps) is runtime-agnostic.

import type { StackSpec } from './spec.ts';
import type { StackSecrets } from './secrets.ts';
import type { ServiceKind } from './services.ts';

export type RuntimeName = 'process' | 'docker';

export type Signal = 'SIGKILL' | 'SIGTERM' | 'SIGINT' | 'SIGSTOP' | 'SIGCONT';

export interface StartContext {
  runId: string;
  stackId: string;
  /** Harness-side directory for this stack: logs/ and data/ live below it. */
  workDir: string;
  /** Bound for each service to become healthy. */
  healthTimeoutMs: number;
}

export interface ExitStatus {
  code: number | null;
  signal: string | null;
  /** Docker only: the engine recorded an out-of-memory kill. */
  oomKilled?: boolean;
}

export interface ServiceHandle {
  readonly name: string;
  readonly kind: ServiceKind;
  /** Base URL the harness uses to reach the service. */
  readonly url: string;
  /** Base URL the stack's other services use to reach it. */
  readonly internalUrl: string;
  /** Harness-side file with the service's stdout and stderr. */
  readonly logFile: string;
  /**
   * Harness-side directory for the service's files the harness writes (its workers' output). It holds the
   * service's own data too only where the harness shares its disk (process runtime, docker with host
   * shortcuts): read and change the data through `files`, which works in every runtime.
   */
  readonly dataDir: string;
  /** The service's data files (relative to its data dir), as the runtime reaches them. */
  readonly files: ServiceFiles;
  /** Send a signal to the service's main process. */
  signal(sig: Signal): Promise<void>;
  /** Send a signal to a process the service started (a hive's worker), by the pid the service reports. */
  signalChild(pid: number, sig: Signal): Promise<void>;
  /** Is the child pid (as the service reports it) still alive? */
  childAlive(pid: number): Promise<boolean>;
  /** Resolves with the exit status once the main process has exited, or undefined on timeout. */
  waitExit(timeoutMs: number): Promise<ExitStatus | undefined>;
  running(): boolean;
  /**
   * Kill the service if it runs (SIGKILL: a crash-restart, no graceful shutdown) and start it again with
   * the same config and data; resolves once it is healthy. `env` changes variables of its config from then
   * on (a hive restarted holding another service token).
   */
  restart(env?: Record<string, string>): Promise<void>;
  /** Human-readable process/container state for diagnostics. */
  describe(): Promise<string>;
  /**
   * Which run of the service this is: its main process (and container) and when it started. A restart
   * gives a new one; the same one later proves the service was not restarted in between.
   */
  instance(): Promise<ServiceInstance>;
}

/**
 * A service's data files: this machine's disk (process runtime, docker with host shortcuts) or the engine's
 * archive and exec APIs (docker, any engine). Paths are relative to the service's data dir.
 */
export interface ServiceFiles {
  read(relPath: string): Promise<Buffer>;
  /** Replace the content of an existing file, keeping its owner and mode. */
  write(relPath: string, data: Buffer): Promise<void>;
  /** Move the file aside and put an empty directory in its place: every open of it fails (storage faults). */
  makeUnavailable(relPath: string): Promise<void>;
  /** Undo makeUnavailable: the very same file back in place. */
  makeAvailable(relPath: string): Promise<void>;
}

export interface ServiceInstance {
  /** "pid 1234", or "container 0a1b2c… pid 1234". */
  id: string;
  /** Epoch ms when this run started. */
  startedAt: number;
}

/** What one service saw when it called another (a probe run inside the caller's network view). */
export interface CallResult {
  ok: boolean;
  status?: number;
  error?: string;
  ms: number;
}

/** An applied network fault, undone by `heal()` (which verifies it is gone: rules removed, traffic passes). */
export interface NetworkFault {
  readonly description: string;
  heal(): Promise<string>;
}

/**
 * Faults on the links between services: partitions, latency and bandwidth, and calls made from inside a
 * service (which take the path its own calls take). The docker runtime has them through iptables in the
 * containers' namespaces and link proxy containers (local engine); the process runtime through the
 * harness's own link proxies (lib/links).
 */
export interface LinkFaults {
  /** Traffic between a and b stops (both ways, or only a → b), open connections included. */
  partition(a: string, b: string, o: { oneWay: boolean }): Promise<NetworkFault>;
  /** Traffic between a hive and one of its own workers (its id, and the port in its URL) stops. */
  partitionWorker(hive: string, worker: { id: string; port: number }): Promise<NetworkFault>;
  /** Latency and/or bandwidth on a → b through a link proxy. */
  shapeLink(a: string, b: string, o: { latencyMs?: number; bandwidthBps?: number }): Promise<NetworkFault>;
  /** An HTTP GET made from inside `from` (so it takes the path the service's own calls take). */
  callFrom(from: string, url: string, timeoutMs: number): Promise<CallResult>;
}

/** A kernel OOM kill the engine recorded. */
export interface OomRecord {
  at: number;
  detail: string;
  /** Whose container it was: the service asked about, or (workers in their own containers) one of its workers. */
  service?: string;
}

/**
 * Memory confinement: what a service's cgroup is charged, and the kernel's OOM kills in it (docker: memory
 * limits per container, OOM events from the engine). The process runtime confines nothing, so has none.
 */
export interface MemoryControl {
  /** Resolves with the kernel OOM kill the engine recorded for `service` since `since`, or undefined on timeout. */
  waitForOom(service: string, timeoutMs: number, since: number): Promise<OomRecord | undefined>;
  /** Bytes of memory the service's confinement charges now (a hive's: its container's and its workers'), page cache left out. */
  memoryUsage(service: string): Promise<number>;
}

/** A worker started outside any hive (RunningStack.startExternalWorker). */
export interface ExternalWorkerStart {
  workerId: string;
  /** The hive it calls back. */
  hive: string;
  modelRef: string;
  /** The model file as the hive reports it (its catalog's local_path); the runtime makes it visible to the worker. */
  hiveModelPath: string;
  /** The service token it holds; default the stack's own (a wrong one for the auth scenarios). */
  token?: string;
}

export interface RunningStack {
  readonly runtime: RuntimeName;
  /** As Runtime.workersOutliveHive, for the runtime this stack runs on. */
  readonly workersOutliveHive: boolean;
  readonly id: string;
  readonly services: ReadonlyMap<string, ServiceHandle>;
  /**
   * Start a worker outside any hive (contract §3 command line) that calls back `hive`. It joins
   * `services` under its worker id. `hiveModelPath` is the model file as the hive reports it (its
   * catalog's local_path); the runtime makes that file visible to the worker.
   */
  startExternalWorker(o: ExternalWorkerStart): Promise<ServiceHandle>;
  /** Tear everything down (idempotent). Leaves no process, container, network or temp dir. */
  stop(): Promise<void>;
  /**
   * A mock worker's own container (docker runtime, workers in containers), by worker id — null when it has
   * none (any more); undefined where a hive's workers are its child processes (signal those through the
   * hive's handle: signalChild). Stack.signalWorker and Stack.workerAlive choose.
   */
  workerContainer?(workerId: string): ServiceHandle | null | undefined;
  /** Every mock worker's own container, where workers have one (for diagnostics). */
  workerContainers?(): ServiceHandle[];
  /** Present where the runtime can cut and shape the links between services. */
  readonly linkFaults?: LinkFaults;
  /** Present where the runtime confines services' memory (limits, charged memory, OOM kills). */
  readonly memory?: MemoryControl;
  /** Why a capability is absent (said in the skip message). */
  readonly unsupported?: { linkFaults?: string; memory?: string };
  /**
   * A URL the services use (through a link the runtime put between them) as the harness should call it:
   * the service's own address, so the harness's observations never cross a link it may be breaking.
   * Undefined = use `url` as it is.
   */
  harnessUrl?(url: string): string | undefined;
}

export interface Runtime {
  readonly name: RuntimeName;
  /**
   * Do a hive's workers outlive the hive's own process? (process runtime: yes, they are separate processes
   * the restarted hive finds again; docker: yes in their own containers, no inside the hive's container.)
   */
  readonly workersOutliveHive: boolean;
  start(spec: StackSpec, secrets: StackSecrets, ctx: StartContext): Promise<RunningStack>;
  /** Remove everything left by runs whose runner is no longer alive (or everything, with `all`). */
  sweep(opts: { all: boolean }): Promise<string[]>;
}

export function serviceOf(stack: RunningStack, name: string): ServiceHandle {
  const s = stack.services.get(name);
  if (!s)
    throw new Error(`no service "${name}" in stack ${stack.id}; it has: ${[...stack.services.keys()].join(', ')}`);
  return s;
}
