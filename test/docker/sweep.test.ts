// The sweep removes what a dead runner left (containers, networks, work dir) and never touches the
// resources of a runner that is still alive.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { docker } from '../../lib/docker/engine.ts';
import { ensureBaseImage } from '../../lib/docker/images.ts';
import { LABEL, processStartTicks } from '../../lib/docker/labels.ts';
import { sweep } from '../../lib/docker/sweep.ts';
import { noEngine, runId, workDir } from './helpers.ts';

/** A pid that certainly belonged to a process which has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '0']);
  assert.ok(r.pid);
  return r.pid;
}

async function leave(stackName: string, runnerPid: number, dir: string) {
  const d = docker();
  const labels: Record<string, string> = {
    [LABEL.owner]: '1',
    [LABEL.run]: `${runId}-${stackName}`,
    [LABEL.stack]: `${runId}-${stackName}/s`,
    [LABEL.service]: 'hub',
    [LABEL.runnerPid]: String(runnerPid),
    [LABEL.runnerHost]: hostname(),
    [LABEL.workDir]: dir,
  };
  const start = processStartTicks(runnerPid);
  if (start) labels[LABEL.runnerStart] = start;
  const name = `rbee-sweeptest-${process.pid}-${stackName}`;
  const net = await d.createNetwork({ Name: name, Internal: true, Labels: labels });
  const c = await d.createContainer({
    name,
    Image: (await ensureBaseImage()).ref,
    Cmd: ['node', '-e', 'setInterval(() => {}, 1000)'],
    Labels: labels,
    HostConfig: { NetworkMode: name },
  });
  await c.start();
  mkdirSync(dir, { recursive: true });
  return { net, c, name };
}

async function exists(kind: 'container' | 'network', id: string): Promise<boolean> {
  const d = docker();
  try {
    await (kind === 'container' ? d.getContainer(id).inspect() : d.getNetwork(id).inspect());
    return true;
  } catch {
    return false;
  }
}

test(
  "sweep removes the leftovers of a dead runner and keeps a live runner's",
  { skip: noEngine, timeout: 120_000 },
  async () => {
    const deadDir = workDir('dead-run');
    const liveDir = workDir('live-run');
    const dead = await leave('dead', deadPid(), deadDir);
    const live = await leave('live', process.pid, liveDir);
    // The dead one is even paused: the sweep must thaw it to remove it.
    await dead.c.pause();
    try {
      const removed = await sweep(docker(), { all: false });
      assert.ok(removed.includes(`container ${dead.name}`), `removed: ${removed.join(', ')}`);
      assert.ok(removed.includes(`network ${dead.name}`), `removed: ${removed.join(', ')}`);
      assert.equal(await exists('container', dead.c.id), false);
      assert.equal(await exists('network', dead.net.id), false);
      assert.equal(existsSync(deadDir), false, "the dead run's work dir is gone");

      assert.equal(await exists('container', live.c.id), true, "a live runner's container is kept");
      assert.equal(await exists('network', live.net.id), true);
      assert.equal(existsSync(liveDir), true);
    } finally {
      await live.c.remove({ force: true }).catch(() => {});
      await live.net.remove().catch(() => {});
      await dead.c.unpause().catch(() => {});
      await dead.c.remove({ force: true }).catch(() => {});
      await dead.net.remove().catch(() => {});
    }
  },
);
