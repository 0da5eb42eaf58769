// Choosing the runtime: `process` always works; `docker` needs an engine; `auto` takes docker when an
// engine answers. The docker runtime is loaded lazily so the process runtime needs no Docker at all.

import { ProcessRuntime } from './process-runtime.ts';
import type { Runtime } from './runtime.ts';

export async function selectRuntime(wanted: 'auto' | 'process' | 'docker'): Promise<Runtime> {
  if (wanted === 'process') return new ProcessRuntime();
  const docker = await import('../docker/docker-runtime.ts');
  const problem = await docker.dockerUnavailable();
  if (!problem) return new docker.DockerRuntime();
  if (wanted === 'docker')
    throw new Error(
      `the docker runtime was asked for but ${problem}; start the engine (scripts/ensure-docker.sh) or use --runtime process`,
    );
  return new ProcessRuntime();
}

/** Sweep leftovers of dead runs in every runtime that is reachable. */
export async function sweepAll(all: boolean): Promise<string[]> {
  const removed = await new ProcessRuntime().sweep({ all });
  try {
    const docker = await import('../docker/docker-runtime.ts');
    if (!(await docker.dockerUnavailable())) removed.push(...(await new docker.DockerRuntime().sweep({ all })));
  } catch {
    /* no docker runtime module or engine: nothing to sweep there */
  }
  return removed;
}
