// Removing what earlier runs left behind: every container, network and volume labelled by a run whose runner
// process is dead on this host (or everything labelled, with `all`), plus those stacks' work dirs.
// Runs whose runner is alive — including this process and parallel runners — are never touched.

import { rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { isAbsolute, normalize, sep } from 'node:path';
import type Docker from 'dockerode';
import { engineMessage, isNotFound } from './engine.ts';
import { LABEL, runnerState } from './labels.ts';
import { endOnNetwork } from './exit-gate.ts';

function doomed(labels: Record<string, string> | undefined, all: boolean): boolean {
  return all || runnerState(labels) === 'dead';
}

export async function sweep(d: Docker, opts: { all: boolean }): Promise<string[]> {
  const removed: string[] = [];
  const errors: string[] = [];
  const workDirs = new Set<string>();
  const forget = (labels: Record<string, string> | undefined) => {
    const dir = labels?.[LABEL.workDir];
    // Only absolute, non-trivial paths made on this host: a label is data, not a licence to rm -rf "/".
    if (
      dir &&
      labels?.[LABEL.runnerHost] === hostname() &&
      isAbsolute(dir) &&
      normalize(dir).split(sep).filter(Boolean).length >= 2
    )
      workDirs.add(normalize(dir));
  };

  const containers = await d.listContainers({ all: true, filters: { label: [LABEL.run] } });
  await Promise.all(
    containers
      .filter((c) => doomed(c.Labels, opts.all))
      .map(async (c) => {
        const name = (c.Names[0] ?? c.Id).replace(/^\//, '');
        try {
          const ct = d.getContainer(c.Id);
          // One end at a time on each network (exit-gate.ts: the engine deadlocks otherwise).
          await endOnNetwork(Object.keys(c.NetworkSettings?.Networks ?? {})[0] ?? c.Id, async () => {
            // A frozen container cannot be killed until it is thawed.
            if (c.State === 'paused') await ct.unpause();
            await ct.remove({ force: true, v: true });
          });
          removed.push(`container ${name}`);
          forget(c.Labels);
        } catch (e) {
          if (!isNotFound(e)) errors.push(`container ${name}: ${engineMessage(e)}`);
        }
      }),
  );

  // Networks after containers: a network with endpoints cannot be removed.
  const networks = await d.listNetworks({ filters: { label: [LABEL.run] } });
  for (const n of networks.filter((n) => doomed(n.Labels, opts.all))) {
    try {
      await d.getNetwork(n.Id).remove();
      removed.push(`network ${n.Name}`);
      forget(n.Labels);
    } catch (e) {
      if (!isNotFound(e)) errors.push(`network ${n.Name}: ${engineMessage(e)}`);
    }
  }

  // Data volumes (a stack's services' data without host shortcuts), once their containers are gone.
  const volumes = (await d.listVolumes({ filters: { label: [LABEL.run] } })).Volumes ?? [];
  for (const v of volumes.filter((v) => doomed(v.Labels, opts.all))) {
    try {
      await d.getVolume(v.Name).remove();
      removed.push(`volume ${v.Name}`);
    } catch (e) {
      if (!isNotFound(e)) errors.push(`volume ${v.Name}: ${engineMessage(e)}`);
    }
  }

  for (const dir of workDirs) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch (e) {
      errors.push(`work dir ${dir}: ${String(e)}`);
    }
  }
  if (errors.length) throw new Error(`sweep removed ${removed.length} item(s) but failed on: ${errors.join('; ')}`);
  return removed;
}
