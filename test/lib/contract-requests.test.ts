// The fuzzer and the request schemas agree: every valid body the fuzzer starts from conforms, and every
// value it uses as out of range, or of the wrong type, is refused by the schema of its route. A fuzzer that
// drifted from the contract would otherwise "find" bugs that are its own, or miss the ones that are real.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fuzzRoutes } from '../../lib/contract/fuzz.ts';
import { SpawnRequestSchema, TaskRequestSchema, WorkerInferenceSchema } from '../../lib/contract/requests.ts';

const SCHEMAS = {
  'queen /v2/tasks': TaskRequestSchema,
  'queen /v1/inference': TaskRequestSchema,
  'hive /v1/workers/spawn': SpawnRequestSchema,
  'worker /v1/inference': WorkerInferenceSchema,
} as const;

const OTHER_TYPE = { string: 42, integer: '4', number: '0.5', array: 'stop' } as const;

test('the fuzzer starts from bodies the contract accepts, and its bad values are bad by the contract', () => {
  const routes = fuzzRoutes('hf:TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF');
  assert.equal(routes.length, Object.keys(SCHEMAS).length);
  for (const r of routes) {
    const schema = SCHEMAS[`${r.service} ${r.path}` as keyof typeof SCHEMAS];
    assert.ok(schema, `no request schema for ${r.service} ${r.path}`);
    const ok = schema.safeParse(r.valid);
    assert.equal(ok.success, true, `${r.path}: valid body refused: ${JSON.stringify(ok.error?.issues)}`);
    for (const [field, rule] of Object.entries(r.fields)) {
      for (const bad of rule.outOfRange)
        assert.equal(
          schema.safeParse({ ...r.valid, [field]: bad }).success,
          false,
          `${r.path}: ${field}=${JSON.stringify(bad).slice(0, 40)} passes the schema`,
        );
      assert.equal(schema.safeParse({ ...r.valid, [field]: OTHER_TYPE[rule.kind] }).success, false);
      if (rule.required) {
        const { [field]: _gone, ...rest } = r.valid;
        assert.equal(schema.safeParse(rest).success, false, `${r.path}: ${field} is required`);
      }
    }
    assert.equal(schema.safeParse({ ...r.valid, unexpected: 1 }).success, false, `${r.path}: an extra field`);
  }
});
