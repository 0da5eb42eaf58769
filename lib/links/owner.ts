// Why: several services reach a target through the same address (the queen and a hive's workers both call
// the hive at RBEE_HIVE_URL; the hive and the queen both call a worker at the URL the hive advertises), so a
// link proxy cannot tell callers apart by where they connect. It asks the kernel instead, as iptables'
// owner match would: the connecting socket's inode from /proc/net/tcp{,6}, and the process holding that
// inode among the stack's own processes. Connections the harness opens on a service's behalf (callFrom,
// heal checks) are tagged by their local port before they connect, so they need no lookup.

import { promises as fsp } from 'node:fs';
import net from 'node:net';
import type { Endpoint, Identity, LinkPolicy, Peer } from './proxy.ts';

// ---- /proc lookups ----------------------------------------------------------------------------------

/**
 * The client's side of the loopback connection from local port `clientPort` to port `serverPort`: its
 * socket inode, 0 when no process holds it any more (the client closed it: FIN_WAIT, TIME_WAIT), or
 * undefined when /proc cannot say (not Linux). A missing entry counts as closed: the proxy still holds its
 * side, so the client's can only be gone if the client closed it.
 */
export async function clientSocketInode(
  clientPort: number,
  serverPort: number,
  family: 'IPv4' | 'IPv6',
): Promise<number | undefined> {
  let text: string;
  try {
    text = await fsp.readFile(family === 'IPv6' ? '/proc/net/tcp6' : '/proc/net/tcp', 'latin1');
  } catch {
    return undefined;
  }
  const local = `:${hexPort(clientPort)}`;
  const remote = `:${hexPort(serverPort)}`;
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode …
    if (f.length < 10 || !f[1]!.endsWith(local) || !f[2]!.endsWith(remote)) continue;
    return Number(f[9]) || 0;
  }
  return 0;
}

/** Does process `pid` hold socket `inode` open? */
export async function holdsSocket(pid: number, inode: number): Promise<boolean> {
  const want = `socket:[${inode}]`;
  let fds: string[];
  try {
    fds = await fsp.readdir(`/proc/${pid}/fd`);
  } catch {
    return false;
  }
  const targets = await Promise.all(fds.map((fd) => fsp.readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')));
  return targets.includes(want);
}

/** Of `pids`, the one that holds socket `inode`. */
export async function ownerAmong(inode: number, pids: Iterable<number>): Promise<number | undefined> {
  const list = [...pids];
  const held = await Promise.all(list.map((pid) => holdsSocket(pid, inode)));
  const i = held.indexOf(true);
  return i >= 0 ? list[i] : undefined;
}

function hexPort(port: number): string {
  return port.toString(16).toUpperCase().padStart(4, '0');
}

/**
 * Processes on this machine whose environment carries `env` (NAME=value pairs, all of them), with their
 * command lines: how a stack's workers are found (they inherit the hive's labels).
 */
export async function processesWithEnv(env: Record<string, string>): Promise<Array<{ pid: number; argv: string[] }>> {
  const want = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  const out: Array<{ pid: number; argv: string[] }> = [];
  let entries: string[];
  try {
    entries = await fsp.readdir('/proc');
  } catch {
    return out;
  }
  await Promise.all(
    entries
      .filter((e) => /^\d+$/.test(e))
      .map(async (e) => {
        try {
          const vars = (await fsp.readFile(`/proc/${e}/environ`, 'latin1')).split('\0');
          if (!want.every((w) => vars.includes(w))) return;
          const argv = (await fsp.readFile(`/proc/${e}/cmdline`, 'latin1')).split('\0').filter(Boolean);
          out.push({ pid: Number(e), argv });
        } catch {
          /* gone meanwhile, or not ours to read */
        }
      }),
  );
  return out.sort((a, b) => a.pid - b.pid);
}

// ---- connections made on a service's behalf ----------------------------------------------------------

const tags = new Map<string, Identity>();
const tagKey = (address: string, port: number) => `${address.replace(/^::ffff:/, '')}|${port}`;

/** The identity of a connection the harness tagged, by the peer address the proxy sees. */
export function taggedIdentity(peer: Peer): Identity | undefined {
  return tags.get(tagKey(peer.address, peer.port));
}

/** A loopback source address of the family of `host`. */
function sourceFor(host: string): string {
  return net.isIPv6(host) ? '::1' : '127.0.0.1';
}

async function reserveLocalPort(address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.once('error', reject);
    s.listen({ host: address, port: 0, exclusive: true }, () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * A TCP connection to `to` that every link proxy identifies as `caller` (tagged by its local port before it
 * connects, so the proxy can never see it untagged). `probe` makes it a check: the proxy reports the
 * policy it would apply and closes it without forwarding anything. The tag goes when the socket closes.
 */
export async function connectAs(
  caller: string,
  to: Endpoint,
  o: { probe?: (p: LinkPolicy) => void } = {},
): Promise<net.Socket> {
  const address = sourceFor(to.host);
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < 5; attempt++) {
    const localPort = await reserveLocalPort(address);
    const key = tagKey(address, localPort);
    tags.set(key, { caller, ...(o.probe ? { probe: o.probe } : {}) });
    const sock = net.connect({ host: to.host, port: to.port, localAddress: address, localPort });
    const outcome = await new Promise<Error | undefined>((resolve) => {
      sock.once('connect', () => resolve(undefined));
      sock.once('error', (e) => resolve(e));
    });
    if (!outcome) {
      sock.once('close', () => tags.delete(key));
      return sock;
    }
    tags.delete(key);
    sock.destroy();
    lastError = outcome;
    // Someone took the reserved port between the check and the connect: take another one.
    if ((outcome as NodeJS.ErrnoException).code !== 'EADDRINUSE') break;
  }
  throw new Error(`connect as ${caller} to ${to.host}:${to.port}: ${lastError?.message}`);
}

/** Ask the proxy at `to` which policy it applies to `caller` now (a connection that forwards nothing). */
export async function probeAs(caller: string, to: Endpoint, withinMs = 3000): Promise<LinkPolicy> {
  let report!: (p: LinkPolicy) => void;
  const reported = new Promise<LinkPolicy>((resolve) => (report = resolve));
  const sock = await connectAs(caller, to, { probe: (p) => report(p) });
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      reported,
      new Promise<never>(
        (_, reject) =>
          (timer = setTimeout(
            () =>
              reject(
                new Error(
                  `the link at ${to.host}:${to.port} gave no answer to a probe as ${caller} within ${withinMs} ms`,
                ),
              ),
            withinMs,
          )),
      ),
    ]);
  } finally {
    if (timer) clearTimeout(timer);
    sock.destroy();
  }
}
