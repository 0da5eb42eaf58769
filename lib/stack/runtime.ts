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
  /** Harness-side file with the service's stdout and stderr. */
  readonly logFile: string;
  /** Harness-side path of the service's data directory. */
  readonly dataDir: string;
  /** Send a signal to the service's main process. */
  signal(sig: Signal): Promise<void>;
  /** Send a signal to a process the service started (a hive's worker), by the pid the service reports. */
  signalChild(pid: number, sig: Signal): Promise<void>;
  /** Is the child pid (as the service reports it) still alive? */
  childAlive(pid: number): Promise<boolean>;
  /** Resolves with the exit status once the main process has exited, or undefined on timeout. */
  waitExit(timeoutMs: number): Promise<ExitStatus | undefined>;
  running(): boolean;
  /** Start the service again with the same config and data (after a crash or a stop). */
  restart(): Promise<void>;
  /** Human-readable process/container state for diagnostics. */
  describe(): Promise<string>;
}

export interface RunningStack {
  readonly runtime: RuntimeName;
  readonly id: string;
  readonly services: ReadonlyMap<string, ServiceHandle>;
  /**
   * Start a worker outside any hive (contract §3 command line) that calls back `hive`. It joins
   * `services` under its worker id. `hiveModelPath` is the model file as the hive reports it (its
   * catalog's local_path); the runtime makes that file visible to the worker.
   */
  startExternalWorker(o: { workerId: string; hive: string; modelRef: string; hiveModelPath: string }): Promise<ServiceHandle>;
  /** Tear everything down (idempotent). Leaves no process, container, network or temp dir. */
  stop(): Promise<void>;
}

export interface Runtime {
  readonly name: RuntimeName;
  start(spec: StackSpec, secrets: StackSecrets, ctx: StartContext): Promise<RunningStack>;
  /** Remove everything left by runs whose runner is no longer alive (or everything, with `all`). */
  sweep(opts: { all: boolean }): Promise<string[]>;
}

export function serviceOf(stack: RunningStack, name: string): ServiceHandle {
  const s = stack.services.get(name);
  if (!s) throw new Error(`no service "${name}" in stack ${stack.id}; it has: ${[...stack.services.keys()].join(', ')}`);
  return s;
}
