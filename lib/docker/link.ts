// Latency and bandwidth on one link of a docker stack (the kernel here has no netem): a link proxy
// container (docker/linkproxy.cjs) relays a's connections to b, delaying and throttling them. a's
// connections are steered to it by a DNAT rule in a's network namespace, so nothing about names or
// addresses changes for either service, and only the a → b link is affected (b's own calls to a are not).
//
// Connections a had already opened to b are reset once (a REJECT rule that only sees packets which did
// not go through the DNAT), so clients reconnect — through the proxy — instead of keeping a fast path.
// Unshaping removes the rules first, then stops the proxy, whose closed sockets make clients reconnect
// directly. The rules go in through netns-exec.ts, like partitions'.

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type Docker from 'dockerode';
import type { DockerStackView } from './stack-view.ts';
import { PROJECT_ROOT } from './images.ts';
import { tag } from './netns.ts';
import { iptablesIn } from './netns-exec.ts';
import { endOnNetwork } from './exit-gate.ts';
import { eventually } from '../observe/eventually.ts';

export interface LinkOptions {
  /** Added to each direction of every a → b connection. */
  latencyMs?: number;
  /** Bytes per second, per direction and connection; 0 or absent = unlimited. */
  bandwidthBps?: number;
}

export interface ShapedLink {
  readonly id: string;
  readonly a: string;
  readonly b: string;
  readonly options: LinkOptions;
  readonly since: number;
  readonly proxy: Docker.Container;
  /** iptables rules in a's namespace: [table, chain, …match and target]. */
  readonly rules: ReadonlyArray<{ table: 'nat' | 'filter'; spec: string[] }>;
}

const links = new WeakMap<DockerStackView, Map<string, ShapedLink>>();
const proxyScript = () => readFileSync(join(PROJECT_ROOT, 'docker/linkproxy.cjs'), 'utf8');

/** Put a link proxy on a → b. */
export async function shapeLink(stack: DockerStackView, a: string, b: string, opts: LinkOptions): Promise<ShapedLink> {
  const target = stack.service(b);
  if (!target.ip) throw new Error(`shape ${a} → ${b}: ${b} has no address (not running?)`);
  const iptables = await iptablesIn(stack, a);
  if (!iptables) throw new Error(`shape ${a} → ${b}: ${a} is not running`);
  const id = randomBytes(4).toString('hex');
  const ports = target.listenPorts;
  const proxy = await stack.startHelper(`link-${a}-${b}-${id}`, ['node', '-e', proxyScript()], {
    LINK_TARGET: target.ip,
    LINK_PORTS: ports.map((p) => p.replace(':', '-')).join(','),
    LINK_LATENCY_MS: String(opts.latencyMs ?? 0),
    LINK_BANDWIDTH_BPS: String(opts.bandwidthBps ?? 0),
  });
  await waitListening(proxy.ip, Number(ports[0]), 10_000);
  const match = ['-d', `${target.ip}/32`, '-p', 'tcp', '-m', 'multiport', '--dports', ports.join(',')];
  const comment = ['-m', 'comment', '--comment', tag(id)];
  const rules: ShapedLink['rules'] = [
    { table: 'nat', spec: ['OUTPUT', ...match, ...comment, '-j', 'DNAT', '--to-destination', proxy.ip] },
    // Filter runs after NAT: only packets of connections opened before the DNAT still go to b directly.
    { table: 'filter', spec: ['OUTPUT', ...match, ...comment, '-j', 'REJECT', '--reject-with', 'tcp-reset'] },
  ];
  const link: ShapedLink = { id, a, b, options: { ...opts }, since: Date.now(), proxy: proxy.container, rules };
  let list = links.get(stack);
  if (!list) links.set(stack, (list = new Map()));
  list.set(id, link);
  for (const r of rules) await iptables(['-t', r.table, '-I', ...r.spec]);
  return link;
}

/** Take the proxy off one link (or every shaped link of the stack) and verify no rule is left. */
export async function unshapeLink(stack: DockerStackView, link?: ShapedLink): Promise<void> {
  const list = links.get(stack);
  const todo = link ? [link] : [...(list?.values() ?? [])];
  const problems: string[] = [];
  for (const l of todo) {
    const iptables = await iptablesIn(stack, l.a).catch(() => undefined);
    if (iptables) {
      for (const r of l.rules) {
        const present = await iptables(['-t', r.table, '-C', ...r.spec]).then(
          () => true,
          () => false,
        );
        if (present) await iptables(['-t', r.table, '-D', ...r.spec]).catch((e: Error) => problems.push(e.message));
      }
      for (const table of ['nat', 'filter']) {
        const left = (await iptables(['-t', table, '-S'])).split('\n').filter((x) => x.includes(tag(l.id)));
        if (left.length) problems.push(`${l.a} still has: ${left.join(' / ')}`);
      }
    }
    // SIGTERM first: the proxy exits and its sockets close properly while it is still on the network, so
    // clients see the connection end (and reconnect directly) instead of waiting on a vanished peer.
    await endOnNetwork(stack.networkName, async () => {
      await l.proxy.stop({ t: 2 }).catch(() => {});
      await l.proxy.remove({ force: true }).catch(() => {});
    });
    list?.delete(l.id);
  }
  if (problems.length) throw new Error(`unshape left link rules in place: ${problems.join('; ')}`);
}

export function shapedLinks(stack: DockerStackView): ShapedLink[] {
  return [...(links.get(stack)?.values() ?? [])];
}

async function waitListening(ip: string, port: number, withinMs: number): Promise<void> {
  const { connect } = await import('node:net');
  await eventually(
    async () => {
      const ok = await new Promise<boolean>((resolve) => {
        const s = connect(port, ip);
        s.once('connect', () => {
          s.destroy();
          resolve(true);
        });
        s.once('error', () => resolve(false));
      });
      if (!ok) throw new Error(`nothing listens at ${ip}:${port}`);
    },
    { within: withinMs, every: 100, what: `the link proxy at ${ip}:${port} to listen` },
  );
}
