// freeze: the engine's transient "unable to freeze" (cgroup v1 freezer under load) is tried again within a
// bound; any other engine error fails at once with the engine's words.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { freeze } from '../../lib/docker/service-container.ts';

function engineError(message: string, statusCode = 500) {
  return Object.assign(new Error(`(HTTP code ${statusCode}) ${message}`), { statusCode, json: { message } });
}

const transient = 'Cannot pause container abc: OCI runtime pause failed: unable to freeze: unknown';

test('a pause the freezer could not apply is tried again until it holds', async () => {
  let calls = 0;
  await freeze(
    {
      pause: async () => {
        if (++calls < 3) throw engineError(transient);
      },
    } as never,
    'worker-1',
  );
  assert.equal(calls, 3);
});

test('any other engine error is final and named', async () => {
  let calls = 0;
  await assert.rejects(
    freeze(
      {
        pause: async () => {
          calls++;
          throw engineError('Container abc is not running', 409);
        },
      } as never,
      'worker-1',
    ),
    /not running/,
  );
  assert.equal(calls, 1);
});

test('a freezer that never succeeds fails within the bound, with the last engine message', async () => {
  const t0 = Date.now();
  await assert.rejects(
    freeze({ pause: async () => Promise.reject(engineError(transient)) } as never, 'worker-1'),
    (e: Error) => /freeze worker-1/.test(e.message) && /unable to freeze/.test(e.message),
  );
  assert.ok(Date.now() - t0 < 4000);
});
