// Container lifecycle through the runtime, with the `peer` stand-in service (so this tests the runtime,
// not the reference services): stderr reaches the log file too, SIGSTOP/SIGCONT freeze and thaw, a crash
// is reported with its signal, restart keeps the data, a service that dies at start fails start-up with
// one line naming it and the tail of its log, and nothing is left behind either way.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeSecrets } from '../../lib/stack/secrets.ts';
import { StackSpecBuilder } from '../../lib/stack/spec.ts';
import { getJson, leftovers, noEngine, peerRuntime, runId, workDir } from './helpers.ts';

const spec = new StackSpecBuilder().hives(1, 0).build();

test('pause, crash, restart with the same data, logs with stderr', { skip: noEngine, timeout: 180_000 }, async (t) => {
  const rt = await peerRuntime({ only: ['hub'] });
  const t0 = performance.now();
  const stack = await rt.start(spec, await makeSecrets(), {
    runId,
    stackId: 'life',
    workDir: workDir('life'),
    healthTimeoutMs: 20_000,
  });
  t.diagnostic(`one-container stack started in ${Math.round(performance.now() - t0)} ms`);
  try {
    const hub = stack.service('hub');
    await getJson(`${hub.url}/write?text=kept`);
    assert.equal(readFileSync(join(hub.dataDir, 'probe.txt'), 'utf8'), 'kept', 'the data dir is the bind mount');

    await hub.signal('SIGSTOP');
    assert.match(await hub.describe(), /paused=true/);
    await assert.rejects(
      fetch(`${hub.url}/health`, { signal: AbortSignal.timeout(500) }),
      'a frozen service does not answer',
    );
    await hub.signal('SIGCONT');
    assert.equal((await getJson(`${hub.url}/health`)).status, 'ok');

    await hub.signal('SIGKILL');
    const exit = await hub.waitExit(10_000);
    assert.deepEqual(exit, { code: null, signal: 'SIGKILL', oomKilled: false });
    assert.equal(hub.running(), false);

    await hub.restart();
    assert.equal(hub.running(), true);
    assert.equal((await getJson(`${hub.url}/health`)).status, 'ok');
    assert.equal(readFileSync(join(hub.dataDir, 'probe.txt'), 'utf8'), 'kept', 'same data after restart');

    await hub.signal('SIGTERM');
    assert.deepEqual(await hub.waitExit(10_000), { code: 0, signal: null, oomKilled: false });
    const log = readFileSync(hub.logFile, 'utf8');
    assert.equal(log.match(/this line went to stderr/g)?.length, 2, `stderr of both runs is in the log:\n${log}`);
    assert.equal(log.match(/"event":"service.listening"/g)?.length, 2, 'stdout of both runs is in the log');
    assert.match(log, /"event":"shutdown.started"/);
  } finally {
    await stack.stop();
  }
  assert.deepEqual(await leftovers('life'), []);
});

test(
  'a service that exits at start fails start-up with its name and log tail, leaving nothing',
  { skip: noEngine, timeout: 120_000 },
  async () => {
    const rt = await peerRuntime({
      only: ['hub', 'queen'],
      command: (p) =>
        p.name === 'queen'
          ? ['node', '-e', 'console.error("queen: no database here"); process.exit(3)']
          : ['node', 'test/docker/fixtures/peer.mjs'],
    });
    const dir = workDir('dies');
    await assert.rejects(
      rt.start(spec, await makeSecrets(), { runId, stackId: 'dies', workDir: dir, healthTimeoutMs: 20_000 }),
      (e: Error) =>
        /queen exited before becoming healthy \(exit 3\); last log lines: .*queen: no database here/.test(e.message) &&
        !e.message.includes('\n'),
    );
    assert.deepEqual(await leftovers('dies'), []);
    assert.equal(existsSync(dir), false);
  },
);

test(
  'a service that never answers health fails start-up within the bound',
  { skip: noEngine, timeout: 120_000 },
  async () => {
    const rt = await peerRuntime({
      only: ['hub'],
      command: () => ['node', '-e', 'console.log("sleeping"); setInterval(() => {}, 1000)'],
    });
    const t0 = Date.now();
    await assert.rejects(
      rt.start(spec, await makeSecrets(), { runId, stackId: 'mute', workDir: workDir('mute'), healthTimeoutMs: 2000 }),
      /^Error: docker stack .* did not start: hub never became healthy within 2000 ms \(GET http:\/\/[\d.]+:8000\/health: ECONNREFUSED\); last log lines: sleeping$/,
    );
    assert.ok(Date.now() - t0 < 15_000);
    assert.deepEqual(await leftovers('mute'), []);
  },
);
