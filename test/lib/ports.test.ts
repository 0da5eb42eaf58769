import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { freePort, freePortBlock, isFetchBadPort, isPortFree, portRanges } from '../../lib/stack/ports.ts';

test('free ports are distinct and bindable', async () => {
  const ports = await Promise.all(Array.from({ length: 20 }, () => freePort()));
  assert.equal(new Set(ports).size, 20);
  for (const p of ports.slice(0, 3)) assert.equal(await isPortFree(p), true);
});

test('a port in use is not free, and a block skips it', async () => {
  // Occupy a port inside the range blocks are taken from (20000 up to the ephemeral range).
  const [low, high] = portRanges().block;
  const srv = net.createServer();
  let used = 0;
  for (let p = low + Math.floor(Math.random() * 5000); !used; p++) {
    used = await new Promise<number>((resolve) => {
      srv.once('error', () => resolve(0));
      srv.listen(p, '127.0.0.1', () => resolve(p));
    });
  }
  assert.equal(await isPortFree(used), false);
  // Force the first candidate block to contain the used port: the allocator must move on.
  const span = Math.max(high - low, 8 * 4);
  let first = true;
  const random = () => {
    if (first) {
      first = false;
      return (used - 2 - low) / (span - 8);
    }
    return Math.random();
  };
  const [lo, hi] = await freePortBlock(8, random);
  assert.equal(hi - lo, 7);
  assert.ok(used < lo || used > hi, `block ${lo}-${hi} contains the used port ${used}`);
  srv.close();
});

test('parallel runners draw from disjoint slices of the port ranges', () => {
  const alone = portRanges({});
  const slices = [0, 1, 2, 3].map((id) => portRanges({ CUCUMBER_TOTAL_WORKERS: '4', CUCUMBER_WORKER_ID: String(id) }));
  for (const kind of ['single', 'block'] as const) {
    for (let i = 0; i < slices.length; i++) {
      const [lo, hi] = slices[i]![kind];
      assert.ok(lo >= alone[kind][0] && hi <= alone[kind][1] && hi - lo > 1000, `${kind} slice ${i}: ${lo}-${hi}`);
      if (i > 0) assert.ok(lo >= slices[i - 1]![kind][1], `${kind} slices ${i - 1} and ${i} overlap`);
    }
  }
  assert.deepEqual(portRanges({ CUCUMBER_TOTAL_WORKERS: '1', CUCUMBER_WORKER_ID: '0' }), alone);
});

test("ports Node's fetch() refuses are never handed out (10080 lies in the single-port range)", async () => {
  assert.equal(isFetchBadPort(10080), true);
  await assert.rejects(fetch('http://127.0.0.1:10080/'), /fetch failed/);
  const [low, high] = portRanges().single;
  let first = true;
  const random = () => {
    if (first) {
      first = false;
      return (10080 - low + 0.5) / (high - low); // the first candidate drawn is 10080
    }
    return Math.random();
  };
  assert.notEqual(await freePort(random), 10080);
});
