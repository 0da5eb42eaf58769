// Why: in the process runtime every service shares one loopback interface, so the harness cannot drop
// packets between two of them as the docker runtime does with iptables. Instead each service-to-service
// address points at a LinkProxy: a TCP relay in the harness process that learns who opened each connection
// (the caller) and applies that caller's policy — blocked (new connections held, established ones cut),
// latency and bandwidth — while counting bytes and connections per caller for diagnostics.

import net from 'node:net';

export interface LinkPolicy {
  /** New connections are accepted and held without forwarding (a blackhole); established ones are cut. */
  blocked?: boolean;
  /** Added to every chunk, in both directions of the connection (as docker/linkproxy.cjs does). */
  latencyMs?: number;
  /** Bytes per second, per direction and connection; 0 or absent = unlimited. */
  bandwidthBps?: number;
}

export interface Endpoint {
  host: string;
  /** 0 = any free port (listeners only). */
  port: number;
}

/** Who opened a connection, as the identify hook found out. */
export interface Identity {
  /** Undefined with `gone`. */
  caller?: string;
  /**
   * The caller closed its end before it could be identified (nobody holds its socket any more): the
   * connection is dropped, never forwarded, so nothing it sent can slip past a rule it should have met.
   */
  gone?: boolean;
  /** A heal/apply check: report the policy this caller gets, close, and forward nothing. */
  probe?: (policy: LinkPolicy) => void;
}

export interface Peer {
  address: string;
  port: number;
  family: 'IPv4' | 'IPv6';
}

export interface LinkProxyOptions {
  /** Shown in descriptions, e.g. "→hive-a". */
  name: string;
  listen: Endpoint;
  target: Endpoint;
  /** Who opened the connection from `peer` to this proxy; undefined = unknown (never blocked or shaped). */
  identify?: (peer: Peer, listenPort: number) => Promise<Identity | undefined>;
  /** The policy for a caller (undefined = unknown caller). Read again on every `reevaluate()`. */
  policy: (caller: string | undefined) => LinkPolicy;
}

export interface CallerCounters {
  connections: number;
  open: number;
  held: number;
  cut: number;
  bytesUp: number;
  bytesDown: number;
}

const HIGH_WATER = 256 * 1024;
const IDENTIFY_TIMEOUT_MS = 2000;
const UNKNOWN = '?';

type State = 'resolving' | 'held' | 'forwarding' | 'closed';

interface Conn {
  client: net.Socket;
  upstream?: net.Socket;
  caller: string | undefined;
  state: State;
  policy: LinkPolicy;
  buffered: Buffer[];
  bufferedBytes: number;
  clientEnded: boolean;
  up?: Lane;
  down?: Lane;
  counted?: CallerCounters;
}

/**
 * One direction of one forwarded connection: chunks leave in arrival order, each no earlier than its
 * arrival + latency and no earlier than the bandwidth allows after the one before (the pacing of
 * docker/linkproxy.cjs: a token bucket without burst). A single timer serves the head of a FIFO queue, so
 * order holds even when the latency changes mid-stream.
 */
class Lane {
  private queue: Array<{ at: number; chunk: Buffer }> = [];
  private queued = 0;
  private timer: NodeJS.Timeout | undefined;
  private nextFree = 0;
  private ended = false;
  private endSent = false;
  private waitingDrain = false;
  private stopped = false;

  constructor(
    private readonly from: net.Socket,
    private readonly to: net.Socket,
    private readonly policy: () => LinkPolicy,
    private readonly counted: (n: number) => void,
  ) {}

  push(chunk: Buffer): void {
    if (this.stopped) return;
    const { latencyMs = 0, bandwidthBps = 0 } = this.policy();
    if (latencyMs <= 0 && bandwidthBps <= 0 && this.queue.length === 0) {
      this.write(chunk);
      return;
    }
    const now = Date.now();
    // Small pieces under a bandwidth cap, so a 64 KiB read is not sent in one burst after a long wait.
    const piece = bandwidthBps > 0 ? Math.max(1024, Math.floor(bandwidthBps / 20)) : chunk.length || 1;
    for (let off = 0; off < chunk.length; off += piece) {
      const part = chunk.subarray(off, off + piece);
      const at = Math.max(now + Math.max(0, latencyMs), this.nextFree);
      this.nextFree = at + (bandwidthBps > 0 ? (part.length * 1000) / bandwidthBps : 0);
      this.queue.push({ at, chunk: part });
      this.queued += part.length;
    }
    if (this.queued > HIGH_WATER) this.from.pause(); // backpressure instead of buffering without bound
    this.schedule();
  }

  end(): void {
    this.ended = true;
    this.maybeEnd();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.queue = [];
    this.queued = 0;
  }

  private schedule(): void {
    if (this.timer || this.stopped) return;
    const head = this.queue[0];
    if (!head) return;
    this.timer = setTimeout(() => this.flush(), Math.max(0, head.at - Date.now()));
  }

  private flush(): void {
    this.timer = undefined;
    const now = Date.now();
    while (this.queue.length && this.queue[0]!.at <= now) {
      const { chunk } = this.queue.shift()!;
      this.queued -= chunk.length;
      this.write(chunk);
    }
    this.maybeResume();
    this.maybeEnd();
    this.schedule();
  }

  private write(chunk: Buffer): void {
    if (this.to.destroyed) return;
    this.counted(chunk.length);
    if (!this.to.write(chunk) && !this.waitingDrain) {
      this.waitingDrain = true;
      this.from.pause();
      this.to.once('drain', () => {
        this.waitingDrain = false;
        this.maybeResume();
      });
    }
  }

  private maybeResume(): void {
    if (!this.stopped && !this.waitingDrain && this.queued <= HIGH_WATER && !this.from.destroyed) this.from.resume();
  }

  // An end from one side is passed on only after the data still delayed here, so a response followed at
  // once by a close is not cut short.
  private maybeEnd(): void {
    if (this.ended && !this.endSent && this.queue.length === 0 && !this.stopped) {
      this.endSent = true;
      if (!this.to.destroyed) this.to.end();
    }
  }
}

export class LinkProxy {
  readonly name: string;
  readonly target: Endpoint;
  private readonly server: net.Server;
  private readonly conns = new Set<Conn>();
  private readonly counters = new Map<string, CallerCounters>();
  private probes = 0;
  private abandoned = 0;
  private bound: Endpoint | undefined;
  private closed = false;
  private lastError: string | undefined;

  constructor(private readonly o: LinkProxyOptions) {
    this.name = o.name;
    this.target = { ...o.target };
    this.server = net.createServer({ allowHalfOpen: true }, (client) => this.accept(client));
    this.server.on('error', (e) => (this.lastError = e.message)); // e.g. EMFILE on accept: shown by describe()
  }

  /** Start listening; resolves with the bound address. */
  listen(): Promise<Endpoint> {
    return new Promise((resolve, reject) => {
      const onError = (e: Error) =>
        reject(new Error(`link ${this.name}: cannot listen on ${fmt(this.o.listen)}: ${e.message}`));
      this.server.once('error', onError);
      this.server.listen({ host: this.o.listen.host, port: this.o.listen.port, exclusive: true }, () => {
        this.server.off('error', onError);
        const a = this.server.address() as net.AddressInfo;
        this.bound = { host: this.o.listen.host, port: a.port };
        resolve(this.bound);
      });
    });
  }

  /** Where callers connect (after `listen`). */
  get address(): Endpoint {
    if (!this.bound) throw new Error(`link ${this.name} is not listening`);
    return this.bound;
  }

  /** Base URL of the proxy, e.g. http://127.0.0.1:31001 or http://[::1]:20005. */
  get url(): string {
    const { host, port } = this.address;
    return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  }

  get listening(): boolean {
    return this.server.listening;
  }

  /**
   * Apply the current policies to live connections: cut forwarded connections whose caller is now
   * blocked, release held ones that are no longer blocked. Shaping applies to the next chunk by itself.
   */
  reevaluate(): void {
    for (const c of this.conns) {
      if (c.state === 'resolving' || c.state === 'closed') continue;
      c.policy = this.o.policy(c.caller);
      if (c.state === 'forwarding' && c.policy.blocked) this.cut(c);
      else if (c.state === 'held' && !c.policy.blocked) this.forward(c);
    }
  }

  /** Per caller: connections (total, open, held now, cut) and bytes each way. */
  stats(): Map<string, CallerCounters> {
    return new Map([...this.counters].map(([k, v]) => [k, { ...v }]));
  }

  /** Callers with connections held right now. */
  heldCallers(): string[] {
    return [...new Set([...this.conns].filter((c) => c.state === 'held').map((c) => c.caller ?? UNKNOWN))];
  }

  /** One line for diagnostics. */
  describe(): string {
    const where = `${this.bound ? fmt(this.bound) : fmt(this.o.listen)} → ${fmt(this.target)}`;
    const parts = [...this.counters].map(([caller, c]) => {
      const extra = [c.open ? `${c.open} open` : '', c.held ? `${c.held} held` : '', c.cut ? `${c.cut} cut` : '']
        .filter(Boolean)
        .join(', ');
      return `${caller} ${c.connections} conn${extra ? ` (${extra})` : ''} ↑${bytes(c.bytesUp)} ↓${bytes(c.bytesDown)}`;
    });
    const state = (this.closed ? ' [closed]' : '') + (this.lastError ? ` [listener error: ${this.lastError}]` : '');
    const more = [
      this.probes ? `${this.probes} probes` : '',
      this.abandoned ? `${this.abandoned} closed by the caller before it was identified` : '',
    ].filter(Boolean);
    return `${this.name} ${where}${state}: ${parts.length ? parts.join('; ') : 'no connections'}${more.map((m) => `; ${m}`).join('')}`;
  }

  /** Stop listening and drop every connection. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    for (const c of this.conns) this.abort(c);
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ---- connections ---------------------------------------------------------------------------------

  private accept(client: net.Socket): void {
    if (this.closed) {
      client.destroy();
      return;
    }
    const c: Conn = {
      client,
      caller: undefined,
      state: 'resolving',
      policy: {},
      buffered: [],
      bufferedBytes: 0,
      clientEnded: false,
    };
    this.conns.add(c);
    client.on('data', (chunk: Buffer) => {
      if (c.state === 'forwarding') c.up!.push(chunk);
      else if (c.state === 'resolving' || c.state === 'held') {
        c.buffered.push(chunk);
        c.bufferedBytes += chunk.length;
        if (c.bufferedBytes > HIGH_WATER) client.pause();
      }
    });
    client.on('end', () => {
      if (c.state === 'forwarding') c.up!.end();
      else if (c.state === 'held')
        this.abort(c); // the caller gave up on a connection that never got through
      else c.clientEnded = true;
    });
    client.on('error', () => this.abort(c));
    client.on('close', () => this.closedSide(c, 'client'));
    const peer: Peer = {
      address: client.remoteAddress ?? '',
      port: client.remotePort ?? 0,
      family: client.remoteFamily === 'IPv6' ? 'IPv6' : 'IPv4',
    };
    void this.identify(peer).then((id) => this.decide(c, id));
  }

  private async identify(peer: Peer): Promise<Identity | undefined> {
    if (!this.o.identify) return undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        this.o.identify(peer, this.address.port),
        new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), IDENTIFY_TIMEOUT_MS))),
      ]);
    } catch {
      return undefined;
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  private decide(c: Conn, id: Identity | undefined): void {
    if (c.state !== 'resolving') return; // closed meanwhile
    if (id?.gone) {
      this.abandoned++;
      this.abort(c);
      return;
    }
    c.caller = id?.caller;
    c.policy = this.o.policy(c.caller);
    if (id?.probe) {
      this.probes++;
      id.probe({ ...c.policy });
      this.conns.delete(c);
      c.state = 'closed';
      c.client.destroy();
      return;
    }
    const k = this.count(c);
    k.connections++;
    k.open++;
    if (c.policy.blocked) {
      c.state = 'held';
      k.held++;
      if (c.clientEnded) this.abort(c);
      return;
    }
    this.forward(c);
  }

  private forward(c: Conn): void {
    if (c.state === 'held') this.count(c).held--;
    c.state = 'forwarding';
    const up = net.connect({ host: this.target.host, port: this.target.port, allowHalfOpen: true });
    c.upstream = up;
    const k = this.count(c);
    c.up = new Lane(
      c.client,
      up,
      () => c.policy,
      (n) => (k.bytesUp += n),
    );
    c.down = new Lane(
      up,
      c.client,
      () => c.policy,
      (n) => (k.bytesDown += n),
    );
    up.on('data', (chunk: Buffer) => c.down!.push(chunk));
    up.on('end', () => c.down!.end());
    // The target refused or broke the connection: the caller sees a reset, as it would without the relay.
    up.on('error', () => this.abort(c, true));
    up.on('close', () => this.closedSide(c, 'upstream'));
    const pending = c.buffered;
    c.buffered = [];
    c.bufferedBytes = 0;
    for (const chunk of pending) c.up.push(chunk);
    if (c.clientEnded) c.up.end();
    c.client.resume();
  }

  /** Partition: an established connection is reset on both sides, as a broken network path would leave it. */
  private cut(c: Conn): void {
    this.count(c).cut++;
    this.abort(c, true);
  }

  private abort(c: Conn, reset = false): void {
    if (c.state === 'closed') return;
    const wasHeld = c.state === 'held';
    c.state = 'closed';
    c.up?.stop();
    c.down?.stop();
    for (const s of [c.client, c.upstream]) {
      if (!s || s.destroyed) continue;
      // No RST on a socket we already ended: libuv refuses to reset one with a shutdown pending
      // (uv_tcp_close_reset → EINVAL), the handle is then never closed, and the process spins at exit.
      if (reset && !s.writableEnded && !s.connecting) {
        try {
          s.resetAndDestroy();
        } catch {
          s.destroy();
        }
      } else s.destroy();
    }
    this.done(c, wasHeld);
  }

  private closedSide(c: Conn, side: 'client' | 'upstream'): void {
    if (c.state === 'closed') return;
    const other = side === 'client' ? c.upstream : c.client;
    // A side that closed without its end being relayed (no data pending the other way) takes the other with it.
    if (side === 'client' && c.state !== 'forwarding') return this.abort(c);
    if (!other || other.destroyed) {
      const wasHeld = c.state === 'held';
      c.state = 'closed';
      c.up?.stop();
      c.down?.stop();
      this.done(c, wasHeld);
    }
  }

  private done(c: Conn, wasHeld: boolean): void {
    if (!this.conns.delete(c)) return;
    if (!c.counted) return; // closed before it was identified: never counted
    c.counted.open--;
    if (wasHeld) c.counted.held--;
  }

  private count(c: Conn): CallerCounters {
    if (c.counted) return c.counted;
    const key = c.caller ?? UNKNOWN;
    let k = this.counters.get(key);
    if (!k) this.counters.set(key, (k = { connections: 0, open: 0, held: 0, cut: 0, bytesUp: 0, bytesDown: 0 }));
    c.counted = k;
    return k;
  }
}

function fmt(e: Endpoint): string {
  return `${e.host.includes(':') ? `[${e.host}]` : e.host}:${e.port}`;
}

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
