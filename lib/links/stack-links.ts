// Why: the process runtime's network faults. Every service-to-service address of a process stack points at
// a link proxy the harness owns (one per target: a service's port, and each port a hive's workers may
// take); the proxies ask who is calling, and the rules here (partition, one-way partition, hive ↔ worker
// partition, latency/bandwidth) decide per (caller, target) what happens — the process runtime's
// equivalent of the docker runtime's iptables rules and link proxy containers (lib/docker/netns.ts,
// lib/docker/link.ts). The harness's own clients call services directly, so it still reaches every side.
//
// Places: a caller or target is a service ("queen", "hive-a") or a worker port of one ("hive-a@20005": a
// worker the hive spawned, which in the docker runtime shares the hive's container and address; an
// external worker "w-ext@31000"). A partition between a and b covers a's and b's worker ports as well, as
// one between two containers does.

import http from 'node:http';
import type { CallResult, NetworkFault, LinkFaults } from '../stack/runtime.ts';
import { LinkProxy, type Endpoint, type Identity, type LinkPolicy, type Peer } from './proxy.ts';
import { clientSocketInode, connectAs, ownerAmong, probeAs, taggedIdentity } from './owner.ts';

export interface Place {
  service: string;
  workerPort?: number;
}

export function placeLabel(p: Place): string {
  return p.workerPort === undefined ? p.service : `${p.service}@${p.workerPort}`;
}

export function parsePlace(label: string): Place {
  const at = label.lastIndexOf('@');
  if (at > 0 && /^\d+$/.test(label.slice(at + 1)))
    return { service: label.slice(0, at), workerPort: Number(label.slice(at + 1)) };
  return { service: label };
}

/** The label the harness's own (untagged) connections get; no rule ever matches it. */
export const HARNESS = 'harness';

export interface StackLinksOptions {
  stackId: string;
  /**
   * The stack's processes by pid, with the place each one is. `fresh` = look again (a lookup missed: a
   * worker may have started since the last answer).
   */
  processes(fresh: boolean): Promise<Map<number, string>>;
}

interface Rule {
  id: number;
  what: string;
  blocks?: (caller: Place, target: Place) => boolean;
  shape?: { match: (caller: Place, target: Place) => boolean; latencyMs: number; bandwidthBps: number };
  /** (caller, link) pairs to probe after apply and heal. */
  checks: Array<{ caller: string; link: LinkProxy }>;
}

interface Link {
  proxy: LinkProxy;
  target: Place;
}

export class StackLinks {
  private readonly links: Link[] = [];
  private readonly main = new Map<string, Link>();
  private readonly workerLinks = new Map<number, Link>();
  private rules: Rule[] = [];
  private nextRule = 1;
  private closed = false;

  constructor(private readonly o: StackLinksOptions) {}

  /**
   * A link in front of `target`'s listener, reached at `listen` (port 0 = any). `main`: the link is how
   * the service `target.service` itself is reached (implied for a place without a worker port; an external
   * worker's link is both its main link and the link of its port).
   */
  async add(target: Place, listen: Endpoint, to: Endpoint, o: { main?: boolean } = {}): Promise<LinkProxy> {
    if (this.closed) throw new Error(`the links of stack ${this.o.stackId} are closed`);
    const link: Link = {
      target,
      proxy: new LinkProxy({
        name: `→${placeLabel(target)}`,
        listen,
        target: to,
        identify: (peer, listenPort) => this.identify(peer, listenPort),
        policy: (caller) => this.policy(caller, target),
      }),
    };
    this.links.push(link);
    if (target.workerPort === undefined || o.main) this.main.set(target.service, link);
    if (target.workerPort !== undefined) this.workerLinks.set(target.workerPort, link);
    await link.proxy.listen();
    return link.proxy;
  }

  /** The proxy URL other services use to reach `service` (or one of its worker ports). */
  url(service: string, workerPort?: number): string {
    const l = workerPort === undefined ? this.main.get(service) : this.workerLinks.get(workerPort);
    if (!l)
      throw new Error(
        `no link to ${workerPort === undefined ? service : `${service}@${workerPort}`} in stack ${this.o.stackId}`,
      );
    return l.proxy.url;
  }

  /** For the harness: the service's own address behind a link URL (undefined when `url` is no link of ours). */
  direct(url: string): string | undefined {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return undefined;
    }
    const host = u.hostname.replace(/^\[|\]$/g, '');
    const l = this.links.find(
      (x) => x.proxy.listening && x.proxy.address.host === host && String(x.proxy.address.port) === (u.port || '80'),
    );
    if (!l) return undefined;
    u.hostname = l.proxy.target.host.includes(':') ? `[${l.proxy.target.host}]` : l.proxy.target.host;
    u.port = String(l.proxy.target.port);
    return u.toString().replace(/\/$/, '');
  }

  /** Diagnostics: one line per link that carried traffic or is under a rule, then the rules. */
  describe(): string[] {
    const lines = this.links
      .filter((l) => l.target.workerPort === undefined || l.proxy.stats().size > 0)
      .map((l) => l.proxy.describe());
    for (const r of this.rules) lines.push(`rule ${r.id}: ${r.what}`);
    return lines;
  }

  /** Lines about the links into `service` (its own and its worker ports'). */
  describeInto(service: string): string[] {
    return this.links
      .filter((l) => l.target.service === service && (l.target.workerPort === undefined || l.proxy.stats().size > 0))
      .map((l) => l.proxy.describe());
  }

  /** Close every link; resolves once no proxy listens any more. */
  async close(): Promise<void> {
    this.closed = true;
    this.rules = [];
    await Promise.all(this.links.map((l) => l.proxy.close()));
    const still = this.links.filter((l) => l.proxy.listening);
    if (still.length)
      throw new Error(`links still listening after close: ${still.map((l) => l.proxy.name).join(', ')}`);
  }

  get listening(): number {
    return this.links.filter((l) => l.proxy.listening).length;
  }

  // ---- the LinkFaults interface ---------------------------------------------------------------------

  faults(): LinkFaults {
    return {
      partition: (a, b, o) => this.partition(a, b, o.oneWay),
      partitionWorker: (hive, worker) => this.partitionWorker(hive, worker.port),
      shapeLink: (a, b, o) => this.shapeLink(a, b, o),
      callFrom: (from, url, timeoutMs) => this.callFrom(from, url, timeoutMs),
    };
  }

  /** Traffic from a to b stops (and b to a unless `oneWay`): a's new connections to b hang, open ones are cut. */
  async partition(a: string, b: string, oneWay: boolean): Promise<NetworkFault> {
    if (a === b) throw new Error(`cannot partition ${a} from itself`);
    const la = this.mainLink(a);
    const lb = this.mainLink(b);
    const blocks = oneWay
      ? (c: Place, t: Place) => c.service === a && t.service === b
      : (c: Place, t: Place) => (c.service === a && t.service === b) || (c.service === b && t.service === a);
    const checks = [{ caller: a, link: lb }, ...(oneWay ? [] : [{ caller: b, link: la }])];
    const what = oneWay ? `${a} → ${b} blocked` : `${a} ↔ ${b} blocked`;
    return this.apply({ what, blocks, checks }, `${what} (link proxies: new connections held, open ones cut)`);
  }

  /** A hive and one of its workers (by port) lose each other: the hive's calls to it and its calls back. */
  async partitionWorker(hive: string, workerPort: number): Promise<NetworkFault> {
    const lh = this.mainLink(hive);
    const lw = this.workerLinks.get(workerPort);
    if (!lw)
      throw new Error(`partitionWorker: no link in front of a worker port ${workerPort} in stack ${this.o.stackId}`);
    const worker = placeLabel(lw.target); // hive-a@20005, or an external worker's own place
    const blocks = (c: Place, t: Place) =>
      (c.service === hive && c.workerPort !== workerPort && t.workerPort === workerPort) ||
      (c.workerPort === workerPort && t.service === hive && t.workerPort === undefined);
    const what = `${hive} ↔ its worker on port ${workerPort} blocked`;
    return this.apply(
      {
        what,
        blocks,
        checks: [
          { caller: hive, link: lw.proxy },
          { caller: worker, link: lh },
        ],
      },
      `${what} (link proxies)`,
    );
  }

  /** Latency and/or a bandwidth cap on the connections a opens to b (both directions of each). */
  async shapeLink(a: string, b: string, o: { latencyMs?: number; bandwidthBps?: number }): Promise<NetworkFault> {
    this.mainLink(a);
    const lb = this.mainLink(b);
    const shape = {
      match: (c: Place, t: Place) => c.service === a && t.service === b,
      latencyMs: o.latencyMs ?? 0,
      bandwidthBps: o.bandwidthBps ?? 0,
    };
    const what = `${a} → ${b} shaped ${JSON.stringify(o)}`;
    return this.apply({ what, shape, checks: [{ caller: a, link: lb }] }, `${what} (link proxy)`);
  }

  /** A GET made as `from`: through the same link proxies, with the same identity, as from's own calls. */
  async callFrom(from: string, url: string, timeoutMs: number): Promise<CallResult> {
    const caller = this.callerLabel(from);
    const u = new URL(url);
    const host = u.hostname.replace(/^\[|\]$/g, '');
    const port = Number(u.port || 80);
    const t0 = Date.now();
    const elapsed = () => Date.now() - t0;
    let sock;
    try {
      sock = await connectAs(caller, { host, port });
    } catch (e) {
      const code = /(E[A-Z]+)/.exec((e as Error).message)?.[1];
      return { ok: false, error: code ?? (e as Error).message, ms: elapsed() };
    }
    const connected = sock;
    return new Promise<CallResult>((resolve) => {
      let settled = false;
      const settle = (r: CallResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        connected.destroy();
        resolve(r);
      };
      const timer = setTimeout(() => settle({ ok: false, error: 'TimeoutError', ms: elapsed() }), timeoutMs);
      // No agent: the request goes out on the tagged connection (createConnection), which is used only once.
      const req = http.request(
        { method: 'GET', host, port, path: `${u.pathname}${u.search}`, createConnection: () => connected },
        (res) => {
          res.resume();
          res.on('end', () =>
            settle({
              ok: (res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300,
              status: res.statusCode ?? 0,
              ms: elapsed(),
            }),
          );
          res.on('error', (e: NodeJS.ErrnoException) => settle({ ok: false, error: e.code ?? e.name, ms: elapsed() }));
        },
      );
      req.on('error', (e: NodeJS.ErrnoException) => settle({ ok: false, error: e.code ?? e.name, ms: elapsed() }));
      req.end();
    });
  }

  // ---- rules -------------------------------------------------------------------------------------------

  private async apply(r: Omit<Rule, 'id'>, description: string): Promise<NetworkFault> {
    const rule: Rule = { id: this.nextRule++, ...r };
    this.rules.push(rule);
    this.reevaluate();
    // Applied means the links say so: a probe connection as the caller gets the rule's treatment.
    for (const c of rule.checks) {
      const p = await probeAs(c.caller, c.link.address);
      const took = rule.blocks
        ? p.blocked === true
        : (p.latencyMs ?? 0) === rule.shape!.latencyMs && (p.bandwidthBps ?? 0) === rule.shape!.bandwidthBps;
      if (!took)
        throw new Error(`${rule.what}: a probe as ${c.caller} through ${c.link.name} got ${JSON.stringify(p)}`);
    }
    let healed: Promise<string> | undefined;
    return { description, heal: () => (healed ??= this.heal(rule)) };
  }

  private async heal(rule: Rule): Promise<string> {
    this.rules = this.rules.filter((r) => r !== rule);
    if (this.closed) return `rule ${rule.id} dropped with the stack's links`;
    this.reevaluate();
    // Healed means: a new connection through each link the rule touched is treated as the remaining rules
    // say (normally: forwarded, unshaped), and no connection of those callers is still held there.
    const problems: string[] = [];
    for (const c of rule.checks) {
      const want = this.policy(c.caller, this.targetOf(c.link));
      const got = await probeAs(c.caller, c.link.address).catch((e: Error) => ({ error: e.message }));
      if (JSON.stringify(normal(want)) !== JSON.stringify('error' in got ? got : normal(got)))
        problems.push(
          `${c.link.name} as ${c.caller}: ${JSON.stringify(got)}, expected ${JSON.stringify(normal(want))}`,
        );
      if (!want.blocked && c.link.heldCallers().includes(c.caller))
        problems.push(`${c.link.name} still holds connections of ${c.caller}`);
    }
    if (problems.length) throw new Error(`heal of "${rule.what}" not confirmed: ${problems.join('; ')}`);
    return `rule removed; a new connection through ${rule.checks.map((c) => `${c.link.name} as ${c.caller}`).join(' and ')} gets through again`;
  }

  private reevaluate(): void {
    for (const l of this.links) l.proxy.reevaluate();
  }

  private policy(callerLabel: string | undefined, target: Place): LinkPolicy {
    if (!callerLabel || callerLabel === HARNESS) return {};
    const caller = parsePlace(callerLabel);
    const p: LinkPolicy = {};
    for (const r of this.rules) {
      if (r.blocks?.(caller, target)) p.blocked = true;
      // The latest shaping rule on a pair wins, as the latest DNAT rule does in the docker runtime.
      if (r.shape?.match(caller, target)) {
        p.latencyMs = r.shape.latencyMs;
        p.bandwidthBps = r.shape.bandwidthBps;
      }
    }
    return p;
  }

  private targetOf(proxy: LinkProxy): Place {
    return this.links.find((l) => l.proxy === proxy)!.target;
  }

  private mainLink(service: string): LinkProxy {
    const l = this.main.get(service);
    if (!l)
      throw new Error(
        `no service "${service}" with a link in stack ${this.o.stackId}; it has: ${[...this.main.keys()].join(', ')}`,
      );
    return l.proxy;
  }

  /** The identity `service`'s own connections have (an external worker is its worker port). */
  private callerLabel(service: string): string {
    const l = this.main.get(service);
    if (!l) throw new Error(`no service "${service}" with a link in stack ${this.o.stackId}`);
    return placeLabel(l.target);
  }

  // ---- who is calling ----------------------------------------------------------------------------------

  private async identify(peer: Peer, listenPort: number): Promise<Identity | undefined> {
    const tagged = taggedIdentity(peer);
    if (tagged) return tagged;
    const inode = await clientSocketInode(peer.port, listenPort, peer.family);
    if (inode === undefined) return undefined; // no /proc: unknown, never blocked
    if (inode === 0) return { gone: true };
    for (const fresh of [false, true]) {
      const procs = await this.o.processes(fresh);
      const pid = await ownerAmong(inode, procs.keys());
      if (pid !== undefined) return { caller: procs.get(pid)! };
      // Closed while we looked (a caller that gave up at once): not worth a scan of every process.
      if ((await clientSocketInode(peer.port, listenPort, peer.family)) === 0) return { gone: true };
    }
    if (await ownerAmong(inode, [process.pid])) return { caller: HARNESS };
    // No owner found, yet the socket was still listed: a caller that wrote and exited while we scanned leaves
    // its socket listed for a moment. Forwarded as unknown, its bytes would cross a partition (CI: "leak"
    // reached b), so look a few more times for it being gone before calling the caller unknown.
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 10));
      if ((await clientSocketInode(peer.port, listenPort, peer.family)) === 0) return { gone: true };
    }
    return undefined;
  }
}

function normal(p: LinkPolicy): LinkPolicy {
  return { blocked: !!p.blocked, latencyMs: p.latencyMs ?? 0, bandwidthBps: p.bandwidthBps ?? 0 };
}
