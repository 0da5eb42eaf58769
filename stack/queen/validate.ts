// Job request validation at the queen (contract §0/§3 rules), before any state changes anywhere:
// a missing or mistyped field → 422 INVALID_REQUEST; out-of-range values → 400 VALIDATION_FAILED listing
// every failing field. The ranges are the worker's inference rules, so bad input never reaches a hive.

import { HttpError } from '../shared/http.ts';
import { RangeChecker, requireShape, isValidModelRef } from '../shared/validate.ts';
import { NODE_NAME_RE } from './registry.ts';

export interface TaskRequest {
  model: string;
  prompt: string;
  max_tokens: number;
  temperature?: number;
  node?: string;
  seed?: number;
  top_p?: number;
  stop?: string[];
}

export function validateTask(body: unknown): TaskRequest {
  const t = requireShape<TaskRequest>(body, {
    model: { type: 'string', required: true },
    prompt: { type: 'string', required: true },
    max_tokens: { type: 'integer', required: true },
    temperature: { type: 'number' },
    node: { type: 'string' },
    seed: { type: 'integer' },
    top_p: { type: 'number' },
    stop: { type: 'array' },
  });
  const c = new RangeChecker();
  c.check(
    isValidModelRef(t.model),
    'model',
    'pattern',
    'model must be a model_ref (provider:reference of [A-Za-z0-9_./:-], at most 512 chars, no "..") or an alias',
    t.model,
  );
  c.check(
    t.prompt.length >= 1 && t.prompt.length <= 32768,
    'prompt',
    'length 1..32768',
    'prompt must be 1 to 32768 characters',
    t.prompt.length > 64 ? `${t.prompt.slice(0, 64)}…` : t.prompt,
  );
  c.check(
    t.max_tokens >= 1 && t.max_tokens <= 2048,
    'max_tokens',
    'range 1..2048',
    'max_tokens must be between 1 and 2048',
    t.max_tokens,
  );
  if (t.temperature !== undefined && t.temperature !== null) {
    c.check(
      t.temperature >= 0 && t.temperature <= 2,
      'temperature',
      'range 0..2',
      'temperature must be between 0 and 2',
      t.temperature,
    );
  }
  if (t.top_p !== undefined && t.top_p !== null) {
    c.check(t.top_p >= 0 && t.top_p <= 1, 'top_p', 'range 0..1', 'top_p must be between 0 and 1', t.top_p);
  }
  if (t.node !== undefined && t.node !== null) {
    c.check(NODE_NAME_RE.test(t.node), 'node', 'pattern', 'node must be 1-64 chars of [A-Za-z0-9_-]', t.node);
  }
  if (t.stop !== undefined && t.stop !== null) {
    if (!t.stop.every((s) => typeof s === 'string')) {
      throw new HttpError(422, 'INVALID_REQUEST', "field 'stop' must be an array of strings", { field: 'stop' });
    }
    c.check(t.stop.length <= 4, 'stop', 'max 4 items', 'at most 4 stop sequences', t.stop.length);
    const bad = t.stop.filter((s) => Buffer.byteLength(s) < 1 || Buffer.byteLength(s) > 100);
    c.check(bad.length === 0, 'stop', 'item length 1..100 bytes', 'each stop sequence must be 1 to 100 bytes', bad);
  }
  c.throwIfAny();
  return t;
}

/** `x-deadline`: absolute Unix epoch milliseconds; absent → null. */
export function parseDeadline(raw: string | string[] | undefined): number | null {
  if (raw === undefined) return null;
  const v = Array.isArray(raw) ? raw[0] : raw;
  const n = Number(v);
  if (v === undefined || v.trim() === '' || !Number.isFinite(n) || n <= 0) {
    throw new HttpError(400, 'VALIDATION_FAILED', 'invalid x-deadline header', {
      errors: [
        {
          field: 'x-deadline',
          constraint: 'epoch milliseconds',
          message: 'x-deadline must be an absolute Unix time in milliseconds',
          value: v,
        },
      ],
    });
  }
  return n;
}
