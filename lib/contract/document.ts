// The contract as code, written out for people (docs/contract.md, `npm run contract:doc`), and held against
// the design contract (shared/design/rbee-contract.md): every route, metric, SSE event type and stage the
// code declares must appear there, except the extensions listed here with their reason. A name added to
// the code and not to the design, or the other way round for those the harness relies on, fails
// test/lib/contract-document.test.ts, so the two cannot drift apart silently.

import { z } from 'zod';
import {
  CatalogSchema,
  ErrorBodySchema,
  HiveWorkerListSchema,
  QueenHiveListSchema,
  QueenWorkerListSchema,
  SystemHealthSchema,
} from './http.ts';
import { LOG_EVENTS } from './logs.ts';
import { METRICS } from './metrics.ts';
import { REQUESTS } from './requests.ts';
import { DownloadProgressSchema, InferenceEventSchema, LoadingProgressSchema } from './sse.ts';

/** Answers the harness reads, by route. */
export const RESPONSES = {
  'any non-2xx answer (§0)': ErrorBodySchema,
  'GET /v2/health (queen)': SystemHealthSchema,
  'GET /v2/registry/beehives/list (queen)': QueenHiveListSchema,
  'GET /v2/workers/list (queen)': QueenWorkerListSchema,
  'GET /v1/workers/list (hive)': HiveWorkerListSchema,
  'GET /v1/models (hive)': CatalogSchema,
} as const;

export const STREAMS = {
  'POST /v2/tasks, POST /v1/inference (queen, worker)': InferenceEventSchema,
  'GET /v1/models/download/progress (hive)': DownloadProgressSchema,
  'GET /v1/loading/progress (worker)': LoadingProgressSchema,
} as const;

/** Names the code declares beyond the design contract, each with why the harness needs it. */
export const EXTENSIONS: Readonly<Record<string, string>> = {
  rbee_worker_slots_total: "the worker's MOCK_SLOTS (§3) as a gauge: slot use is checked against it",
  rbee_worker_slots_busy: 'slots in use now: a worker never runs more jobs than it has slots',
  rbee_worker_slots_busy_max: 'the most slots ever in use at once: concurrency checks need the peak, not a sample',
  rbee_hub_requests_total: "the stand-in hub's own request counter (§4 is a test double: no names given)",
  rbee_hub_request_duration_seconds: "the stand-in hub's own latency histogram",
  rbee_hive_request_duration_seconds: 'the histogram §0 gives every service, under the hive prefix',
  rbee_hive_requests_total: 'the request counter §0 gives every service, under the hive prefix',
  rbee_worker_request_duration_seconds: 'the histogram §0 gives every service, under the worker prefix',
  rbee_worker_requests_total: 'the request counter §0 gives every service, under the worker prefix',
};

/** Route paths in a route key such as "POST /v2/tasks, POST /v1/inference (queen, worker)". */
function pathsOf(key: string): string[] {
  return [...key.matchAll(/\b(?:GET|POST|DELETE) (\/\S+?)(?=[,\s]|$)/g)].map((m) => m[1]!);
}

function literalsOf(schema: z.ZodTypeAny, key: 'type' | 'stage'): string[] {
  type Variant = { properties?: Record<string, { const?: string }> };
  const json = z.toJSONSchema(schema, { unrepresentable: 'any' }) as { oneOf?: Variant[]; anyOf?: Variant[] };
  const variants = json.oneOf ?? json.anyOf ?? [];
  return variants.map((o) => o.properties?.[key]?.const).filter((x): x is string => typeof x === 'string');
}

/** Every name the code declares that the design contract does not mention (and is not an extension). */
export function designDisagreements(design: string): string[] {
  const missing: string[] = [];
  const has = (name: string) => design.includes(name);
  for (const key of [...Object.keys(REQUESTS), ...Object.keys(RESPONSES), ...Object.keys(STREAMS)])
    for (const p of pathsOf(key)) if (!has(p)) missing.push(`route ${p} (${key})`);
  for (const name of Object.keys(METRICS)) if (!has(name) && !EXTENSIONS[name]) missing.push(`metric ${name}`);
  for (const t of literalsOf(InferenceEventSchema, 'type'))
    if (!has(`"type":"${t}"`)) missing.push(`SSE event type ${t}`);
  for (const s of [...literalsOf(DownloadProgressSchema, 'stage'), ...literalsOf(LoadingProgressSchema, 'stage')])
    if (!has(`"stage":"${s}"`)) missing.push(`SSE stage ${s}`);
  for (const name of Object.keys(EXTENSIONS))
    if (has(name)) missing.push(`${name} is listed as an extension but the design names it`);
  return missing;
}

type Json = {
  type?: string | string[];
  properties?: Record<string, Json>;
  required?: string[];
  items?: Json;
  oneOf?: Json[];
  anyOf?: Json[];
  enum?: unknown[];
  const?: unknown;
  [k: string]: unknown;
};

/** One property as a reader wants it: its type and the constraints that matter. */
function describe(p: Json): string {
  if (p.const !== undefined) return `\`${JSON.stringify(p.const)}\``;
  if (p.enum) return p.enum.map((e) => `\`${JSON.stringify(e)}\``).join(' \\| ');
  const alt = p.anyOf ?? p.oneOf;
  if (alt) return alt.map(describe).join(' or ');
  const type = Array.isArray(p.type) ? p.type.join(' or ') : (p.type ?? 'any');
  const bits: string[] = [];
  const range = (lo: unknown, hi: unknown, unit = '') => {
    const l = typeof lo === 'number' && Math.abs(lo) < 1e15 ? lo : undefined;
    const h = typeof hi === 'number' && Math.abs(hi) < 1e15 ? hi : undefined;
    if (l !== undefined && h !== undefined) bits.push(`${l}–${h}${unit}`);
    else if (l !== undefined) bits.push(`≥ ${l}${unit}`);
    else if (h !== undefined) bits.push(`≤ ${h}${unit}`);
  };
  range(p.minimum ?? p.exclusiveMinimum, p.maximum);
  if (p.exclusiveMinimum !== undefined) bits.push('lower bound excluded');
  range(p.minLength, p.maxLength, ' chars');
  range(p.minItems, p.maxItems, ' items');
  if (p.pattern) bits.push(`\`${String(p.pattern)}\``);
  if (p.format) bits.push(String(p.format));
  const items = type === 'array' && p.items ? ` of ${describe(p.items)}` : '';
  if (type === 'object' && p.properties) return `object {${Object.keys(p.properties).join(', ')}}`;
  return `${type}${items}${bits.length ? ` (${bits.join(', ')})` : ''}`;
}

/** A schema as field tables: one per variant of a union, named by its discriminator. */
function fields(schema: z.ZodTypeAny): string {
  const json = z.toJSONSchema(schema, { unrepresentable: 'any' }) as Json;
  const variants = json.oneOf ?? json.anyOf ?? [json];
  return variants
    .map((v) => {
      const tag = Object.entries(v.properties ?? {}).find(([, p]) => p.const !== undefined);
      const head = tag && variants.length > 1 ? `${tag[0]} = \`${String(tag[1].const)}\`:\n\n` : '';
      const rows = Object.entries(v.properties ?? {}).map(
        ([name, p]) =>
          `| \`${name}\` | ${describe(p)
            .replace(/\|/g, '\\|')
            .replace(/\\\\\|/g, '\\|')} | ${v.required?.includes(name) ? 'yes' : ''} |`,
      );
      return `${head}| field | type | required |\n|---|---|---|\n${rows.join('\n')}`;
    })
    .join('\n\n');
}

/** docs/contract.md: generated, never edited by hand. */
export function contractDocument(): string {
  const out: string[] = [
    '# The contract as code',
    '',
    'Generated from `lib/contract/` by `npm run contract:doc`; do not edit by hand (a unit test fails when this',
    'page and the code disagree). The design contract is `shared/design/rbee-contract.md`; every name below',
    'appears there, except the extensions listed at the end.',
    '',
    '## Requests the harness sends',
    '',
  ];
  for (const [route, schema] of Object.entries(REQUESTS)) out.push(`### ${route}`, '', fields(schema), '');
  out.push('## Answers the harness reads', '');
  for (const [route, schema] of Object.entries(RESPONSES)) out.push(`### ${route}`, '', fields(schema), '');
  out.push('## SSE streams (one `data:` JSON event each, then `data: [DONE]`)', '');
  for (const [route, schema] of Object.entries(STREAMS)) out.push(`### ${route}`, '', fields(schema), '');
  out.push('## Log events', '', '| event | services | required fields |', '|---|---|---|');
  for (const [event, spec] of Object.entries(LOG_EVENTS))
    out.push(`| \`${event}\` | ${spec.services.join(', ')} | ${(spec.fields ?? []).join(', ') || '–'} |`);
  out.push('', '## Metrics', '', '| metric | type | labels |', '|---|---|---|');
  for (const [name, spec] of Object.entries(METRICS))
    out.push(`| \`${name}\` | ${spec.type} | ${spec.labels.join(', ') || '–'} |`);
  out.push('', '## Extensions to the design contract', '', '| name | why |', '|---|---|');
  for (const [name, why] of Object.entries(EXTENSIONS)) out.push(`| \`${name}\` | ${why} |`);
  return out.join('\n') + '\n';
}
