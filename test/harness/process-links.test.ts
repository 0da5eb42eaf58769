// Why: the process runtime puts the harness's link proxies between every pair of services; this checks on
// a real stack that the services' own traffic crosses them with each caller recognised (the queen, the hive,
// the hive's worker), that the harness itself goes direct, and that stopping the stack leaves no link
// listening.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { eventually } from '../../lib/observe/eventually.ts';
import { ProcessRuntime } from '../../lib/stack/process-runtime.ts';
import { Stack } from '../../lib/stack/stack.ts';
import { StackSpecBuilder } from '../../lib/stack/spec.ts';

function refused(url: string): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const s = net.connect(Number(u.port), u.hostname.replace(/^\[|\]$/g, ''));
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
  });
}

test('services call each other through links that know the caller; the harness goes direct; stop closes every link', async () => {
  const spec = new StackSpecBuilder().hives(1, 1).build();
  const stack = await Stack.start(spec, new ProcessRuntime({ links: true }), {
    runId: `t${process.pid}`,
    stackId: 'links',
  });
  let linkUrls: string[] = [];
  try {
    const hive = stack.service('hive-a');
    const queen = stack.service('queen');
    assert.notEqual(hive.internalUrl, hive.url, 'other services reach the hive through its link');
    const [worker] = await stack.hive('hive-a').workers();
    assert.match(worker!.url, /^http:\/\/\[::1\]:\d+$/, 'the hive advertises its worker behind a link');
    assert.match(stack.reachable(worker!.url), /^http:\/\/127\.0\.0\.1:\d+$/, 'the harness calls the worker directly');
    linkUrls = [hive.internalUrl, queen.internalUrl, stack.service('hub').internalUrl, worker!.url];

    // Heartbeats: hive → queen, worker → hive; health probes: hive → worker. Each caller is recognised.
    await eventually(
      async () => {
        const into = (name: string) => stack.running.services.get(name)!.describe();
        assert.match(await into('queen'), /→queen .*: hive-a \d+ conn/);
        assert.match(await into('hive-a'), /→hive-a .*: hive-a@\d+ \d+ conn/);
        assert.match(await into('hive-a'), /→hive-a@\d+ .*: hive-a \d+ conn/);
      },
      { within: 10_000, what: 'traffic on the links, by caller' },
    );

    const r = await stack.running.linkFaults!.callFrom('queen', hive.internalUrl + '/v1/health', 2000);
    assert.deepEqual({ ok: r.ok, status: r.status }, { ok: true, status: 200 });
  } finally {
    await stack.running.stop();
  }
  for (const url of linkUrls) assert.equal(await refused(url), true, `${url} still accepts connections after stop`);
});
