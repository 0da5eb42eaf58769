// Why: the process runtime's partitions and slow links rest on the harness's link proxies (lib/links);
// these tests pin what each link fault does to real TCP connections on loopback — counting, blackholing,
// cutting, healing, delaying, one-way cuts, caller lookup through /proc, and that nothing stays listening.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { LinkProxy, type LinkPolicy } from '../../lib/links/proxy.ts';
import { clientSocketInode, connectAs, taggedIdentity } from '../../lib/links/owner.ts';
import { StackLinks } from '../../lib/links/stack-links.ts';

async function echoServer(): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    s.pipe(s);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: (srv.address() as net.AddressInfo).port,
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        srv.close(() => r());
      }),
  };
}

async function httpServer(): Promise<{ port: number; close: () => Promise<void> }> {
  const srv = http.createServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: (srv.address() as net.AddressInfo).port,
    close: () =>
      new Promise((r) => {
        srv.closeAllConnections();
        srv.close(() => r());
      }),
  };
}

/** Resolves with the first `n` bytes the socket receives, or undefined if they do not come within `ms`. */
function receive(s: net.Socket, n: number, ms: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    let got = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      got = Buffer.concat([got, d]);
      if (got.length >= n) finish(got);
    };
    const finish = (v: Buffer | undefined) => {
      clearTimeout(t);
      s.off('data', onData);
      resolve(v);
    };
    const t = setTimeout(() => finish(undefined), ms);
    s.on('data', onData);
  });
}

function closed(s: net.Socket): Promise<void> {
  return new Promise((r) => (s.destroyed ? r() : s.once('close', () => r())));
}

function refused(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, host);
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
  });
}

/** A proxy in front of an echo server whose policy the test sets per caller; callers come from tags. */
async function proxied(): Promise<{ proxy: LinkProxy; policies: Map<string, LinkPolicy>; close: () => Promise<void> }> {
  const echo = await echoServer();
  const policies = new Map<string, LinkPolicy>();
  const proxy = new LinkProxy({
    name: '→echo',
    listen: { host: '127.0.0.1', port: 0 },
    target: { host: '127.0.0.1', port: echo.port },
    identify: async (peer) => taggedIdentity(peer),
    policy: (caller) => (caller && policies.get(caller)) || {},
  });
  await proxy.listen();
  return { proxy, policies, close: async () => (await proxy.close(), await echo.close()) };
}

test('a link relays both ways and counts connections and bytes per caller', async () => {
  const { proxy, close } = await proxied();
  try {
    const s = await connectAs('a', proxy.address);
    s.write('hello');
    assert.equal((await receive(s, 5, 2000))?.toString(), 'hello');
    const s2 = await connectAs('a', proxy.address);
    s2.write('hi');
    assert.equal((await receive(s2, 2, 2000))?.toString(), 'hi');
    const a = proxy.stats().get('a');
    assert.deepEqual(
      { connections: a?.connections, open: a?.open, bytesUp: a?.bytesUp, bytesDown: a?.bytesDown },
      { connections: 2, open: 2, bytesUp: 7, bytesDown: 7 },
    );
    s.destroy();
    s2.destroy();
    await closed(s);
    await closed(s2);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(proxy.stats().get('a')?.open, 0);
    assert.match(proxy.describe(), /→echo 127\.0\.0\.1:\d+ → 127\.0\.0\.1:\d+: a 2 conn ↑7 B ↓7 B/);
  } finally {
    await close();
  }
});

test('a partition cuts established connections, holds new ones without an answer, and heal lets them through', async () => {
  const { proxy, policies, close } = await proxied();
  try {
    const established = await connectAs('a', proxy.address);
    established.write('x');
    assert.ok(await receive(established, 1, 2000));
    const other = await connectAs('b', proxy.address); // another caller, not partitioned
    policies.set('a', { blocked: true });
    proxy.reevaluate();
    await closed(established); // cut: the caller sees its connection end
    assert.equal(proxy.stats().get('a')?.cut, 1);

    // A new connection is accepted (no instant refusal) but nothing gets through: the caller times out.
    const held = await connectAs('a', proxy.address);
    held.write('ping');
    assert.equal(await receive(held, 4, 300), undefined, 'no answer through a partition');
    assert.equal(held.destroyed, false, 'a held connection stays open');
    assert.deepEqual(proxy.heldCallers(), ['a']);
    other.write('b');
    assert.equal((await receive(other, 1, 2000))?.toString(), 'b', 'other callers are not affected');

    policies.delete('a');
    proxy.reevaluate();
    assert.equal((await receive(held, 4, 2000))?.toString(), 'ping', 'the held connection goes through after heal');
    const fresh = await connectAs('a', proxy.address);
    fresh.write('again');
    assert.equal((await receive(fresh, 5, 2000))?.toString(), 'again');
    assert.deepEqual(proxy.heldCallers(), []);
    for (const s of [held, fresh, other]) s.destroy();
  } finally {
    await close();
  }
});

test('a caller that gives up on a held connection leaves nothing held', async () => {
  const { proxy, policies, close } = await proxied();
  try {
    policies.set('a', { blocked: true });
    const held = await connectAs('a', proxy.address);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(proxy.stats().get('a')?.held, 1);
    held.end();
    await closed(held);
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual({ held: proxy.stats().get('a')?.held, open: proxy.stats().get('a')?.open }, { held: 0, open: 0 });
  } finally {
    await close();
  }
});

test('latency delays each direction by at least the set time, keeping order; removing it speeds up', async () => {
  const { proxy, policies, close } = await proxied();
  try {
    policies.set('a', { latencyMs: 120 });
    const s = await connectAs('a', proxy.address);
    const t0 = Date.now();
    for (const part of ['a', 'b', 'c', 'd']) s.write(part);
    const got = await receive(s, 4, 5000);
    const ms = Date.now() - t0;
    assert.equal(got?.toString(), 'abcd', 'order kept');
    assert.ok(ms >= 240, `round trip ${ms} ms through 120 ms each way`);
    policies.delete('a');
    proxy.reevaluate();
    s.write('e');
    assert.equal((await receive(s, 1, 5000))?.toString(), 'e');
    s.destroy();
  } finally {
    await close();
  }
});

test('a bandwidth cap paces the bytes', async () => {
  const { proxy, policies, close } = await proxied();
  try {
    policies.set('a', { bandwidthBps: 40_960 });
    const s = await connectAs('a', proxy.address);
    const t0 = Date.now();
    s.write(Buffer.alloc(20_480, 1));
    const got = await receive(s, 20_480, 10_000);
    const ms = Date.now() - t0;
    assert.equal(got?.length, 20_480);
    // 20 KiB at 40 KiB/s in pieces of 2 KiB: the last piece leaves no earlier than 9 × 50 ms after the first.
    assert.ok(ms >= 450, `20 KiB at 40 KiB/s took ${ms} ms`);
    s.destroy();
  } finally {
    await close();
  }
});

/** Two services a and b (HTTP), each behind its link, callers from tags or from a child process's pid. */
async function twoServices(pids: Map<number, string> = new Map()) {
  const a = await httpServer();
  const b = await httpServer();
  const links = new StackLinks({ stackId: 'test', processes: async () => pids });
  await links.add({ service: 'a' }, { host: '127.0.0.1', port: 0 }, { host: '127.0.0.1', port: a.port });
  await links.add({ service: 'b' }, { host: '127.0.0.1', port: 0 }, { host: '127.0.0.1', port: b.port });
  return { links, a, b, close: async () => (await links.close(), await a.close(), await b.close()) };
}

test('a one-way partition a → b stops a calling b while b still calls a; heal is verified', async () => {
  const { links, close } = await twoServices();
  try {
    const net = links.faults();
    const toA = links.url('a') + '/health';
    const toB = links.url('b') + '/health';
    assert.deepEqual(await net.callFrom('a', toB, 2000).then((r) => r.ok), true);
    const fault = await net.partition('a', 'b', { oneWay: true });
    const blocked = await net.callFrom('a', toB, 400);
    assert.deepEqual({ ok: blocked.ok, error: blocked.error }, { ok: false, error: 'TimeoutError' });
    assert.ok(blocked.ms >= 400, 'a timeout, not an instant refusal');
    assert.equal((await net.callFrom('b', toA, 2000)).ok, true, 'b → a still works');
    assert.match(await fault.heal(), /gets through again/);
    assert.equal((await net.callFrom('a', toB, 2000)).ok, true);
  } finally {
    await close();
  }
});

test('a both-ways partition stops both directions and heals', async () => {
  const { links, close } = await twoServices();
  try {
    const net = links.faults();
    const fault = await net.partition('a', 'b', { oneWay: false });
    assert.equal((await net.callFrom('a', links.url('b'), 300)).ok, false);
    assert.equal((await net.callFrom('b', links.url('a'), 300)).ok, false);
    await fault.heal();
    assert.equal((await net.callFrom('a', links.url('b'), 2000)).ok, true);
    assert.equal((await net.callFrom('b', links.url('a'), 2000)).ok, true);
  } finally {
    await close();
  }
});

test("shaping a → b adds latency to a's calls only, and heal removes it", async () => {
  const { links, close } = await twoServices();
  try {
    const net = links.faults();
    const fault = await net.shapeLink('a', 'b', { latencyMs: 150 });
    const slow = await net.callFrom('a', links.url('b') + '/x', 5000);
    assert.equal(slow.ok, true);
    assert.ok(slow.ms >= 150, `a → b took ${slow.ms} ms with 150 ms latency`);
    assert.equal((await net.callFrom('b', links.url('a') + '/x', 5000)).ok, true);
    await fault.heal();
    assert.equal((await net.callFrom('a', links.url('b') + '/x', 5000)).ok, true);
  } finally {
    await close();
  }
});

test("callers are found through /proc: a process's established connection is cut when its place is partitioned", async () => {
  const pids = new Map<number, string>();
  const { links, close } = await twoServices(pids);
  const port = Number(new URL(links.url('b')).port);
  // A stand-in for service a: a separate process holding a keep-alive connection to b's link.
  const child = spawn(
    process.execPath,
    [
      '-e',
      `const s=require('net').connect(${port},'127.0.0.1');s.on('connect',()=>console.log('connected'));s.on('close',()=>{console.log('closed');process.exit(0)});s.on('error',()=>{});setInterval(()=>{},1000)`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  try {
    pids.set(child.pid!, 'a');
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    const until = async (word: string) => {
      for (let i = 0; i < 100 && !out.includes(word); i++) await new Promise((r) => setTimeout(r, 50));
      assert.ok(out.includes(word), `child said ${JSON.stringify(out)}, waiting for ${word}`);
    };
    await until('connected');
    // Identified and forwarding (a connection still being identified when the rule comes is held instead).
    for (let i = 0; i < 100 && !links.describe().some((l) => /→b .*: a 1 conn/.test(l)); i++)
      await new Promise((r) => setTimeout(r, 20));
    const fault = await links.faults().partition('a', 'b', { oneWay: true });
    await until('closed');
    assert.equal(
      links.describe().some((l) => /→b .*: a 1 conn \(.*1 cut/.test(l)),
      true,
      links.describe().join('\n'),
    );
    await fault.heal();
  } finally {
    child.kill('SIGKILL');
    await close();
  }
});

test('a partitioned caller that writes and exits at once gets nothing through, identified or not', async () => {
  const received: Buffer[] = [];
  const sink = net.createServer((s) => s.on('data', (d) => received.push(d)).on('error', () => {}));
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
  const pids = new Map<number, string>();
  const links = new StackLinks({ stackId: 'test', processes: async () => pids });
  await links.add({ service: 'a' }, { host: '127.0.0.1', port: 0 }, { host: '127.0.0.1', port: 1 });
  await links.add(
    { service: 'b' },
    { host: '127.0.0.1', port: 0 },
    { host: '127.0.0.1', port: (sink.address() as net.AddressInfo).port },
  );
  try {
    const fault = await links.faults().partition('a', 'b', { oneWay: true });
    const port = Number(new URL(links.url('b')).port);
    for (let i = 0; i < 3; i++) {
      const child = spawn(
        process.execPath,
        [
          '-e',
          `const s=require('net').connect(${port},'127.0.0.1',()=>{s.end('leak');setTimeout(()=>process.exit(0),5)})`,
        ],
        { stdio: 'ignore' },
      );
      pids.set(child.pid!, 'a');
      await new Promise((r) => child.once('exit', r));
    }
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(Buffer.concat(received).toString(), '', 'nothing from a reached b');
    await fault.heal();
  } finally {
    await links.close();
    sink.close();
  }
});

test('a client that closed before it was identified is seen as gone, and its connection is dropped unforwarded', async () => {
  // /proc: once the client closes, its side of the connection has no inode any more.
  const srv = net.createServer({ allowHalfOpen: true }, () => {});
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  const c = net.connect(port, '127.0.0.1');
  await new Promise((r) => c.once('connect', r));
  const local = c.localPort!;
  assert.ok(((await clientSocketInode(local, port, 'IPv4')) ?? 0) > 0, 'an open client socket has an inode');
  c.destroy();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(await clientSocketInode(local, port, 'IPv4'), 0);
  srv.close();

  // The proxy drops such a connection: what the caller sent never reaches the target.
  const received: Buffer[] = [];
  const sink = net.createServer((s) => s.on('data', (d) => received.push(d)).on('error', () => {}));
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
  const proxy = new LinkProxy({
    name: '→sink',
    listen: { host: '127.0.0.1', port: 0 },
    target: { host: '127.0.0.1', port: (sink.address() as net.AddressInfo).port },
    identify: async () => (await new Promise((r) => setTimeout(r, 50)), { gone: true }),
    policy: () => ({}),
  });
  await proxy.listen();
  try {
    const s = net.connect(proxy.address.port, '127.0.0.1', () => s.end('leak'));
    await closed(s);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(Buffer.concat(received).toString(), '');
    assert.match(proxy.describe(), /1 closed by the caller before it was identified/);
  } finally {
    await proxy.close();
    sink.close();
  }
});

test('closing the links leaves nothing listening and cuts what was open', async () => {
  const { links, close } = await twoServices();
  const ports = [Number(new URL(links.url('a')).port), Number(new URL(links.url('b')).port)];
  const s = await connectAs('a', { host: '127.0.0.1', port: ports[1]! });
  await close();
  await closed(s);
  assert.equal(links.listening, 0);
  for (const p of ports) assert.equal(await refused(p), true, `port ${p} still accepts connections`);
});

test("worker ports on [::1] do not block a hive's port probe on 0.0.0.0 or the worker's bind on 127.0.0.1", async () => {
  const links = new StackLinks({ stackId: 'test', processes: async () => new Map() });
  const probe = net.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  try {
    await links.add({ service: 'hive-a', workerPort: port }, { host: '::1', port }, { host: '127.0.0.1', port });
    for (const host of ['0.0.0.0', '127.0.0.1']) {
      const s = net.createServer();
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen({ port, host, exclusive: true }, () => s.close(() => resolve()));
      });
    }
    assert.equal(links.url('hive-a', port), `http://[::1]:${port}`);
    assert.equal(links.direct(`http://[::1]:${port}/health`), `http://127.0.0.1:${port}/health`);
  } finally {
    await links.close();
  }
});
