// The log vocabulary of the contract (§0 "Logs"), as data: every JSON line carries ts, level, service and
// msg; `event` is a stable machine name, and each event a service may emit is declared here with the
// services that emit it and the fields a line of it must carry. The harness reads only declared events
// (test/lib/contract-names.test.ts); the reference stack emits only declared ones, with their fields
// (test/stack/conformance.test.ts). Pointed at another build, a renamed event is a named violation, not a
// step that waits in vain.

import { z } from 'zod';
import { ContractViolation } from './http.ts';

export const SERVICES = ['queen', 'hive', 'worker', 'hub'] as const;
export type ServiceName = (typeof SERVICES)[number];

/** Every JSON log line (contract §0): these four always, the join keys where known. */
export const LogLineSchema = z
  .object({
    ts: z.string().datetime({ offset: true }),
    level: z.enum(['debug', 'info', 'warn', 'error']),
    service: z.enum(SERVICES),
    msg: z.string(),
    event: z
      .string()
      .regex(/^[a-z_]+(\.[a-z_]+)+$/, 'a dotted lower-case name such as worker.crashed')
      .optional(),
    correlation_id: z.string().optional(),
    job_id: z.string().optional(),
    worker_id: z.string().optional(),
    node_name: z.string().optional(),
  })
  .passthrough();

export interface LogEventSpec {
  services: readonly ServiceName[];
  /** Fields a line of this event must carry (beyond the four every line has). */
  fields?: readonly string[];
}

const Q = ['queen'] as const;
const H = ['hive'] as const;
const W = ['worker'] as const;
const HUB = ['hub'] as const;
const ALL = SERVICES;

export const LOG_EVENTS: Readonly<Record<string, LogEventSpec>> = {
  // every service
  'service.listening': { services: ALL },
  'service.start_failed': { services: ['queen', 'hive'] },
  'service.listen_failed': { services: ['worker', 'hub'] },
  'shutdown.requested': { services: ['queen', 'hive', 'worker'] },
  'shutdown.started': { services: ALL, fields: ['reason'] },
  'shutdown.complete': { services: ALL },
  'shutdown.forced': { services: ALL },
  'auth.disabled': { services: ALL },
  // queen
  'hive.added': { services: Q, fields: ['node_name'] },
  'hive.available': { services: Q, fields: ['node_name'] },
  'hive.unavailable': { services: Q, fields: ['node_name'] },
  'hive.registered': { services: Q, fields: ['node_name'] },
  'hive.removed': { services: Q, fields: ['node_name'] },
  'hive.url_changed': { services: Q, fields: ['node_name'] },
  'hive.call_failed': { services: Q },
  'hive.shutdown_sent': { services: Q, fields: ['node_name'] },
  'hive.shutdown_failed': { services: Q, fields: ['node_name'] },
  'job.accepted': { services: Q, fields: ['job_id'] },
  'job.dispatched': { services: Q, fields: ['job_id', 'worker_id'] },
  'job.retry': { services: Q, fields: ['job_id'] },
  'job.completed': { services: Q, fields: ['job_id', 'worker_id'] },
  'job.rejected': { services: Q, fields: ['code', 'status'] },
  'job.client_gone': { services: Q, fields: ['job_id'] },
  'job.deadline_exceeded': { services: Q, fields: ['job_id'] },
  'job.worker_gone': { services: Q, fields: ['job_id'] },
  'queen.draining': { services: Q },
  'registry.loaded': { services: Q },
  'store.corrupt': { services: Q },
  'store.read_failed': { services: Q },
  'store.recovered': { services: Q },
  'worker.ready_seen': { services: Q, fields: ['worker_id'] },
  'worker.release_failed': { services: Q, fields: ['worker_id'] },
  'worker.shutdown': { services: Q, fields: ['worker_id'] },
  'worker.spawn_requested': { services: Q },
  // queen and hive
  'store.memory_only': { services: ['queen', 'hive'] },
  'store.write_failed': { services: ['queen', 'hive'] },
  'worker.spawn_failed': { services: ['queen', 'hive'] },
  // hive
  'catalog.corrupt': { services: H },
  'catalog.missing_file': { services: H },
  'heartbeat.disabled': { services: H },
  'heartbeat.failed': { services: H, fields: ['err'] },
  'heartbeat.recovered': { services: H },
  'hive.draining': { services: H, fields: ['reason'] },
  'model.download.started': { services: H },
  'model.download.complete': { services: H },
  'model.download.failed': { services: H },
  'store.move_failed': { services: H },
  'store.reopened': { services: H },
  'worker.acquired': { services: H, fields: ['worker_id'] },
  'worker.released': { services: H, fields: ['worker_id'] },
  'worker.crashed': { services: H, fields: ['worker_id', 'exit_code', 'signal', 'cause'] },
  'worker.degraded': { services: H, fields: ['worker_id'] },
  'worker.idle_timeout': { services: H, fields: ['worker_id'] },
  'worker.killed': { services: H, fields: ['worker_id'] },
  'worker.lease_expired': { services: H, fields: ['worker_id'] },
  'worker.process_error': { services: H, fields: ['worker_id'] },
  'worker.ready': { services: H, fields: ['worker_id'] },
  'worker.recovered': { services: H, fields: ['worker_id'] },
  'worker.recovery_failed': { services: H, fields: ['worker_id', 'reason'] },
  'worker.registered': { services: H, fields: ['worker_id'] },
  'worker.removed': { services: H, fields: ['reason'] },
  'worker.restarted': { services: H, fields: ['worker_id', 'restart_count'] },
  'worker.restored': { services: H, fields: ['worker_id'] },
  'worker.shutdown_call_failed': { services: H, fields: ['worker_id'] },
  'worker.spawned': { services: H, fields: ['worker_id', 'pid'] },
  'worker.stopped': { services: H, fields: ['worker_id'] },
  'worker.stopping': { services: H, fields: ['worker_id'] },
  'worker.unhealthy': { services: H, fields: ['worker_id', 'reason'] },
  'workers.restored': { services: H },
  'circuit.open': { services: Q, fields: ['node_name'] },
  'circuit.half_open': { services: Q, fields: ['node_name'] },
  'circuit.closed': { services: Q, fields: ['node_name'] },
  // queen and worker (the queen's "job not run" lines of a job refused before it had an id carry none)
  'job.cancelled': { services: ['queen', 'worker'] },
  'job.failed': { services: ['queen', 'worker'] },
  // worker
  'job.cancel_requested': { services: W, fields: ['job_id'] },
  'job.started': { services: W, fields: ['job_id', 'worker_id'] },
  'job.finished': { services: W, fields: ['job_id', 'worker_id'] },
  'model.loaded': { services: W },
  'model.load_failed': { services: W },
  'model.ref_mismatch': { services: W },
  'worker.heartbeat_failed': { services: W },
  'worker.ready_callback_failed': { services: W },
  'worker.ready_callback_retry': { services: W, fields: ['final'] },
  'worker.ready_callback_sent': { services: W },
  // hub (the harness's stand-in registry)
  'download.served': { services: HUB },
  'hub.fault_set': { services: HUB },
  'hub.faults_cleared': { services: HUB },
};

/** A declared event (or the harness's own secret-leak drill line, which is not the stack's). */
export function isDeclaredEvent(event: string): boolean {
  return event in LOG_EVENTS || event === 'selftest.leak';
}

/** The lines, once none carries an undeclared event; else a ContractViolation naming the first. Cheap: no schema. */
export function assertDeclaredEvents<L extends { event?: string; service: string }>(lines: L[]): L[] {
  const undeclared = lines.find((l) => l.event && !isDeclaredEvent(l.event));
  if (undeclared)
    throw new ContractViolation(`the log of ${undeclared.service}`, [
      `${undeclaredEvent(undeclared.event!)} (line: ${JSON.stringify(undeclared).slice(0, 200)})`,
    ]);
  return lines;
}

function undeclaredEvent(event: string): string {
  return `event "${event}" is not declared in lib/contract/logs.ts`;
}

/** What is wrong with one log line against the contract (empty: nothing). */
export function logLineProblems(line: Record<string, unknown>): string[] {
  const parsed = LogLineSchema.safeParse(line);
  if (!parsed.success) return parsed.error.issues.map((i) => `field ${i.path.join('.') || '(line)'}: ${i.message}`);
  const event = parsed.data.event;
  if (event === undefined) return [];
  const spec = LOG_EVENTS[event];
  if (!spec) return [undeclaredEvent(event)];
  const problems: string[] = [];
  if (!spec.services.includes(parsed.data.service))
    problems.push(`event "${event}" from ${parsed.data.service}, declared only for ${spec.services.join(', ')}`);
  for (const f of spec.fields ?? []) if (!(f in line)) problems.push(`event "${event}" without its field "${f}"`);
  return problems;
}

/**
 * Every distinct problem in a stack's log lines, each with one example line (at most `max`). Lines the
 * harness itself planted (the secret-leak drill of the report tests, event `selftest.leak`) are not the
 * stack's and are left out.
 */
export function logsProblems(lines: ReadonlyArray<Record<string, unknown>>, max = 10): string[] {
  const seen = new Map<string, string>();
  for (const line of lines) {
    if (line.event === 'selftest.leak') continue;
    for (const p of logLineProblems(line)) if (!seen.has(p)) seen.set(p, JSON.stringify(line).slice(0, 240));
    if (seen.size >= max) break;
  }
  return [...seen].map(([p, example]) => `${p} (e.g. ${example})`);
}
