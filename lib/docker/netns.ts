// Network partitions between two services of a docker stack: iptables DROP rules inside the containers'
// own network namespaces (netns-exec.ts: nsenter from the host, or a helper container that joins the
// namespace), so the host's firewall is never touched and the rules die with the containers. The rules match on addresses only — no conntrack state — and are
// inserted at the top, so packets of connections that were already established (keep-alive) are dropped
// too. The harness, which talks from the network's gateway address, still reaches both sides.

import { randomBytes } from 'node:crypto';
import type { DockerStackView } from './stack-view.ts';
import { iptablesIn } from './netns-exec.ts';

export interface PartitionOptions {
  /**
   * Cut only a → b: a can no longer reach b's listening ports (connections already open included), while
   * b can still call a. TCP needs packets both ways, so this is done by ports, not by dropping one
   * direction of packets (which would break b → a too). Default: everything between a and b, both ways.
   */
  oneWay?: boolean;
}

interface Rule {
  service: string;
  chain: 'INPUT' | 'OUTPUT';
  /** iptables match arguments (peer address, and for one-way cuts the ports). */
  match: string[];
}

export interface Partition {
  readonly id: string;
  readonly a: string;
  readonly b: string;
  readonly oneWay: boolean;
  readonly since: number;
  readonly rules: readonly Rule[];
}

const partitions = new WeakMap<DockerStackView, Map<string, Partition>>();

/** The comment every rule of one fault carries, so exactly those rules can be found and removed. */
export function tag(id: string): string {
  return `rbee-acceptance:${id}`;
}

function ruleArgs(r: Rule, id: string): string[] {
  return [r.chain, ...r.match, '-m', 'comment', '--comment', tag(id), '-j', 'DROP'];
}

/** Our rules still present in a service's namespace (lines of `iptables -S`). */
async function rulesLeft(stack: DockerStackView, service: string, id: string): Promise<string[]> {
  const iptables = await iptablesIn(stack, service);
  if (!iptables) return []; // not running: its namespace, and every rule in it, is gone
  const out = await iptables(['-S']);
  return out.split('\n').filter((l) => l.includes(tag(id)));
}

/**
 * Cut traffic between services `a` and `b` of the stack (both ways unless `oneWay`). The rules live in the
 * containers' namespaces, so restarting a or b ends the partition; re-apply it if the scenario needs that.
 */
export async function partition(
  stack: DockerStackView,
  a: string,
  b: string,
  opts: PartitionOptions = {},
): Promise<Partition> {
  if (a === b) throw new Error(`cannot partition ${a} from itself`);
  const ipA = stack.service(a).ip;
  const ipB = stack.service(b).ip;
  if (!ipA || !ipB) throw new Error(`partition ${a} ↔ ${b}: ${!ipA ? a : b} has no address (not running?)`);
  let rules: Rule[];
  if (opts.oneWay) {
    // a's requests to b's ports and b's answers from them, dropped on both sides.
    const ports = stack.service(b).listenPorts.join(',');
    const toB = ['-p', 'tcp', '-m', 'multiport', '--dports', ports];
    const fromB = ['-p', 'tcp', '-m', 'multiport', '--sports', ports];
    rules = [
      { service: a, chain: 'OUTPUT', match: ['-d', `${ipB}/32`, ...toB] },
      { service: a, chain: 'INPUT', match: ['-s', `${ipB}/32`, ...fromB] },
      { service: b, chain: 'INPUT', match: ['-s', `${ipA}/32`, ...toB] },
      { service: b, chain: 'OUTPUT', match: ['-d', `${ipA}/32`, ...fromB] },
    ];
  } else {
    rules = [
      { service: a, chain: 'OUTPUT', match: ['-d', `${ipB}/32`] },
      { service: a, chain: 'INPUT', match: ['-s', `${ipB}/32`] },
      { service: b, chain: 'OUTPUT', match: ['-d', `${ipA}/32`] },
      { service: b, chain: 'INPUT', match: ['-s', `${ipA}/32`] },
    ];
  }
  return apply(stack, { id: randomBytes(4).toString('hex'), a, b, oneWay: !!opts.oneWay, since: Date.now(), rules });
}

/**
 * Cut a hive from one of its own workers (INT-005). The worker is a child process in the hive's container,
 * so both share one address and the cut is by port, on the loopback path inside that namespace:
 * local traffic to/from the worker's port (the hive's calls and health probes), and local traffic to/from
 * the hive's port (the workers' heartbeats and callbacks). The latter cannot tell workers apart (they all
 * use the hive's address), so every worker of that hive loses its heartbeat path: use one worker per hive
 * when the scenario needs the others unaffected. Calls from other containers (the queen relaying a job to
 * the worker) are not cut.
 */
export async function partitionWorker(stack: DockerStackView, hive: string, workerPort: number): Promise<Partition> {
  const h = stack.service(hive);
  if (h.kind !== 'hive') throw new Error(`partitionWorker: ${hive} is not a hive`);
  if (!h.ip) throw new Error(`partitionWorker: ${hive} has no address (not running?)`);
  const local = ['-s', `${h.ip}/32`, '-d', `${h.ip}/32`, '-p', 'tcp'];
  const hivePort = h.listenPorts[0]!;
  const rules: Rule[] = [
    { service: hive, chain: 'OUTPUT', match: [...local, '--dport', String(workerPort)] },
    { service: hive, chain: 'OUTPUT', match: [...local, '--sport', String(workerPort)] },
    { service: hive, chain: 'OUTPUT', match: [...local, '--dport', hivePort] },
    { service: hive, chain: 'OUTPUT', match: [...local, '--sport', hivePort] },
  ];
  return apply(stack, {
    id: randomBytes(4).toString('hex'),
    a: hive,
    b: `${hive}:${workerPort}`,
    oneWay: false,
    since: Date.now(),
    rules,
  });
}

async function apply(stack: DockerStackView, p: Partition): Promise<Partition> {
  let list = partitions.get(stack);
  if (!list) partitions.set(stack, (list = new Map()));
  list.set(p.id, p); // recorded before the first rule, so heal() also undoes a half-applied partition
  for (const r of p.rules) {
    const iptables = await iptablesIn(stack, r.service);
    if (!iptables) throw new Error(`partition ${p.a} ↔ ${p.b}: ${r.service} is not running`);
    await iptables(['-I', ...ruleArgs(r, p.id)]);
  }
  return p;
}

/**
 * Remove the rules of one partition (or of every partition of the stack) and verify none is left.
 * A container restarted meanwhile has a fresh namespace, so there is nothing left to remove there.
 */
export async function heal(stack: DockerStackView, p?: Partition): Promise<void> {
  const list = partitions.get(stack);
  const todo = p ? [p] : [...(list?.values() ?? [])];
  const problems: string[] = [];
  for (const part of todo) {
    for (const r of part.rules) {
      const iptables = await iptablesIn(stack, r.service).catch(() => undefined);
      if (!iptables) continue;
      // -C first: deleting a rule that was never inserted (half-applied partition) is not an error.
      const present = await iptables(['-C', ...ruleArgs(r, part.id)]).then(
        () => true,
        () => false,
      );
      if (present) await iptables(['-D', ...ruleArgs(r, part.id)]).catch((e: Error) => problems.push(e.message));
    }
    for (const svc of new Set(part.rules.map((r) => r.service))) {
      const left = await rulesLeft(stack, svc, part.id).catch((e: Error) => [e.message]);
      if (left.length) problems.push(`${svc} still has: ${left.join(' / ')}`);
    }
    list?.delete(part.id);
  }
  if (problems.length) throw new Error(`heal left partition rules in place: ${problems.join('; ')}`);
}

/** Partitions currently applied to the stack (for the fault timeline and teardown). */
export function activePartitions(stack: DockerStackView): Partition[] {
  return [...(partitions.get(stack)?.values() ?? [])];
}
