// Request validation with the contract's two error shapes:
// a missing or mistyped field → 422 INVALID_REQUEST naming the field;
// values out of range → 400 VALIDATION_FAILED listing every failing field.

import { HttpError } from './http.ts';

type Kind = 'string' | 'number' | 'integer' | 'boolean' | 'array' | 'object';
export type Shape = Record<string, { type: Kind; required?: boolean }>;

function kindOf(v: unknown): Kind | 'null' {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v as Kind;
}

/** Check presence and types; throws 422 INVALID_REQUEST on the first bad field. */
export function requireShape<T>(body: unknown, shape: Shape): T {
  if (kindOf(body) !== 'object')
    throw new HttpError(422, 'INVALID_REQUEST', 'request body must be a JSON object', { field: null });
  const obj = body as Record<string, unknown>;
  for (const [field, rule] of Object.entries(shape)) {
    const v = obj[field];
    if (v === undefined || v === null) {
      if (rule.required) throw new HttpError(422, 'INVALID_REQUEST', `missing required field '${field}'`, { field });
      continue;
    }
    const k = kindOf(v);
    const ok = k === rule.type || (rule.type === 'number' && k === 'integer');
    if (!ok) throw new HttpError(422, 'INVALID_REQUEST', `field '${field}' must be ${rule.type}, got ${k}`, { field });
  }
  return obj as T;
}

export interface FieldError {
  field: string;
  constraint: string;
  message: string;
  value?: unknown;
}

/** Collects range violations and throws one 400 VALIDATION_FAILED listing all of them. */
export class RangeChecker {
  readonly errors: FieldError[] = [];
  check(ok: boolean, field: string, constraint: string, message: string, value?: unknown): this {
    if (!ok) this.errors.push({ field, constraint, message, ...(value === undefined ? {} : { value }) });
    return this;
  }
  throwIfAny(): void {
    if (this.errors.length > 0) {
      throw new HttpError(400, 'VALIDATION_FAILED', `invalid request: ${this.errors.map((e) => e.field).join(', ')}`, {
        errors: this.errors,
      });
    }
  }
}

export const MODEL_REF_RE = /^[A-Za-z0-9_./:-]{1,512}$/;
export function isValidModelRef(ref: string): boolean {
  return MODEL_REF_RE.test(ref) && !ref.includes('..');
}

/** An absolute http(s) URL (a hive or worker address). */
export function isHttpUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}
