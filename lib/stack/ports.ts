// Free loopback ports for the process runtime. A port is found by binding port 0 (the kernel picks a
// free one); ports handed out by this process are remembered so two stacks in one runner never share.

import net from 'node:net';

const handedOut = new Set<number>();

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

/** One free port on 127.0.0.1 not yet handed out by this process. */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const p = await tryBind(0);
    if (p && !handedOut.has(p)) {
      handedOut.add(p);
      return p;
    }
  }
  throw new Error('could not find a free loopback port after 50 attempts');
}

/** A block of `size` consecutive free ports (a hive's worker port range). Random base in 20000–59999. */
export async function freePortBlock(size: number, random: () => number = Math.random): Promise<[number, number]> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20000 + Math.floor(random() * (40000 - size));
    let ok = true;
    for (let p = base; p < base + size && ok; p++) {
      ok = !handedOut.has(p) && (await isPortFree(p));
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
