// endOnNetwork: ends on one network never overlap (Docker 20.10 deadlocks otherwise), each lasts until its
// container is gone, other networks are not held back, and an end that fails still lets the next one go.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { endOnNetwork } from '../../lib/docker/exit-gate.ts';
import { delay } from '../../lib/observe/eventually.ts';

test('ends on one network run one at a time, each until its container is gone', async () => {
  const spans: Array<[string, number, number]> = [];
  const end = (name: string) =>
    endOnNetwork(
      'net-a',
      async () => {
        const t0 = performance.now();
        await delay(20);
        spans.push([name, t0, 0]);
      },
      async () => {
        await delay(20); // the engine's cleanup after the API answered
        spans.find((s) => s[0] === name)![2] = performance.now();
      },
    );
  await Promise.all([end('hive'), end('worker-1'), end('worker-2')]);
  assert.deepEqual(
    spans.map((s) => s[0]),
    ['hive', 'worker-1', 'worker-2'],
  );
  for (let i = 1; i < spans.length; i++)
    assert.ok(spans[i]![1] >= spans[i - 1]![2], `${spans[i]![0]} began before ${spans[i - 1]![0]} was gone`);
});

test('another network is not held back, and a failed end releases its turn', async () => {
  const order: string[] = [];
  const slow = endOnNetwork('net-b', async () => {
    await delay(150);
    order.push('b');
  });
  await endOnNetwork('net-c', async () => {
    order.push('c');
  });
  assert.deepEqual(order, ['c'], 'net-c did not wait for net-b');
  await slow;
  await assert.rejects(
    endOnNetwork('net-d', async () => {
      throw new Error('engine said no');
    }),
    /engine said no/,
  );
  assert.equal(await endOnNetwork('net-d', async () => 'next'), 'next');
});
