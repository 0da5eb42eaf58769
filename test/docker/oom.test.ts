// Out-of-memory kills are real and confirmed by the engine: a service that outgrows its container's
// 64 MiB limit is killed by the kernel (State.OOMKilled and an `oom` event), and a child process that does
// (a hive's worker) is killed while the container lives on — confirmed by the event, not by exit 137.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually } from '../../lib/observe/eventually.ts';
import { readFileSync } from 'node:fs';
import { makeSecrets } from '../../lib/stack/secrets.ts';
import { StackSpecBuilder } from '../../lib/stack/spec.ts';
import { getJson, leftovers, noEngine, peerRuntime, runId, workDir } from './helpers.ts';

const MiB = 1024 * 1024;
const spec = new StackSpecBuilder().hives(1, 0).build();

test(
  'a container over its memory limit is OOM-killed, and the engine says so',
  { skip: noEngine, timeout: 120_000 },
  async () => {
    const stack = await (
      await peerRuntime({ only: ['hub'] })
    ).start(spec, await makeSecrets(), {
      runId,
      stackId: 'oom',
      workDir: workDir('oom'),
      healthTimeoutMs: 20_000,
      memoryLimits: { hub: 64 * MiB },
    });
    try {
      const hub = stack.service('hub');
      const since = Date.now() - 1000;
      assert.equal((await hub.container.inspect()).HostConfig.Memory, 64 * MiB);
      // 128 MiB of touched buffers in a 64 MiB cgroup with no swap: the kernel must kill it.
      await fetch(`${hub.url}/alloc?mb=128`, { signal: AbortSignal.timeout(10_000) }).catch(() => undefined);
      const exit = await hub.waitExit(20_000);
      assert.deepEqual({ code: exit?.code, signal: exit?.signal }, { code: null, signal: 'SIGKILL' });
      // The engine's record of the kernel's kill. (State.OOMKilled is set only by some engine versions
      // when the process killed is the one under docker-init, so the event is what is relied on.)
      const event = await stack.waitForOom('hub', 5000, since);
      assert.ok(event, 'the engine emitted an oom event for the container');
    } finally {
      await stack.stop();
    }
    assert.deepEqual(await leftovers('oom'), []);
  },
);

test(
  'a child process over the limit is OOM-killed while its container lives on',
  { skip: noEngine, timeout: 120_000 },
  async () => {
    const stack = await (
      await peerRuntime({ only: ['hive-a'] })
    ).start(spec, await makeSecrets(), {
      runId,
      stackId: 'oomchild',
      workDir: workDir('oomchild'),
      healthTimeoutMs: 20_000,
      memoryLimits: { 'hive-a': 96 * MiB },
    });
    try {
      const hive = stack.service('hive-a');
      const since = Date.now() - 1000;
      const { pid } = (await getJson(`${hive.url}/hog`)) as { pid: number };
      const event = await stack.waitForOom('hive-a', 20_000, since);
      assert.ok(event, 'oom event for the hive container');
      await eventually(async () => assert.equal(await hive.childAlive(pid), false, 'the hog child was killed'), {
        within: 5000,
        what: 'the hog child to be gone',
      });
      assert.equal(hive.running(), true, 'the container (its main process) survived');
      assert.equal((await getJson(`${hive.url}/health`)).status, 'ok');
      assert.match(readFileSync(hive.logFile, 'utf8'), /"event":"hog.exited".*"signal":"SIGKILL"/);
    } finally {
      await stack.stop();
    }
  },
);
