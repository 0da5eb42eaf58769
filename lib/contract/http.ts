// Answers of the contract as zod schemas, and `conform`, which turns an answer that does not match into a
// named ContractViolation (route, field, what was expected, what came back) instead of a value cast away
// or a silent undefined three steps later. The clients validate with these (lib/clients/rbee.ts,
// lib/clients/http.ts); so far: the error body every non-2xx answer carries (§0) and the hive's worker
// list (§2), which almost every scenario reads.

import { z } from 'zod';
import { GiveUp } from '../observe/eventually.ts';

/** Contract §0: every non-2xx body. */
export const ErrorBodySchema = z.object({
  error: z
    .object({
      code: z.string().regex(/^[A-Z][A-Z0-9_]*$/, 'UPPER_SNAKE'),
      message: z.string(),
      correlation_id: z.string().min(1),
      retryable: z.boolean().optional(),
      retry_after_ms: z.number().optional(),
    })
    .passthrough(),
});

export const WORKER_STATES = ['loading', 'idle', 'busy', 'unhealthy', 'stopping', 'crashed'] as const;

/** Contract §2: one worker as its hive lists it. */
export const HiveWorkerSchema = z
  .object({
    worker_id: z.string().min(1),
    url: z.string().url(),
    model_ref: z.string(),
    state: z.enum(WORKER_STATES),
    pid: z.number().int().nullable(),
    restart_count: z.number().int().min(0),
    external: z.boolean(),
    last_heartbeat_ms: z.number().nullable(),
    failed_health_checks: z.number().int().min(0),
  })
  .passthrough();

/** Contract §2: GET /v1/workers/list. */
export const HiveWorkerListSchema = z
  .object({
    workers: z.array(HiveWorkerSchema),
    recently_removed: z.array(z.object({ worker_id: z.string(), reason: z.string() }).passthrough()).optional(),
  })
  .passthrough();

export type HiveWorker = z.infer<typeof HiveWorkerSchema>;

/**
 * An answer that does not match the contract: names the route, each wrong field, expected and got. A
 * GiveUp: waiting cannot mend a build that answers wrongly, so `eventually` stops at once.
 */
export class ContractViolation extends GiveUp {
  override name = 'ContractViolation';
  constructor(
    /** What broke it: "the answer to GET …/v1/workers/list", "the log of hive". */
    readonly where: string,
    readonly issues: readonly string[],
  ) {
    super(`contract violation in ${where}: ${issues.join('; ')}`);
  }
}

/** The body, typed, when it matches the schema; else a ContractViolation naming every mismatch. */
export function conform<T>(route: string, schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  throw new ContractViolation(
    `the answer to ${route}`,
    r.error.issues.map((i) => {
      const field = i.path.length ? i.path.join('.') : '(body)';
      const got = valueAt(body, i.path);
      if (got !== undefined) return `${field}: ${i.message} (got ${JSON.stringify(got)?.slice(0, 80)})`;
      const parent = valueAt(body, i.path.slice(0, -1));
      const present = parent && typeof parent === 'object' ? Object.keys(parent).join(', ') : 'none';
      return `${field}: missing (${i.message}); the answer has: ${present}`;
    }),
  );
}

function valueAt(body: unknown, p: readonly PropertyKey[]): unknown {
  let v: unknown = body;
  for (const k of p) v = v && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[k] : undefined;
  return v;
}
