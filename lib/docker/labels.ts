// Labels put on everything the harness creates, so that a later run (or `--down`) can find it again and
// tell whether the run that made it is still alive. Nothing is ever found by name.

import { hostname } from 'node:os';
import { readFileSync } from 'node:fs';
import { pidAlive } from '../stack/reaper.ts';

export const LABEL = {
  /** On every image, network and container: "this belongs to rbee-acceptance". */
  owner: 'rbee-acceptance',
  run: 'rbee-acceptance.run',
  stack: 'rbee-acceptance.stack',
  service: 'rbee-acceptance.service',
  /** On a mock worker's own container: the hive it belongs to. */
  hive: 'rbee-acceptance.hive',
  runnerPid: 'rbee-acceptance.runner-pid',
  runnerHost: 'rbee-acceptance.runner-host',
  /** Start time of the runner process (clock ticks since boot), so a reused pid is not mistaken for it. */
  runnerStart: 'rbee-acceptance.runner-start',
  /** Harness-side work dir of the stack (logs, data), removed with the stack by the sweep. */
  workDir: 'rbee-acceptance.workdir',
  /** Content hash an image was built from. */
  hash: 'rbee-acceptance.hash',
} as const;

/** Field 22 of /proc/<pid>/stat; undefined off Linux or when the process is gone. */
export function processStartTicks(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses; fields are counted after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[19];
  } catch {
    return undefined;
  }
}

export function runnerLabels(runId: string): Record<string, string> {
  const start = processStartTicks(process.pid);
  return {
    [LABEL.owner]: '1',
    [LABEL.run]: runId,
    [LABEL.runnerPid]: String(process.pid),
    [LABEL.runnerHost]: hostname(),
    ...(start ? { [LABEL.runnerStart]: start } : {}),
  };
}

export type RunnerState = 'alive' | 'dead' | 'unknown';

/**
 * Is the runner that made a resource still alive? Only answerable for runners on this host; a resource
 * made from another machine (shared remote engine) is 'unknown' and left alone unless the sweep is `all`.
 */
export function runnerState(labels: Record<string, string> | undefined): RunnerState {
  const pid = Number(labels?.[LABEL.runnerPid]);
  if (!labels || labels[LABEL.runnerHost] !== hostname() || !Number.isInteger(pid) || pid <= 0) return 'unknown';
  if (!pidAlive(pid)) return 'dead';
  const recorded = labels[LABEL.runnerStart];
  const now = processStartTicks(pid);
  if (recorded && now && recorded !== now) return 'dead'; // the pid was reused by another process
  return 'alive';
}

/** Docker names allow [a-zA-Z0-9][a-zA-Z0-9_.-]*; ids from scenario names may hold anything. */
export function safeName(s: string): string {
  return (
    s
      .replace(/[^a-zA-Z0-9_.-]+/g, '-')
      .replace(/^[^a-zA-Z0-9]+/, '')
      .slice(0, 100) || 'x'
  );
}
