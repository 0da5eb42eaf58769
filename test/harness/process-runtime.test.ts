// The process runtime's failure paths: a service that never becomes healthy, a port that is taken.
// Both must fail with a line naming the service (and its log tail), and leave nothing running.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { ProcessRuntime } from '../../lib/stack/process-runtime.ts';
import { labelledProcesses } from '../../lib/stack/reaper.ts';
import { Stack } from '../../lib/stack/stack.ts';
import { StackSpecBuilder } from '../../lib/stack/spec.ts';

const runId = `t${process.pid}`;

function leftovers(stackId: string) {
  return labelledProcesses().filter((p) => p.stack === stackId);
}

test('a service that never becomes healthy fails start-up with its log tail, leaving nothing', async () => {
  const spec = new StackSpecBuilder().hives(1, 0).build();
  await assert.rejects(
    Stack.start(spec, new ProcessRuntime(), { runId, stackId: 'never-healthy', healthTimeoutMs: 1 }),
    (e: Error) =>
      /^hub never became healthy within 1 ms/.test(e.message) &&
      e.message.includes('last log lines') &&
      !e.message.includes('\n'),
  );
  assert.deepEqual(leftovers('never-healthy'), []);
});

test('a port already taken makes the service exit, and the error says so', async () => {
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  const port = (blocker.address() as net.AddressInfo).port;
  try {
    const spec = new StackSpecBuilder().hives(1, 0).fixedPort('queen', port).build();
    await assert.rejects(
      Stack.start(spec, new ProcessRuntime(), { runId, stackId: 'port-taken', healthTimeoutMs: 15_000 }),
      (e: Error) => /^queen exited before becoming healthy/.test(e.message) && /EADDRINUSE/.test(e.message),
    );
    assert.deepEqual(leftovers('port-taken'), []);
  } finally {
    blocker.close();
  }
});
