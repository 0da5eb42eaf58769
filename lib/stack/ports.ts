// Free loopback ports for the process runtime. A port is found by binding a random candidate below the
// kernel's ephemeral range (falling back to port 0, where the kernel picks one); ports handed out by this
// process are remembered so two stacks in one runner never share. Parallel runners (cucumber's worker
// processes) each draw from their own slice of the ranges: a port checked free by one runner and bound a
// second later by its service could otherwise be drawn by another runner in between (EADDRINUSE at start).

import fs from 'node:fs';
import net from 'node:net';

const handedOut = new Set<number>();

/**
 * Ports the Fetch standard blocks ("bad ports"): Node's fetch() refuses them ("fetch failed"), so a service
 * put on one looks dead to every health check (seen: a hub on 10080 "never became healthy"). Never hand out.
 */
const FETCH_BAD_PORTS: ReadonlySet<number> = new Set([
  1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102, 103, 104, 109, 110,
  111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465, 512, 513, 514, 515, 526, 530, 531, 532,
  540, 548, 554, 556, 563, 587, 601, 636, 989, 990, 993, 995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061,
  6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080,
]);

export function isFetchBadPort(port: number): boolean {
  return FETCH_BAD_PORTS.has(port);
}

function tryBind(port: number, host = '127.0.0.1'): Promise<number | undefined> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(undefined));
    srv.listen({ port, host, exclusive: true }, () => {
      const addr = srv.address();
      const got = typeof addr === 'object' && addr ? addr.port : undefined;
      srv.close(() => resolve(got));
    });
  });
}

export async function isPortFree(port: number): Promise<boolean> {
  return (await tryBind(port)) === port;
}

/**
 * Free on 127.0.0.1 and on [::1]: a worker port is taken by its worker on the one and by the harness's link
 * in front of it on the other (lib/links), and another runner's stack may hold either for its whole life.
 */
async function isWorkerPortFree(port: number): Promise<boolean> {
  return (await tryBind(port)) === port && (!hasIpv6Loopback() || (await tryBind(port, '::1')) === port);
}

let ipv6Loopback: boolean | undefined;
function hasIpv6Loopback(): boolean {
  if (ipv6Loopback === undefined) {
    try {
      ipv6Loopback = fs.readFileSync('/proc/net/if_inet6', 'utf8').includes('00000000000000000000000000000001');
    } catch {
      ipv6Loopback = false;
    }
  }
  return ipv6Loopback;
}

/**
 * The kernel's ephemeral range (source ports of outgoing connections). A port handed out from it may be
 * taken by some connection's source port between the check and the service's own bind (EADDRINUSE at
 * start-up), so services get ports below it.
 */
export function ephemeralLow(): number {
  try {
    const low = Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 25000 ? low : 32768;
  } catch {
    return 32768;
  }
}

const SINGLE_LOW = 10000;
const BLOCK_LOW = 20000;

export interface PortRanges {
  /** Single service ports: [low, high). */
  single: [number, number];
  /** Hives' worker port blocks: [low, high). */
  block: [number, number];
}

/**
 * This runner's share of the port ranges: all of them when it runs alone, else slice CUCUMBER_WORKER_ID of
 * CUCUMBER_TOTAL_WORKERS (set by cucumber in each parallel worker process).
 */
export function portRanges(env: NodeJS.ProcessEnv = process.env): PortRanges {
  const total = Number(env.CUCUMBER_TOTAL_WORKERS);
  const id = Number(env.CUCUMBER_WORKER_ID);
  const slice = (lo: number, hi: number): [number, number] => {
    if (!(Number.isInteger(total) && total > 1 && Number.isInteger(id) && id >= 0 && id < total)) return [lo, hi];
    const width = Math.floor((hi - lo) / total);
    return [lo + id * width, lo + (id + 1) * width];
  };
  return { single: slice(SINGLE_LOW, BLOCK_LOW), block: slice(BLOCK_LOW, Math.max(ephemeralLow(), BLOCK_LOW + 4096)) };
}

/** One free port on 127.0.0.1 not yet handed out by this process (below the ephemeral range when it can). */
export async function freePort(random: () => number = Math.random): Promise<number> {
  const [low, high] = portRanges().single;
  for (let i = 0; i < 50; i++) {
    const candidate = low + Math.floor(random() * (high - low));
    if (handedOut.has(candidate) || FETCH_BAD_PORTS.has(candidate)) continue;
    if ((await tryBind(candidate)) === candidate) {
      handedOut.add(candidate);
      return candidate;
    }
  }
  for (let i = 0; i < 50; i++) {
    const p = await tryBind(0);
    if (p && !handedOut.has(p) && !FETCH_BAD_PORTS.has(p)) {
      handedOut.add(p);
      return p;
    }
  }
  throw new Error('could not find a free loopback port after 100 attempts');
}

/** A block of `size` consecutive free ports (a hive's worker port range), at a random base in this runner's block range. */
export async function freePortBlock(size: number, random: () => number = Math.random): Promise<[number, number]> {
  const [low, high] = portRanges().block;
  const span = Math.max(high - low, size * 4);
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = low + Math.floor(random() * (span - size));
    let ok = true;
    for (let p = base; p < base + size && ok; p++) {
      ok = !handedOut.has(p) && !FETCH_BAD_PORTS.has(p) && (await isWorkerPortFree(p));
    }
    if (ok) {
      for (let p = base; p < base + size; p++) handedOut.add(p);
      return [base, base + size - 1];
    }
  }
  throw new Error(`could not find ${size} consecutive free ports after 50 attempts`);
}

/** Forget ports of a stack that was torn down. */
export function releasePorts(ports: Iterable<number>): void {
  for (const p of ports) handedOut.delete(p);
}
