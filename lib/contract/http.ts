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
      /** 400 VALIDATION_FAILED: every failing field. */
      errors: z
        .array(z.object({ field: z.string(), constraint: z.string(), message: z.string() }).passthrough())
        .optional(),
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

/** Contract §2: GET /v1/models, the hive's catalog. */
export const CatalogSchema = z
  .object({
    models: z.array(
      z
        .object({ model_ref: z.string(), local_path: z.string(), size_bytes: z.number(), sha256: z.string() })
        .passthrough(),
    ),
  })
  .passthrough();
export type CatalogModel = z.infer<typeof CatalogSchema>['models'][number];

const HiveStatusSchema = z.enum(['available', 'unavailable']);
const CircuitSchema = z.enum(['closed', 'open', 'half_open']);

/** Contract §1: GET /v2/registry/beehives/list. */
export const QueenHiveListSchema = z
  .object({
    nodes: z.array(
      z
        .object({
          node_name: z.string(),
          url: z.string(),
          status: HiveStatusSchema,
          circuit: CircuitSchema,
          last_heartbeat_ms: z.number().nullable(),
        })
        .passthrough(),
    ),
  })
  .passthrough();
export type QueenHive = z.infer<typeof QueenHiveListSchema>['nodes'][number];

/** Contract §1: GET /v2/workers/list (workers of available hives). */
export const QueenWorkerListSchema = z
  .object({
    workers: z.array(
      z.object({ worker_id: z.string(), node: z.string(), state: z.string(), healthy: z.boolean() }).passthrough(),
    ),
  })
  .passthrough();
export type QueenWorker = z.infer<typeof QueenWorkerListSchema>['workers'][number];

/** Contract §1: GET /v2/health, the system view. */
export const SystemHealthSchema = z
  .object({
    status: z.enum(['ok', 'degraded', 'down']),
    reasons: z.array(z.string()),
    hives: z.array(
      z
        .object({
          node_name: z.string(),
          status: HiveStatusSchema,
          circuit: CircuitSchema,
          reasons: z.array(z.string()),
          workers: z.array(z.object({ worker_id: z.string(), state: z.string(), healthy: z.boolean() }).passthrough()),
        })
        .passthrough(),
    ),
  })
  .passthrough();
export type SystemHealth = z.infer<typeof SystemHealthSchema>;

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
