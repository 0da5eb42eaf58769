// Knowing what the harness started, so nothing outlives it. Every process the process runtime starts
// carries RBEE_ACCEPTANCE_RUN / RBEE_ACCEPTANCE_STACK in its environment (inherited by the workers a
// hive spawns); every run writes a marker file with the runner's pid. A sweep at start (and `--down`)
// kills labelled processes of runs whose runner is dead and removes their directories.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const RUN_ENV = 'RBEE_ACCEPTANCE_RUN';
export const STACK_ENV = 'RBEE_ACCEPTANCE_STACK';

export function harnessTmpRoot(): string {
  return path.join(os.tmpdir(), 'rbee-acceptance');
}
const runsDir = () => path.join(harnessTmpRoot(), 'runs');
export const stacksDir = () => path.join(harnessTmpRoot(), 'stacks');

export function registerRun(runId: string): void {
  fs.mkdirSync(runsDir(), { recursive: true });
  fs.writeFileSync(
    path.join(runsDir(), `${runId}.${process.pid}.json`),
    JSON.stringify({ runId, runnerPid: process.pid, startedAt: new Date().toISOString() }),
  );
}

export function unregisterRun(runId: string): void {
  fs.rmSync(path.join(runsDir(), `${runId}.${process.pid}.json`), { force: true });
}

/**
 * Is the process alive? A zombie is not: a runner killed with its parent may never be reaped (pid 1 of
 * a container often does not reap), and kill(pid, 0) still succeeds on it.
 */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return true; // no /proc (not Linux): trust kill(pid, 0)
  }
}

/** Runs whose runner process is alive (their resources must not be swept). */
export function liveRuns(): Set<string> {
  const live = new Set<string>();
  let files: string[] = [];
  try {
    files = fs.readdirSync(runsDir());
  } catch {
    return live;
  }
  for (const f of files) {
    try {
      const rec = JSON.parse(fs.readFileSync(path.join(runsDir(), f), 'utf8')) as { runId: string; runnerPid: number };
      if (pidAlive(rec.runnerPid)) live.add(rec.runId);
    } catch {
      /* unreadable marker: treat as dead */
    }
  }
  return live;
}

export interface LabelledProcess {
  pid: number;
  run: string;
  stack: string;
  /** Kernel state letter from /proc/<pid>/stat: R, S, T (stopped), Z … */
  state: string;
  cmd: string;
}

/** Every live process on this machine that carries the harness labels. */
export function labelledProcesses(): LabelledProcess[] {
  const out: LabelledProcess[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    let env: string;
    try {
      env = fs.readFileSync(`/proc/${pid}/environ`, 'latin1');
    } catch {
      continue;
    }
    const vars = env.split('\0');
    const run = vars.find((v) => v.startsWith(RUN_ENV + '='))?.slice(RUN_ENV.length + 1);
    if (!run) continue;
    const stack = vars.find((v) => v.startsWith(STACK_ENV + '='))?.slice(STACK_ENV.length + 1) ?? '';
    let state = '?';
    let cmd = '';
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
      state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] ?? '?';
      cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').join(' ').trim();
    } catch {
      continue;
    }
    if (state === 'Z') continue; // already dead, waiting for its parent
    out.push({ pid, run, stack, state, cmd });
  }
  return out;
}

/** SIGCONT then SIGKILL each process (a stopped process must be continued to die promptly). */
export function killAll(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGCONT');
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

/** Kill leftovers of dead runs (or of every run but `keepRun`, with `all`); returns what was removed. */
export function sweepProcesses(opts: { all: boolean; keepRun?: string }): string[] {
  const live = opts.all ? new Set<string>() : liveRuns();
  if (opts.keepRun) live.add(opts.keepRun);
  const removed: string[] = [];
  const victims = labelledProcesses().filter((p) => !live.has(p.run));
  killAll(victims.map((p) => p.pid));
  for (const v of victims) removed.push(`process ${v.pid} (run ${v.run}, stack ${v.stack})`);
  for (const dir of safeReaddir(stacksDir())) {
    if (live.has(dir)) continue;
    fs.rmSync(path.join(stacksDir(), dir), { recursive: true, force: true });
    removed.push(`directory ${path.join(stacksDir(), dir)}`);
  }
  for (const f of safeReaddir(runsDir())) {
    const run = f.split('.')[0]!;
    if (!live.has(run)) fs.rmSync(path.join(runsDir(), f), { force: true });
  }
  return removed;
}

function safeReaddir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}
