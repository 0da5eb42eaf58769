// Waiting for a service to answer its health route, the same way in every runtime: it fails at once
// when the service exits (with the exit status), or at the bound (with the last answer), and both
// messages end with the service's last log lines, on one line.

import { eventually, GiveUp } from '../observe/eventually.ts';
import { logTail } from '../observe/logs.ts';

export interface HealthWait {
  name: string;
  url: string;
  path: string;
  withinMs: number;
  logFile: string;
  /** Why the service is gone (e.g. "exit 3"), or undefined while it runs. */
  exited(): Promise<string | undefined> | string | undefined;
}

export async function waitUntilHealthy(o: HealthWait): Promise<void> {
  try {
    await eventually(
      async () => {
        const why = await o.exited();
        if (why) throw new GiveUp(why);
        const r = await fetch(o.url + o.path, { signal: AbortSignal.timeout(1000) }).catch(
          (e: Error & { cause?: { code?: string } }) => {
            throw new Error(e.cause?.code ?? e.message);
          },
        );
        await r.body?.cancel();
        if (!r.ok) throw new Error(`HTTP ${r.status}`);
      },
      { within: o.withinMs, every: 50, what: `${o.name} to answer ${o.path}` },
    );
  } catch (e) {
    if (e instanceof GiveUp)
      throw new Error(`${o.name} exited before becoming healthy (${e.message}); last log lines: ${logTail(o.logFile)}`);
    const last = (e as { lastObservation?: string }).lastObservation ?? (e as Error).message;
    throw new Error(
      `${o.name} never became healthy within ${o.withinMs} ms (GET ${o.url}${o.path}: ${last}); last log lines: ${logTail(o.logFile)}`,
    );
  }
}
