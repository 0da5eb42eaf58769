// What the services themselves said about one object (a worker, a job, a hive): the cause behind a failed
// wait. A wait on "worker X idle" that times out shows the symptom ("X is absent"); the hive's own log
// usually holds the cause ("removed: unhealthy for more than 1500 ms", "health probe got 404"). storyOf
// finds the lines naming the object, and causeOf the last warning or error among them, so a failure's
// first line can point at the broken behaviour instead of only at its symptom.

import type { LogLine } from './logs.ts';

const ID_FIELDS = ['worker_id', 'job_id', 'node_name', 'correlation_id'] as const;

/** The lines naming `id` in one of the id fields, in time order. */
export function linesAbout(lines: readonly LogLine[], id: string): LogLine[] {
  return lines.filter((l) => ID_FIELDS.some((f) => l[f] === id)).sort((a, b) => a.ts.localeCompare(b.ts));
}

/** "hive:worker.spawned → hive:worker.ready → hive:worker.unhealthy → hive:worker.removed" (the last `max`). */
export function storyOf(lines: readonly LogLine[], id: string, max = 12): string {
  const events = linesAbout(lines, id)
    .filter((l) => l.event)
    .map((l) => `${l.service}:${l.event}`);
  const kept = events.slice(-max);
  return (events.length > kept.length ? '… → ' : '') + kept.join(' → ');
}

/**
 * The last warning or error a service logged about `id` (with the one before it when that was a warning
 * too: "removed … after unhealthy …"), as one line; undefined when the services said nothing bad of it.
 */
export function causeOf(lines: readonly LogLine[], id: string): string | undefined {
  const bad = linesAbout(lines, id).filter((l) => l.level === 'warn' || l.level === 'error');
  const last = bad.at(-1);
  if (!last) return undefined;
  const say = (l: LogLine) => {
    // The fields services put the particulars in (an HTTP status, an error code, the error text, a reason).
    const details = (['status', 'code', 'reason', 'err', 'signal'] as const)
      .map((f) => l[f])
      .filter((v) => v !== undefined && v !== null && v !== '' && !l.msg.includes(String(v)))
      .map(String);
    return `${l.service} ${l.event ?? 'log'}: ${l.msg}${details.length ? ` [${details.join(' ')}]` : ''}`;
  };
  const before = bad.at(-2);
  return before && before.event !== last.event ? `${say(last)} (after ${say(before)})` : say(last);
}

/**
 * An error whose first line leads with what the services said about the objects involved, the original
 * symptom after it. Errors about objects the services said nothing bad of are returned unchanged.
 */
export function withCause(e: unknown, lines: readonly LogLine[], ids: readonly string[]): unknown {
  if (!(e instanceof Error)) return e;
  const causes = ids
    .map((id) => [id, causeOf(lines, id)] as const)
    .filter((c): c is readonly [string, string] => c[1] !== undefined);
  if (!causes.length) return e;
  const lead = causes.map(([id, c]) => `${id}: ${c}`).join('; ');
  const stories = ids.map((id) => `  ${id}: ${storyOf(lines, id) || '(no log lines)'}`).join('\n');
  e.message = `${lead} — ${e.message}\nwhat the services logged:\n${stories}`;
  return e;
}

/** "w-1 (unhealthy)": the workers a hive logged removing (`worker.removed`) since `since` (epoch ms), with its reason. */
export function removalsSince(lines: readonly LogLine[], since: number): string[] {
  return lines
    .filter((l) => l.service === 'hive' && l.event === 'worker.removed' && l.worker_id && Date.parse(l.ts) >= since)
    .map((l) => `${l.worker_id} (${String(l.reason ?? 'no reason given')})`);
}
