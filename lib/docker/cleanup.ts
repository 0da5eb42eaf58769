// Stacks that are up right now in this process, so that Ctrl-C or a SIGTERM to the runner still tears
// them down. A runner killed with SIGKILL cannot clean up; the next run's sweep removes its leftovers
// (its runner pid is dead).

interface Stoppable {
  readonly id: string;
  stop(): Promise<void>;
}

const live = new Set<Stoppable>();

export function trackStack(s: Stoppable): void {
  live.add(s);
}

export function untrackStack(s: Stoppable): void {
  live.delete(s);
}

export function liveStacks(): string[] {
  return [...live].map((s) => s.id);
}

/** Stop every live stack (AfterAll, or a signal); errors are collected, never stop the others. */
export async function stopAllStacks(): Promise<string[]> {
  const errors: string[] = [];
  await Promise.all(
    [...live].map((s) =>
      s.stop().catch((e: unknown) => errors.push(`${s.id}: ${e instanceof Error ? e.message : String(e)}`)),
    ),
  );
  return errors;
}

let installed: (() => void) | undefined;

/**
 * On SIGINT/SIGTERM/SIGHUP: stop all live stacks, then let the signal do what it would have done (the
 * process ends with 128+n). A second signal during cleanup exits at once; the next sweep finishes the job.
 * Returns an uninstall function. Idempotent.
 */
export function installCleanupHandlers(): () => void {
  if (installed) return installed;
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  let cleaning = false;
  const handler = (sig: NodeJS.Signals) => {
    if (cleaning) process.exit(130);
    cleaning = true;
    process.stderr.write(`rbee-acceptance: ${sig}: tearing down ${live.size} docker stack(s)\n`);
    void stopAllStacks()
      .then((errors) => {
        for (const e of errors) process.stderr.write(`rbee-acceptance: teardown: ${e}\n`);
      })
      .finally(() => {
        uninstall();
        process.kill(process.pid, sig);
      });
  };
  for (const s of signals) process.on(s, handler);
  const uninstall = () => {
    for (const s of signals) process.off(s, handler);
    installed = undefined;
  };
  installed = uninstall;
  return uninstall;
}
