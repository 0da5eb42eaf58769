// The contract's SSE streams as zod schemas (contract §1 relay, §2 download progress, §3 inference and
// loading progress). Every `data:` JSON event a client reads is checked against the schema of its route
// (lib/clients/http.ts); one that does not match is a named ContractViolation, kept on the stream's result
// and with the scenario's witness (lib/contract/witness.ts), which fails the scenario at its end.

import { z } from 'zod';

const UpperSnake = z.string().regex(/^[A-Z][A-Z0-9_]*$/, 'UPPER_SNAKE');
const Count = z.number().int().min(0);

/** Contract §3, relayed unchanged by the queen (§1), which prefixes one narration of its own. */
export const InferenceEventSchema = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('narration'),
      actor: z.string().min(1),
      action: z.string().min(1),
      human: z.string(),
      job_id: z.string().min(1),
      correlation_id: z.string().min(1),
    })
    .passthrough(),
  z
    .object({
      type: z.literal('started'),
      job_id: z.string().min(1),
      model: z.string().min(1),
      started_at: z.string().datetime({ offset: true }),
    })
    .passthrough(),
  z.object({ type: z.literal('token'), t: z.string(), i: Count }).passthrough(),
  z
    .object({
      type: z.literal('end'),
      tokens_out: Count,
      decode_time_ms: z.number().min(0),
      stop_reason: z.enum(['MAX_TOKENS', 'EOS', 'STOP_SEQUENCE', 'CANCELLED']),
    })
    .passthrough(),
  z.object({ type: z.literal('error'), code: UpperSnake, message: z.string(), retryable: z.boolean() }).passthrough(),
]);
export type InferenceEvent = z.infer<typeof InferenceEventSchema>;

/** Contract §2: GET /v1/models/download/progress, tagged by stage. */
export const DownloadProgressSchema = z.discriminatedUnion('stage', [
  z
    .object({ stage: z.literal('started'), download_id: z.string().min(1), model_ref: z.string(), bytes_total: Count })
    .passthrough(),
  z
    .object({
      stage: z.literal('downloading'),
      bytes_downloaded: Count,
      bytes_total: Count,
      fraction: z.number().gt(0).max(1),
    })
    .passthrough(),
  z.object({ stage: z.literal('complete'), local_path: z.string().min(1), sha256: z.string().min(1) }).passthrough(),
  z.object({ stage: z.literal('error'), message: z.string() }).passthrough(),
]);

/** Contract §3: GET /v1/loading/progress. */
export const LoadingProgressSchema = z.discriminatedUnion('stage', [
  z.object({ stage: z.literal('loading_to_vram'), layers_loaded: Count, layers_total: Count }).passthrough(),
  z.object({ stage: z.literal('ready') }).passthrough(),
]);
