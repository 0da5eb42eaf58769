// Stack.signalWorker / workerAlive choose where a worker is: its own container (docker default), or a child
// process of its hive (signalled through the hive's handle by the pid the hive reports). A worker whose own
// container is gone is neither signalled through the hive nor reported alive.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Stack } from '../../lib/stack/stack.ts';

type Calls = string[];

function stackWith(workerContainer: ((id: string) => unknown) | undefined, calls: Calls): Stack {
  const hive = {
    signalChild: async (pid: number, sig: string) => void calls.push(`hive ${sig} pid ${pid}`),
    childAlive: async (pid: number) => pid === 7,
  };
  const running = {
    id: 'test',
    services: new Map([['hive-a', hive]]),
    ...(workerContainer ? { workerContainer } : {}),
  };
  // The constructor is private: a stack is normally started; these tests only need the routing.
  return new (Stack as unknown as new (...a: unknown[]) => Stack)({}, {}, running);
}

test('a worker with its own container is signalled and judged alive through that container', async () => {
  const calls: Calls = [];
  const own = { signal: async (sig: string) => void calls.push(`container ${sig}`), running: () => true };
  const stack = stackWith((id) => (id === 'w-1' ? own : null), calls);
  await stack.signalWorker('hive-a', { worker_id: 'w-1', pid: 7 }, 'SIGSTOP');
  assert.deepEqual(calls, ['container SIGSTOP']);
  assert.equal(await stack.workerAlive('hive-a', { worker_id: 'w-1', pid: 7 }), true);
  // Gone (removed after it exited): not alive, and never signalled through the hive by a pid of another namespace.
  assert.equal(await stack.workerAlive('hive-a', { worker_id: 'w-2', pid: 7 }), false);
  await assert.rejects(stack.signalWorker('hive-a', { worker_id: 'w-2', pid: 7 }, 'SIGKILL'), /no container/);
});

test("a hive's child worker is signalled and judged alive through the hive, by its pid", async () => {
  for (const placement of [undefined, () => undefined]) {
    const calls: Calls = [];
    const stack = stackWith(placement, calls);
    await stack.signalWorker('hive-a', { worker_id: 'w-1', pid: 7 }, 'SIGKILL');
    assert.deepEqual(calls, ['hive SIGKILL pid 7']);
    assert.equal(await stack.workerAlive('hive-a', { worker_id: 'w-1', pid: 7 }), true);
    assert.equal(await stack.workerAlive('hive-a', { worker_id: 'w-1', pid: 8 }), false);
    await assert.rejects(stack.signalWorker('hive-a', { worker_id: 'w-1', pid: null }, 'SIGKILL'), /no pid/);
  }
});
