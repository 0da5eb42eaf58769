// What the docker fault and worker modules need of a running docker stack — a narrow view, so that they
// depend on this interface and docker-runtime.ts depends on them, never the other way round.

import type Docker from 'dockerode';
import type { DockerServiceHandle } from './service-container.ts';
import type { OomEvent } from './oom.ts';

export interface DockerStackView {
  readonly id: string;
  readonly networkName: string;
  readonly dockerClient: Docker;
  /** The labels everything of this stack carries (so teardown and the sweep find a helper too). */
  stackLabels(): Record<string, string>;
  /** A service's container, or a mock worker's own container (by worker id). */
  service(name: string): DockerServiceHandle;
  /** The containers of a hive's mock workers (empty when its workers run inside the hive's container). */
  workerContainersOf(hive: string): DockerServiceHandle[];
  /** A helper container on the stack network (e.g. a link proxy), removed with the stack. */
  startHelper(
    name: string,
    cmd: string[],
    env: Record<string, string>,
  ): Promise<{ container: Docker.Container; ip: string }>;
  /** The first kernel OOM kill the engine reported for `service` (or for a worker of that hive) since `since`. */
  waitForOom(service: string, timeoutMs: number, since: number): Promise<OomEvent | undefined>;
}
