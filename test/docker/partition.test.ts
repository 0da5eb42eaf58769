// Partitions: traffic between two containers really stops — including on a keep-alive connection that
// was open before — while the harness still reaches both; heal removes exactly those rules and traffic
// flows again. One-way: a can no longer call b, b can still call a.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually } from '../../lib/observe/eventually.ts';
import { execFileSync } from 'node:child_process';
import { activePartitions, heal, partition, partitionWorker } from '../../lib/docker/netns.ts';
import { makeSecrets } from '../../lib/stack/secrets.ts';
import { StackSpecBuilder } from '../../lib/stack/spec.ts';
import { getJson, leftovers, noEngine, peerRuntime, runId, workDir } from './helpers.ts';

const isRoot = process.getuid?.() === 0;
const skip = noEngine || (isRoot ? false : 'partitions need root (nsenter into container network namespaces)');

interface Probe {
  ok: boolean;
  status?: number;
  error?: string;
  localPort?: number;
  reused: boolean;
}

test('partition cuts established connections both ways, heal restores them', { skip, timeout: 180_000 }, async () => {
  const spec = new StackSpecBuilder().hives(1, 0).build();
  const stack = await (
    await peerRuntime({ only: ['hub', 'queen'] })
  ).start(spec, await makeSecrets(), {
    runId,
    stackId: 'part',
    workDir: workDir('part'),
    healthTimeoutMs: 20_000,
  });
  try {
    const queen = stack.service('queen');
    const hub = stack.service('hub');
    const probe = (from: typeof queen, to: string): Promise<Probe> =>
      getJson(`${from.url}/probe?url=${encodeURIComponent(to)}&timeout=1500`);

    const before = await probe(queen, 'http://hub:8000/health');
    assert.equal(before.ok, true, JSON.stringify(before));

    const p = await partition(stack, 'queen', 'hub');
    const during = await probe(queen, 'http://hub:8000/health');
    assert.equal(during.reused, true, 'the probe went over the connection opened before the partition');
    assert.equal(during.localPort, before.localPort);
    assert.deepEqual([during.ok, during.error], [false, 'timeout'], 'no answer on the established connection');
    const fresh = await probe(queen, 'http://hub:8000/health');
    assert.equal(fresh.ok, false, 'nor on a new one');
    const back = await probe(hub, 'http://queen:8080/health');
    assert.equal(back.ok, false, 'nor the other way');
    // The harness still sees both sides.
    assert.equal((await getJson(`${queen.url}/health`)).status, 'ok');
    assert.equal((await getJson(`${hub.url}/health`)).status, 'ok');

    await heal(stack, p);
    assert.deepEqual(activePartitions(stack), []);
    const pid = (await hub.container.inspect()).State.Pid;
    assert.doesNotMatch(
      execFileSync('nsenter', ['-t', String(pid), '-n', 'iptables', '-S'], { encoding: 'utf8' }),
      /rbee-acceptance/,
    );
    assert.equal((await probe(queen, 'http://hub:8000/health')).ok, true, 'traffic flows after heal');
    assert.equal((await probe(hub, 'http://queen:8080/health')).ok, true);
  } finally {
    await stack.stop();
  }
  assert.deepEqual(await leftovers('part'), []);
});

test('a one-way partition stops a → b and keeps b → a', { skip, timeout: 180_000 }, async () => {
  const spec = new StackSpecBuilder().hives(1, 0).build();
  const stack = await (
    await peerRuntime({ only: ['hub', 'hive-a'] })
  ).start(spec, await makeSecrets(), {
    runId,
    stackId: 'oneway',
    workDir: workDir('oneway'),
    healthTimeoutMs: 20_000,
  });
  try {
    const hive = stack.service('hive-a');
    const hub = stack.service('hub');
    const probe = (from: typeof hive, to: string): Promise<Probe> =>
      getJson(`${from.url}/probe?url=${encodeURIComponent(to)}&timeout=1500`);
    assert.equal((await probe(hive, 'http://hub:8000/health')).ok, true);

    await partition(stack, 'hive-a', 'hub', { oneWay: true });
    assert.equal((await probe(hive, 'http://hub:8000/health')).ok, false, 'hive-a → hub is cut');
    const reverse = await probe(hub, 'http://hive-a:9200/health');
    assert.equal(reverse.ok, true, `hub → hive-a still works: ${JSON.stringify(reverse)}`);

    await heal(stack);
    assert.equal((await probe(hive, 'http://hub:8000/health')).ok, true, 'healed');
  } finally {
    await stack.stop();
  }
});

test(
  'a hive is cut from a worker in its own container, while other containers still reach the worker',
  { skip, timeout: 180_000 },
  async () => {
    const spec = new StackSpecBuilder().hives(1, 0).build();
    const stack = await (
      await peerRuntime({ only: ['queen', 'hive-a'] })
    ).start(spec, await makeSecrets(), {
      runId,
      stackId: 'workercut',
      workDir: workDir('workercut'),
      healthTimeoutMs: 20_000,
    });
    try {
      const hive = stack.service('hive-a');
      const queen = stack.service('queen');
      const W = 8150;
      await getJson(`${hive.url}/spawn-peer?port=${W}`);
      const worker = `http://${hive.ip}:${W}`; // the harness reaches the "worker" at the hive's address
      await eventually(async () => assert.ok((await fetch(`${worker}/health`)).ok), {
        within: 5000,
        what: 'the peer "worker" to answer',
      });
      const probe = (from: string, to: string): Promise<Probe> =>
        getJson(`${from}/probe?url=${encodeURIComponent(to)}&timeout=1500`);
      assert.equal((await probe(hive.url, `http://hive-a:${W}/health`)).ok, true, 'hive → worker before');

      const p = await partitionWorker(stack, 'hive-a', W);
      assert.equal((await probe(hive.url, `http://hive-a:${W}/health`)).ok, false, 'hive → worker is cut');
      assert.equal((await probe(worker, 'http://hive-a:9200/health')).ok, false, 'worker → hive is cut');
      assert.equal((await probe(queen.url, `http://hive-a:${W}/health`)).ok, true, 'queen → worker still works');
      assert.equal((await probe(queen.url, 'http://hive-a:9200/health')).ok, true, 'queen → hive still works');

      await heal(stack, p);
      assert.equal((await probe(hive.url, `http://hive-a:${W}/health`)).ok, true, 'hive → worker after heal');
      assert.equal((await probe(worker, 'http://hive-a:9200/health')).ok, true, 'worker → hive after heal');
    } finally {
      await stack.stop();
    }
  },
);
