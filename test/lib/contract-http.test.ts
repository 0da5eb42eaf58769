// conform(): an answer that matches gives the typed body; one that does not is a ContractViolation that
// names the route, each wrong field, what was expected and what came back.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { conform, ContractViolation, ErrorBodySchema, HiveWorkerListSchema } from '../../lib/contract/http.ts';

const worker = {
  worker_id: 'worker-1',
  url: 'http://127.0.0.1:8100',
  model_ref: 'hf:a/b',
  state: 'idle',
  pid: 12,
  restart_count: 0,
  external: false,
  last_heartbeat_ms: null,
  failed_health_checks: 0,
};

test('a matching answer comes back typed', () => {
  const list = conform('GET /v1/workers/list', HiveWorkerListSchema, { workers: [worker], recently_removed: [] });
  assert.equal(list.workers[0]!.worker_id, 'worker-1');
});

test('a renamed field is a violation naming the route, the field and what the answer has instead', () => {
  const { worker_id, ...rest } = worker;
  const renamed = { ...rest, workerId: worker_id };
  assert.throws(
    () => conform('GET hive-a/v1/workers/list', HiveWorkerListSchema, { workers: [renamed] }),
    (e: unknown) =>
      e instanceof ContractViolation &&
      /GET hive-a\/v1\/workers\/list/.test(e.message) &&
      /workers\.0\.worker_id: missing/.test(e.message) &&
      /the answer has: .*workerId/.test(e.message),
  );
});

test('an error body without correlation_id, or with a lower-case code, is a violation', () => {
  assert.throws(
    () => conform('POST /v2/tasks → 400', ErrorBodySchema, { error: { code: 'VALIDATION_FAILED', message: 'x' } }),
    /error\.correlation_id: missing/,
  );
  assert.throws(
    () =>
      conform('POST /v2/tasks → 400', ErrorBodySchema, { error: { code: 'bad', message: 'x', correlation_id: 'c' } }),
    /error\.code: .*UPPER_SNAKE.*got "bad"/,
  );
});
