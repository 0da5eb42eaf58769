// The fault timeline (what was applied and healed, and how the heal was proved) and the nemesis's own
// checks that a fault happened: a restart must give a new instance and a moment without answers, a crash
// must take the service down, a killed worker is timed from the signal.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { FaultTimeline } from '../../lib/faults/timeline.ts';
import { Nemesis } from '../../lib/faults/nemesis.ts';
import type { Stack } from '../../lib/stack/stack.ts';

test('the timeline heals newest first, collects heal errors, and knows its latest event', async () => {
  const t = new FaultTimeline();
  const order: string[] = [];
  const a = t.applied('pause', 'a', async () => (order.push('a'), 'a answers'));
  const b = t.applied('partition', 'b', async () => {
    order.push('b');
    throw new Error('rule still there');
  });
  assert.equal(t.lastEventAt(), Math.max(a.appliedAt, b.appliedAt));
  assert.deepEqual(t.active, [a, b]);
  const errors = await t.healAll();
  assert.deepEqual(order, ['b', 'a']);
  assert.deepEqual(errors, ['could not heal partition of b: rule still there']);
  assert.equal(a.healCheck, 'a answers');
  assert.ok(a.healedAt! >= a.appliedAt);
  assert.equal(b.healedAt, undefined);
  assert.equal(t.lastEventAt(), Math.max(a.healedAt!, b.appliedAt));
  assert.match(
    t.format(a.appliedAt),
    /^\+0 ms pause a → healed at \+\d+ ms: a answers\n\+\d+ ms partition b → never healed$/,
  );
  assert.equal(new FaultTimeline().lastEventAt(), undefined);
});

/** A service behind a real HTTP server whose restart can be made to do nothing. */
async function fakeService(restartWorks: boolean) {
  let pid = 100;
  let server = http.createServer((_q, r) => r.end('ok'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const svc = {
    name: 'queen',
    kind: 'queen' as const,
    url: `http://127.0.0.1:${port}`,
    instance: async () => ({ id: `pid ${pid}`, startedAt: pid }),
    restart: async () => {
      if (!restartWorks) return;
      await new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections();
      await new Promise((r) => setTimeout(r, 150)); // down for a moment, as a real restart is
      pid++;
      server = http.createServer((_q, r) => r.end('ok'));
      await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    },
    close: () => {
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections();
      return closed;
    },
  };
  return svc;
}

test('a restart is observed: a new instance and unanswered health probes, or it fails', async () => {
  for (const works of [true, false]) {
    const svc = await fakeService(works);
    const nemesis = new Nemesis({ service: () => svc } as unknown as Stack);
    try {
      if (works) {
        const r = await nemesis.restartService('queen');
        assert.match(r.healCheck!, /pid 100 → pid 101; [1-9]\d* of \d+ health probes unanswered/);
      } else {
        await assert.rejects(nemesis.restartService('queen'), /queen was not restarted: still pid 100/);
      }
    } finally {
      await svc.close();
    }
  }
});

test('a killed worker is timed from the signal, not from when the signal returned', async () => {
  let signalledAt = 0;
  const stack = {
    hive: () => ({ workers: async () => [{ worker_id: 'w-1', pid: 42, url: 'http://127.0.0.1:1' }] }),
    signalWorker: async () => {
      signalledAt = Date.now();
      await new Promise((r) => setTimeout(r, 200)); // an exec in a container can take this long
    },
  };
  const r = await new Nemesis(stack as unknown as Stack).crashWorker('hive-a', 'w-1');
  assert.ok(r.appliedAt <= signalledAt, `applied at ${r.appliedAt}, signal sent at ${signalledAt}`);
  assert.equal(r.target, 'worker w-1 on hive-a');
});
