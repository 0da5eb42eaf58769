// Inference request validation (contract §3 and §0 "Errors"): a missing or mistyped field is a 422
// INVALID_REQUEST naming it; values out of range are one 400 VALIDATION_FAILED listing every failing field,
// so a client fixes its request in one round trip.

import { HttpError } from '../shared/http.ts';
import { RangeChecker, requireShape } from '../shared/validate.ts';

export interface InferenceRequest {
  job_id: string;
  prompt: string;
  max_tokens: number;
  temperature: number;
  top_p: number;
  /** Absent seed = seed 0: output is deterministic for a prompt either way. */
  seed: number;
  stop: string[];
}

export const LIMITS = {
  promptMaxChars: 32768,
  maxTokensMax: 2048,
  temperatureMax: 2,
  stopMaxItems: 4,
  stopMaxBytes: 100,
} as const;

type RawRequest = {
  job_id: string;
  prompt: string;
  max_tokens: number;
  temperature?: number;
  seed?: number;
  top_p?: number;
  stop?: unknown[];
};

/** Validate a parsed JSON body; returns the request with defaults filled in, or throws HttpError. */
export function validateInferenceRequest(body: unknown): InferenceRequest {
  const b = requireShape<RawRequest>(body, {
    job_id: { type: 'string', required: true },
    prompt: { type: 'string', required: true },
    max_tokens: { type: 'integer', required: true },
    temperature: { type: 'number' },
    seed: { type: 'integer' },
    top_p: { type: 'number' },
    stop: { type: 'array' },
  });
  const stop = b.stop ?? [];
  // The shape check only sees "array"; a non-string element is still a mistyped field (422).
  const bad = stop.findIndex((s) => typeof s !== 'string');
  if (bad >= 0)
    throw new HttpError(422, 'INVALID_REQUEST', `field 'stop' must be an array of strings (element ${bad} is not)`, {
      field: 'stop',
    });
  const stops = stop as string[];

  const temperature = b.temperature ?? 1.0;
  const topP = b.top_p ?? 1.0;
  // "chars" are Unicode code points, so an emoji counts as one character, not two UTF-16 units.
  const promptChars = [...b.prompt].length;
  const c = new RangeChecker()
    .check(b.job_id.length > 0, 'job_id', 'non_empty', 'job_id must not be empty', b.job_id)
    .check(
      promptChars >= 1 && promptChars <= LIMITS.promptMaxChars,
      'prompt',
      `length 1..${LIMITS.promptMaxChars}`,
      `prompt must be 1..${LIMITS.promptMaxChars} characters, got ${promptChars}`,
    )
    .check(
      b.max_tokens >= 1 && b.max_tokens <= LIMITS.maxTokensMax,
      'max_tokens',
      `range 1..${LIMITS.maxTokensMax}`,
      `max_tokens must be 1..${LIMITS.maxTokensMax}`,
      b.max_tokens,
    )
    .check(
      temperature >= 0 && temperature <= LIMITS.temperatureMax,
      'temperature',
      `range 0..${LIMITS.temperatureMax}`,
      `temperature must be 0..${LIMITS.temperatureMax}`,
      temperature,
    )
    .check(topP >= 0 && topP <= 1, 'top_p', 'range 0..1', 'top_p must be 0..1', topP)
    .check(
      stops.length <= LIMITS.stopMaxItems,
      'stop',
      `max_items ${LIMITS.stopMaxItems}`,
      `at most ${LIMITS.stopMaxItems} stop sequences, got ${stops.length}`,
      stops.length,
    );
  stops.forEach((s, i) => {
    const bytes = Buffer.byteLength(s, 'utf8');
    c.check(
      bytes >= 1 && bytes <= LIMITS.stopMaxBytes,
      'stop',
      `item_bytes 1..${LIMITS.stopMaxBytes}`,
      `stop[${i}] must be 1..${LIMITS.stopMaxBytes} bytes, got ${bytes}`,
      s,
    );
  });
  c.throwIfAny();

  return {
    job_id: b.job_id,
    prompt: b.prompt,
    max_tokens: b.max_tokens,
    temperature,
    top_p: topP,
    seed: b.seed ?? 0,
    stop: stops,
  };
}
