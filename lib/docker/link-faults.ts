// The docker runtime's LinkFaults: partitions (iptables in the containers' namespaces), link shaping (a
// proxy container) and calls made from inside a service's container. The heavy lifting is in netns.ts and
// link.ts.

import type { CallResult, LinkFaults, NetworkFault } from '../stack/runtime.ts';
import { execIn } from './container-io.ts';
import type { DockerStackView } from './stack-view.ts';
import { shapeLink, unshapeLink } from './link.ts';
import { heal, partition, partitionWorker } from './netns.ts';

/** Runs inside a container: one GET, prints {status} or {error} and the time it took. */
const CALL_SCRIPT = `
const t0 = Date.now();
fetch(process.argv[1], { signal: AbortSignal.timeout(Number(process.argv[2])) })
  .then((r) => console.log(JSON.stringify({ ok: r.ok, status: r.status, ms: Date.now() - t0 })))
  .catch((e) => console.log(JSON.stringify({ ok: false, error: String(e.cause?.code ?? e.name ?? e.message), ms: Date.now() - t0 })));
`;

export function dockerLinkFaults(stack: DockerStackView): LinkFaults {
  const service = (name: string) => stack.service(name);
  return {
    async partition(a, b, o) {
      const p = await partition(stack, a, b, { oneWay: o.oneWay });
      return fault(
        `${o.oneWay ? `${a} → ${b}` : `${a} ↔ ${b}`} partition (${p.rules.length} iptables rules)`,
        async () => {
          await heal(stack, p);
          return `iptables rules ${p.id} removed and checked gone`;
        },
      );
    },
    async partitionWorker(hive, worker) {
      // A worker in its own container is cut like any service; one inside its hive's container by port.
      const own = stack.workerContainersOf(hive).some((w) => w.name === worker.id);
      const p = own ? await partition(stack, hive, worker.id) : await partitionWorker(stack, hive, worker.port);
      return fault(
        `${hive} ↔ its worker ${worker.id}${own ? ' (own container)' : ` on port ${worker.port}`}`,
        async () => {
          await heal(stack, p);
          return `iptables rules ${p.id} removed and checked gone`;
        },
      );
    },
    async shapeLink(a, b, o) {
      const link = await shapeLink(stack, a, b, o);
      return fault(`${a} → ${b} through a link proxy (${JSON.stringify(o)})`, async () => {
        await unshapeLink(stack, link);
        return 'link proxy and its rules removed';
      });
    },
    async callFrom(from, url, timeoutMs): Promise<CallResult> {
      const r = await execIn(
        stack.dockerClient,
        service(from).container,
        ['node', '-e', CALL_SCRIPT, url, String(timeoutMs)],
        timeoutMs + 10_000,
      );
      try {
        return JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '') as CallResult;
      } catch {
        throw new Error(`call from ${from} to ${url} printed no result (exit ${r.code}): ${r.stderr.slice(0, 300)}`);
      }
    },
  };
}

function fault(description: string, healFn: () => Promise<string>): NetworkFault {
  let healed: Promise<string> | undefined;
  return { description, heal: () => (healed ??= healFn()) };
}
