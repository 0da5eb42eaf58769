// How the hive starts its workers. Two launchers behind one small interface:
//
// - `process` (default): a child process of the hive (process.ts), which is how rbee runs on one machine.
// - `request` (RBEE_WORKER_LAUNCHER=request): the hive only *asks* for a worker. It lists what it wants at
//   GET /v1/launcher/workers and something outside it with the power to start workers (the acceptance
//   harness with its container engine, like a kubelet) starts each one and reports back at
//   POST /v1/launcher/status: running (with its pid) or exited (code, signal, whether the kernel killed it
//   for memory). The hive never holds the engine's credentials. A worker recorded before a hive restart is
//   listed with `adopt: true`: "tell me whether it still runs; do not start it".
//
// Either way the worker manager sees a WorkerChild: a pid once known, kill(signal), and 'spawn' / 'exit' /
// 'error' events like a ChildProcess's.

import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { spawnWorker, type WorkerArgs, workerArgv } from './process.ts';

export interface WorkerChild {
  readonly pid?: number | undefined;
  kill(sig: NodeJS.Signals): boolean;
  once(ev: 'spawn', fn: () => void): this;
  once(ev: 'exit', fn: (code: number | null, signal: NodeJS.Signals | null, oomKilled?: boolean) => void): this;
  once(ev: 'error', fn: (err: Error) => void): this;
}

export interface WorkerLauncher {
  readonly kind: 'process' | 'request';
  launch(a: WorkerArgs): WorkerChild;
}

export class ProcessLauncher implements WorkerLauncher {
  readonly kind = 'process' as const;
  constructor(
    private readonly cmd: string[],
    private readonly token: string | undefined,
    private readonly logDir: string | undefined,
  ) {}

  launch(a: WorkerArgs): WorkerChild {
    return spawnWorker(this.cmd, a, this.token, this.logDir);
  }
}

/** One worker the hive wants started (or, adopted, checked), as GET /v1/launcher/workers lists it. */
export interface LaunchRequest {
  worker_id: string;
  /** New for every start of the worker (a restart after a crash is a new generation). */
  generation: string;
  /** The worker CLI arguments (contract §3), without the executable. */
  args: string[];
  /** Environment the worker needs (the hive's MOCK_* knobs and timings, and the service token). */
  env: Record<string, string>;
  /** Recorded before a hive restart: report whether it still runs; never start it. */
  adopt: boolean;
  /** The last signal the hive sent, and how many it has sent (a launcher delivers each number once). */
  signal: NodeJS.Signals | null;
  signals_sent: number;
  /** What the hive has been told so far. */
  observed: 'requested' | 'running';
}

export interface LaunchStatus {
  worker_id: string;
  generation: string;
  state: 'running' | 'exited' | 'failed';
  pid?: number;
  exit_code?: number | null;
  signal?: string | null;
  oom_killed?: boolean;
  error?: string;
}

/** A worker the hive asked for: its signals wait in the request until the launcher delivers them. */
class RequestedWorker extends EventEmitter implements WorkerChild {
  pid: number | undefined;
  constructor(readonly request: LaunchRequest) {
    super();
  }

  kill(sig: NodeJS.Signals): boolean {
    this.request.signal = sig;
    this.request.signals_sent++;
    return true;
  }
}

/** Environment passed on to requested workers: what a child process would have inherited, minus the host's own. */
function workerEnv(token: string | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && /^(MOCK_|RBEE_|LLORCH_|NODE_OPTIONS$)/.test(k)) env[k] = v;
  }
  if (token) env.LLORCH_API_TOKEN = token;
  return env;
}

export class RequestLauncher implements WorkerLauncher {
  readonly kind = 'request' as const;
  private readonly requests = new Map<string, RequestedWorker>();

  constructor(private readonly token: string | undefined) {}

  launch(a: WorkerArgs): WorkerChild {
    return this.add(a.workerId, workerArgv(a), false);
  }

  /** A worker recorded before the hive restarted: the launcher says whether it still runs. */
  adopt(workerId: string, pid: number | null): WorkerChild {
    const w = this.add(workerId, [], true);
    w.pid = pid ?? undefined;
    return w;
  }

  private add(workerId: string, args: string[], adopt: boolean): RequestedWorker {
    const request: LaunchRequest = {
      worker_id: workerId,
      generation: randomUUID().slice(0, 8),
      args,
      // Its own container answers to its id (what it advertises, as a child advertises the hive's host).
      env: adopt ? {} : { ...workerEnv(this.token), RBEE_WORKER_HOST: workerId },
      adopt,
      signal: null,
      signals_sent: 0,
      observed: 'requested',
    };
    const w = new RequestedWorker(request);
    this.requests.set(workerId, w);
    return w;
  }

  list(): LaunchRequest[] {
    return [...this.requests.values()].map((w) => ({ ...w.request, env: { ...w.request.env } }));
  }

  /** A report from the launcher; unknown workers and older generations are ignored (answered false). */
  report(s: LaunchStatus): boolean {
    const w = this.requests.get(s.worker_id);
    if (!w || w.request.generation !== s.generation) return false;
    if (s.state === 'running') {
      if (w.request.observed === 'running') return true;
      w.request.observed = 'running';
      w.pid = s.pid;
      w.emit('spawn');
      return true;
    }
    this.requests.delete(s.worker_id);
    if (s.state === 'failed') {
      w.emit('error', new Error(s.error ?? 'the launcher could not start it'));
    } else {
      w.emit('exit', s.exit_code ?? null, (s.signal ?? null) as NodeJS.Signals | null, s.oom_killed === true);
    }
    return true;
  }
}
