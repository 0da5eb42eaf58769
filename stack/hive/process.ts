// Starting a worker as a child process of the hive (RBEE_WORKER_CMD + the worker CLI of contract §3), and
// describing how one ended. A worker's output goes to its own file in RBEE_WORKER_LOG_DIR when that is set
// (it outlives the hive, as the worker may); otherwise its lines are copied unchanged into the hive's stdout
// so the JSON worker logs end up in the hive's log stream.

import fs from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import readline from 'node:readline';
import type { Readable } from 'node:stream';

export interface WorkerArgs {
  workerId: string;
  modelPath: string;
  modelRef: string;
  backend: string;
  device: number;
  port: number;
  callbackUrl: string;
}

/** The worker CLI arguments of contract §3 (without the executable). */
export function workerArgv(a: WorkerArgs): string[] {
  return [
    '--worker-id',
    a.workerId,
    '--model',
    a.modelPath,
    '--model-ref',
    a.modelRef,
    '--backend',
    a.backend,
    '--device',
    String(a.device),
    '--port',
    String(a.port),
    '--callback-url',
    a.callbackUrl,
  ];
}

/** `token`: the service token the worker must use for its callbacks (the hive's own). */
export function spawnWorker(cmd: string[], a: WorkerArgs, token?: string, logDir?: string): ChildProcess {
  const [exe, ...pre] = cmd;
  if (!exe) throw new Error('RBEE_WORKER_CMD is empty');
  const args = [...pre, ...workerArgv(a)];
  // The worker inherits the hive's environment (MOCK_* knobs, timings), and always the hive's token.
  const env = token ? { ...process.env, LLORCH_API_TOKEN: token } : process.env;
  if (logDir) {
    fs.mkdirSync(logDir, { recursive: true });
    const fd = fs.openSync(`${logDir}/${a.workerId}.log`, 'a');
    try {
      return spawn(exe, args, { stdio: ['ignore', fd, fd], env });
    } finally {
      fs.closeSync(fd); // the child has its own copy
    }
  }
  const child = spawn(exe, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  if (child.stdout) copyLines(child.stdout);
  if (child.stderr) copyLines(child.stderr);
  return child;
}

function copyLines(stream: Readable): void {
  const rl = readline.createInterface({ input: stream, crlfDelay: Infinity });
  rl.on('line', (line) => process.stdout.write(line + '\n'));
}

/**
 * Human-readable cause of a worker's end, as reported in logs and to the queen. An out-of-memory kill is
 * named only when the kernel confirmed it (`oomConfirmed`: see OomCounter), never guessed from a SIGKILL.
 */
export function describeExit(code: number | null, signal: string | null, err?: Error, oomConfirmed = false): string {
  if (err) return `could not be started: ${err.message}`;
  // 137 = 128 + SIGKILL, what a wrapper shell reports for a killed child.
  if (signal === 'SIGKILL' || code === 137) {
    return oomConfirmed
      ? "killed by the kernel's out-of-memory killer (SIGKILL; the memory cgroup's oom_kill count went up)"
      : 'killed by SIGKILL';
  }
  if (signal) return `killed by ${signal}`;
  return `exited with code ${code}`;
}

/** Is a process (not necessarily our child) still there? A zombie (exited, not yet reaped) is not. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // /proc/<pid>/stat: "pid (comm) S ..."; a worker adopted after a hive restart is reaped by whoever
    // inherited it, which in a container without an init may be never.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return !HAS_PROC; // gone since kill(0) — or no /proc at all (not Linux): then trust kill(0)
  }
}

const HAS_PROC = fs.existsSync('/proc/self/stat');

export function killPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    /* already gone */
  }
}

/**
 * The kernel's count of out-of-memory kills in the hive's memory cgroup (cgroup v2 memory.events or v1
 * memory.oom_control, "oom_kill N"): in a container that is the container's own cgroup, which its workers
 * share. A SIGKILL that comes with a higher count is a confirmed OOM kill.
 */
export class OomCounter {
  private last: number | undefined;
  constructor(private readonly files = ['/sys/fs/cgroup/memory.events', '/sys/fs/cgroup/memory/memory.oom_control']) {
    this.last = this.read();
  }

  /** Did the count go up since the last call (or start)? False when no cgroup count can be read. */
  rose(): boolean {
    const now = this.read();
    const rose = now !== undefined && this.last !== undefined && now > this.last;
    if (now !== undefined) this.last = now;
    return rose;
  }

  private read(): number | undefined {
    for (const f of this.files) {
      try {
        const m = /^oom_kill (\d+)$/m.exec(fs.readFileSync(f, 'utf8'));
        if (m) return Number(m[1]);
      } catch {
        /* not this cgroup version */
      }
    }
    return undefined;
  }
}
