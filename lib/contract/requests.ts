// The request bodies of the contract, as zod schemas: what the harness sends to each route (its clients
// and the fuzzer, lib/contract/fuzz.ts) and the ranges a service must enforce. The fuzzer's valid bodies
// conform and each of its out-of-range values does not (test/lib/contract-requests.test.ts), so the
// requests it generates are invalid for the contract's reasons, not the fuzzer's own.

import { z } from 'zod';

/** Contract §2: `provider:reference`, charset [A-Za-z0-9_./:-], at most 512, no `..`. */
export const ModelRefSchema = z
  .string()
  .min(1)
  .max(512)
  .regex(/^[A-Za-z0-9_./:-]+$/, 'charset [A-Za-z0-9_./:-]')
  .refine((s) => !s.includes('..'), 'no ".."');

const NodeNameSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9_-]+$/, '[A-Za-z0-9_-]{1,64}');

/** Contract §1: POST /v2/tasks and POST /v1/inference (queen). */
export const TaskRequestSchema = z
  .object({
    model: ModelRefSchema,
    prompt: z.string().min(1).max(32_768),
    max_tokens: z.number().int().min(1).max(2048),
    temperature: z.number().min(0).max(2).optional(),
    top_p: z.number().min(0).max(1).optional(),
    node: NodeNameSchema.optional(),
    seed: z.number().int().optional(),
    stop: z.array(z.string().min(1).max(100)).max(4).optional(),
  })
  .strict();
export type TaskRequestBody = z.infer<typeof TaskRequestSchema>;

/** Contract §3: POST /v1/inference (worker). */
export const WorkerInferenceSchema = TaskRequestSchema.omit({ model: true, node: true }).extend({
  job_id: z.string().min(1),
});

/** Contract §2: POST /v1/workers/spawn. */
export const SpawnRequestSchema = z
  .object({ model_ref: ModelRefSchema, backend: z.literal('cpu'), device: z.number().int().min(0) })
  .strict();

/** Contract §2: POST /v1/workers/ready (the worker's callback, sent by the harness for external workers). */
export const ReadyCallbackSchema = z
  .object({
    worker_id: z.string().min(1),
    url: z.string().url(),
    model_ref: ModelRefSchema,
    backend: z.string(),
    device: z.number().int().min(0),
  })
  .passthrough();

/** Contract §2: POST /v1/models/download; §1/§2: POST …/shutdown of one worker; §1: add a hive. */
export const DownloadRequestSchema = z.object({ model_ref: ModelRefSchema }).strict();
export const WorkerShutdownSchema = z.object({ worker_id: z.string().min(1) }).strict();
export const AddHiveSchema = z.object({ node_name: NodeNameSchema, url: z.string().url() }).strict();

/** Each route the harness sends a body to, with its schema (the generated contract page lists them). */
export const REQUESTS = {
  'POST /v2/tasks (queen)': TaskRequestSchema,
  'POST /v1/inference (queen)': TaskRequestSchema,
  'POST /v2/registry/beehives/add (queen)': AddHiveSchema,
  'POST /v2/workers/shutdown (queen)': WorkerShutdownSchema,
  'POST /v1/workers/spawn (hive)': SpawnRequestSchema,
  'POST /v1/workers/ready (hive)': ReadyCallbackSchema,
  'POST /v1/workers/shutdown (hive)': WorkerShutdownSchema,
  'POST /v1/models/download (hive)': DownloadRequestSchema,
  'POST /v1/inference (worker)': WorkerInferenceSchema,
} as const;
