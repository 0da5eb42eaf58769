// Property-based fuzzing of the stack's public routes (fast-check: seeded, replayable, shrinking). Each
// generated request is invalid in a known way — a field of the wrong type, a required field missing,
// values out of range (several at once), an unknown extra field on top, bad JSON, an empty body, a body
// that is not an object, a body over the 2-MiB limit, a wrong token — and has exactly one right answer by
// contract §0: the error status and code, every failing field named, the request's correlation id echoed,
// never a 5xx, never a hang. This module knows the routes and what each mutation must get; the step that
// runs it (steps/contract.steps.ts) sends the requests and checks the stack's state did not change.

import fc from 'fast-check';

type Kind = 'string' | 'integer' | 'number' | 'array';

interface FieldRule {
  kind: Kind;
  required?: boolean;
  /** Values of the right type that the contract's ranges refuse (400 VALIDATION_FAILED). */
  outOfRange: readonly unknown[];
}

export interface FuzzRoute {
  service: 'queen' | 'hive' | 'worker';
  path: string;
  /** A valid body; every mutation makes it invalid. */
  valid: Record<string, unknown>;
  fields: Record<string, FieldRule>;
}

const TASK_FIELDS: Record<string, FieldRule> = {
  model: { kind: 'string', required: true, outOfRange: ['', 'no spaces allowed', 'a'.repeat(513), 'hf:../up'] },
  prompt: { kind: 'string', required: true, outOfRange: ['', 'x'.repeat(32769)] },
  max_tokens: { kind: 'integer', required: true, outOfRange: [0, -1, 2049, 1_000_000] },
  temperature: { kind: 'number', outOfRange: [-0.5, 2.01, 100] },
  top_p: { kind: 'number', outOfRange: [-0.01, 1.5] },
  node: { kind: 'string', outOfRange: ['', 'has space', 'n'.repeat(65)] },
  stop: { kind: 'array', outOfRange: [['a', 'b', 'c', 'd', 'e'], [''], ['s'.repeat(101)]] },
};

/** The public routes that take a body, with a valid body for each (`model` is filled in by the caller). */
export function fuzzRoutes(model: string): FuzzRoute[] {
  const task = { model, prompt: 'hello', max_tokens: 4 };
  return [
    { service: 'queen', path: '/v2/tasks', valid: task, fields: TASK_FIELDS },
    { service: 'queen', path: '/v1/inference', valid: task, fields: TASK_FIELDS },
    {
      service: 'hive',
      path: '/v1/workers/spawn',
      valid: { model_ref: model, backend: 'cpu', device: 0 },
      fields: {
        model_ref: { kind: 'string', required: true, outOfRange: ['', 'bad ref', 'hf:../x'] },
        backend: { kind: 'string', outOfRange: ['tpu', ''] },
        device: { kind: 'integer', outOfRange: [-1] },
      },
    },
    {
      service: 'worker',
      path: '/v1/inference',
      valid: { job_id: 'fuzz-job', prompt: 'hello', max_tokens: 4 },
      fields: {
        job_id: { kind: 'string', required: true, outOfRange: [''] },
        prompt: { kind: 'string', required: true, outOfRange: [''] },
        max_tokens: { kind: 'integer', required: true, outOfRange: [0, -5, 2049] },
        temperature: { kind: 'number', outOfRange: [-1, 2.5] },
        top_p: { kind: 'number', outOfRange: [1.01, -0.2] },
      },
    },
  ];
}

/** A generated request and the answer the contract requires for it. */
export interface FuzzCase {
  route: FuzzRoute;
  mutation: string;
  /** JSON body, or raw text when `raw` is set. */
  body?: unknown;
  raw?: string;
  /** Send a wrong bearer instead of the service token. */
  wrongToken?: boolean;
  /** The status, the codes allowed (a wrong token may be an API key or a JWT), the fields to be named. */
  expect: { status: number; code: string; codes?: string[]; fields: string[] };
}

const OTHER_TYPE: Record<Kind, readonly unknown[]> = {
  string: [42, true, ['a'], { a: 1 }],
  integer: ['4', 1.5, true, [1], { n: 1 }],
  number: ['0.5', false, [0.5], { x: 1 }],
  array: ['stop', 3, { 0: 'a' }, true],
};

const extraField = fc.record({
  name: fc.constantFrom('unexpected', 'extra_field', '__proto_x', 'Model', 'max_tokens_'),
  value: fc.oneof(fc.string({ maxLength: 20 }), fc.integer(), fc.boolean(), fc.constant(null)),
});

function mutations(route: FuzzRoute): fc.Arbitrary<FuzzCase> {
  const names = Object.keys(route.fields);
  const required = names.filter((n) => route.fields[n]!.required);
  const base = (extra?: { name: string; value: unknown }) =>
    extra ? { ...route.valid, [extra.name]: extra.value } : { ...route.valid };
  const wrongType = fc
    .record({ field: fc.constantFrom(...names), pick: fc.nat(), extra: fc.option(extraField, { nil: undefined }) })
    .map(({ field, pick, extra }): FuzzCase => {
      const others = OTHER_TYPE[route.fields[field]!.kind];
      return {
        route,
        mutation: `wrong type for ${field}`,
        body: { ...base(extra), [field]: others[pick % others.length] },
        expect: { status: 422, code: 'INVALID_REQUEST', fields: [field] },
      };
    });
  const missing = fc
    .record({ field: fc.constantFrom(...required), extra: fc.option(extraField, { nil: undefined }) })
    .map(({ field, extra }): FuzzCase => {
      const body: Record<string, unknown> = base(extra);
      delete body[field];
      return {
        route,
        mutation: `missing ${field}`,
        body,
        expect: { status: 422, code: 'INVALID_REQUEST', fields: [field] },
      };
    });
  const outOfRange = fc
    .record({
      fields: fc.subarray(names, { minLength: 1 }),
      pick: fc.nat(),
      extra: fc.option(extraField, { nil: undefined }),
    })
    .map(({ fields, pick, extra }): FuzzCase => {
      const body: Record<string, unknown> = base(extra);
      for (const f of fields) {
        const bad = route.fields[f]!.outOfRange;
        body[f] = bad[pick % bad.length];
      }
      return {
        route,
        mutation: `out of range: ${fields.join(', ')}`,
        body,
        expect: { status: 400, code: 'VALIDATION_FAILED', fields },
      };
    });
  const raw = fc.constantFrom<FuzzCase>(
    { route, mutation: 'bad JSON', raw: '{"model": ', expect: { status: 400, code: 'INVALID_JSON', fields: [] } },
    { route, mutation: 'not an object', raw: '[1,2,3]', expect: { status: 422, code: 'INVALID_REQUEST', fields: [] } },
    { route, mutation: 'empty body', raw: '', expect: { status: 400, code: 'INVALID_JSON', fields: [] } },
    {
      route,
      mutation: 'body over 2 MiB',
      raw: JSON.stringify({ ...route.valid, prompt: 'x'.repeat(2 * 1024 * 1024 + 10) }),
      expect: { status: 413, code: 'PAYLOAD_TOO_LARGE', fields: [] },
    },
    {
      route,
      mutation: 'wrong token',
      body: route.valid,
      wrongToken: true,
      expect: { status: 401, code: 'INVALID_API_KEY', codes: ['INVALID_API_KEY', 'INVALID_TOKEN'], fields: [] },
    },
  );
  return fc.oneof(wrongType, missing, outOfRange, raw);
}

/** Invalid requests to every route; each prints as one line in fast-check's report. */
export function fuzzCases(routes: readonly FuzzRoute[]): fc.Arbitrary<FuzzCase> {
  return fc
    .oneof(...routes.map(mutations))
    .map((c) => Object.assign(c, { [fc.toStringMethod]: () => describeCase(c) }));
}

export function describeCase(c: FuzzCase): string {
  const body =
    c.raw !== undefined
      ? `raw ${JSON.stringify(c.raw.slice(0, 60))}${c.raw.length > 60 ? `… (${c.raw.length} bytes)` : ''}`
      : JSON.stringify(c.body)?.slice(0, 200);
  return `${c.route.service} POST ${c.route.path} (${c.mutation}${c.wrongToken ? ', wrong token' : ''}): ${body}`;
}

/** fast-check's failure report, led by the problem: "<what was wrong> — counterexample …, seed …". */
export function fuzzFailure(e: Error): string {
  const m = e.message;
  const cause = (e as { cause?: unknown }).cause;
  const got = cause instanceof Error ? cause.message : (/Got error: (?:Error: )?(.*)/.exec(m)?.[1] ?? m.split('\n')[0]);
  const counterexample = /Counterexample: (.*)/.exec(m)?.[1] ?? '?';
  const replay = /\{ seed: (-?\d+), path: "([^"]*)"/.exec(m);
  return `${got} — shrunk counterexample: ${counterexample}${replay ? ` — fast-check seed ${replay[1]}, path ${replay[2]}` : ''}`;
}

/** An answer as the step saw it. */
export interface FuzzAnswer {
  status: number;
  json: any;
  correlationId: string;
}

/** What is wrong with an answer to a case (empty: it is the contract's). */
export function fuzzAnswerProblems(c: FuzzCase, a: FuzzAnswer): string[] {
  const p: string[] = [];
  const e = a.json?.error;
  if (a.status >= 500) p.push(`a ${a.status} (${e?.code}: ${e?.message})`);
  else if (a.status !== c.expect.status) p.push(`status ${a.status} (${e?.code}), expected ${c.expect.status}`);
  if (!(c.expect.codes ?? [c.expect.code]).includes(e?.code)) p.push(`code ${e?.code}, expected ${c.expect.code}`);
  if (e?.correlation_id !== a.correlationId)
    p.push(`correlation_id ${JSON.stringify(e?.correlation_id)}, sent ${a.correlationId}`);
  if (c.expect.code === 'VALIDATION_FAILED') {
    const listed = new Set<string>((e?.errors ?? []).map((x: { field: string }) => x.field));
    const unlisted = c.expect.fields.filter((f) => !listed.has(f));
    if (unlisted.length) p.push(`errors[] does not list ${unlisted.join(', ')} (lists ${[...listed].join(', ')})`);
  } else if (c.expect.code === 'INVALID_REQUEST' && c.expect.fields.length) {
    const f = c.expect.fields[0]!;
    if (e?.field !== f && !String(e?.message ?? '').includes(f)) p.push(`the error does not name the field ${f}`);
  }
  return p;
}
