// The docker runtime's MemoryControl: what a service's containers are charged (as `docker stats` counts
// it) and the kernel OOM kills the engine reports for them (oom.ts watches the engine's events).

import type Docker from 'dockerode';
import type { MemoryControl } from '../stack/runtime.ts';
import type { DockerStackView } from './stack-view.ts';

export function dockerMemoryControl(stack: DockerStackView): MemoryControl {
  const service = (name: string) => stack.service(name);
  return {
    async memoryUsage(name) {
      // A hive's memory is its machine's: its own container's and those of its workers' containers.
      const containers = [service(name), ...stack.workerContainersOf(name).filter((w) => w.running())];
      const each = await Promise.all(containers.map((c) => containerMemory(c.container, c.name)));
      return each.reduce((a, b) => a + b, 0);
    },
    async waitForOom(name, timeoutMs, since) {
      const e = await stack.waitForOom(name, timeoutMs, since);
      return e
        ? {
            at: e.at,
            detail: `engine "oom" event for container ${e.containerId.slice(0, 12)} (${e.service})`,
            service: e.service,
          }
        : undefined;
    },
  };
}

/** As `docker stats` counts it: the cgroup's usage less the page cache it could drop (v1: total_inactive_file or cache). */
async function containerMemory(c: Docker.Container, name: string): Promise<number> {
  const s = (await c.stats({ stream: false })) as { memory_stats?: { usage?: number; stats?: Record<string, number> } };
  const m = s.memory_stats;
  if (typeof m?.usage !== 'number') throw new Error(`the engine reports no memory usage for ${name}`);
  const cache = m.stats?.total_inactive_file ?? m.stats?.inactive_file ?? m.stats?.cache ?? 0;
  return m.usage - cache;
}
