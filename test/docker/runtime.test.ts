// The docker runtime with the reference services: a hub and a hive start in containers on their own
// internal network, answer health at their container IPs, their output lands in the log files, a hive's
// worker (a child process in the hive's container) can be signalled by the pid the hive reports, and
// teardown leaves no container or network.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually } from '../../lib/observe/eventually.ts';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DockerRuntime } from '../../lib/docker/docker-runtime.ts';
import { docker } from '../../lib/docker/engine.ts';
import { PROJECT_ROOT } from '../../lib/docker/images.ts';
import { makeSecrets } from '../../lib/stack/secrets.ts';
import { StackSpecBuilder } from '../../lib/stack/spec.ts';
import { getJson, leftovers, noEngine, runId, workDir } from './helpers.ts';

const haveHive =
  existsSync(join(PROJECT_ROOT, 'stack/hive/main.ts')) && existsSync(join(PROJECT_ROOT, 'stack/worker/main.ts'));

test(
  'hub and hive start healthy in containers, log to files, and leave nothing behind',
  { skip: noEngine, timeout: 300_000 },
  async (t) => {
    const spec = new StackSpecBuilder().hives(1, 0).build();
    const secrets = await makeSecrets();
    const only = haveHive ? ['hub', 'hive-a'] : ['hub'];
    const dir = workDir('stack');
    const t0 = performance.now();
    const stack = await new DockerRuntime({ only }).start(spec, secrets, {
      runId,
      stackId: 'ref',
      workDir: dir,
      healthTimeoutMs: 30_000,
    });
    t.diagnostic(
      `stack (${only.join(', ')}) started in ${Math.round(performance.now() - t0)} ms (image build included if the tree changed)`,
    );
    try {
      const hub = stack.service('hub');
      assert.match(hub.url, /^http:\/\/\d+\.\d+\.\d+\.\d+:8000$/, 'reached at the container IP');
      const models = await getJson(`${hub.url}/api/models`);
      assert.ok(Array.isArray(models.models) && models.models.length > 0, 'the hub lists models');

      // The container really is unprivileged and locked down.
      const info = await hub.container.inspect();
      assert.equal(info.Config.User, '10001:10001');
      assert.deepEqual(info.HostConfig.CapDrop, ['ALL']);
      assert.deepEqual(info.HostConfig.SecurityOpt, ['no-new-privileges']);
      assert.equal(info.HostConfig.ReadonlyRootfs, true);
      assert.equal(info.HostConfig.RestartPolicy?.Name, 'no');
      const net = await docker().getNetwork(stack.networkName).inspect();
      assert.equal(net.Internal, true, 'the stack network has no route out');

      // Logs: the hub's JSON lines, as it printed them.
      const lines = readFileSync(hub.logFile, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { service?: string; event?: string });
      assert.ok(
        lines.some((l) => l.service === 'hub' && l.event === 'service.listening'),
        `hub log: ${readFileSync(hub.logFile, 'utf8')}`,
      );

      if (haveHive) {
        const hive = stack.service('hive-a');
        const health = await getJson(`${hive.url}/v1/health`);
        assert.ok(['alive', 'degraded'].includes(health.status), JSON.stringify(health));
        assert.equal(statSync(hive.dataDir).uid, process.getuid?.() === 0 ? 10001 : process.getuid?.());

        // A worker is a child process inside the hive's container; the harness reaches it at the hive's IP.
        const H = { authorization: `Bearer ${secrets.serviceToken}`, 'content-type': 'application/json' };
        const spawned = await fetch(`${hive.url}/v1/workers/spawn`, {
          method: 'POST',
          headers: H,
          body: JSON.stringify({ model_ref: spec.hives[0]!.model, backend: 'cpu', device: 0 }),
        });
        assert.equal(spawned.status, 200, await spawned.clone().text());
        const worker: { pid: number; url: string; state: string } = await eventually(
          async () => {
            const w = (await getJson(`${hive.url}/v1/workers/list`, secrets.serviceToken)).workers?.[0];
            assert.equal(w?.state, 'idle', `worker: ${JSON.stringify(w)}`);
            return w;
          },
          { within: 15_000, every: 100, what: 'the spawned worker to be idle' },
        );
        assert.match(worker.url, /^http:\/\/hive-a:81\d\d$/, 'workers advertise the hive alias');
        const wh = await getJson(`${stack.harnessUrl(worker.url)}/health`);
        assert.equal(wh.status, 'healthy');
        assert.equal(await hive.childAlive(worker.pid), true);
        await hive.signalChild(worker.pid, 'SIGKILL');
        await eventually(
          async () => assert.equal(await hive.childAlive(worker.pid), false, 'the worker died of the signal'),
          { within: 5000, what: 'the worker to die' },
        );
        assert.equal(hive.running(), true, 'the hive itself is unaffected');

        // A worker outside the hive: its own container, loading the model the hive downloaded.
        const models = (await getJson(`${hive.url}/v1/models`, secrets.serviceToken)).models as Array<{
          local_path: string;
        }>;
        const local = models[0]?.local_path;
        assert.ok(local?.startsWith('/data/'), `model path inside the hive: ${local}`);
        const ext = await stack.startExternalWorker({
          workerId: 'worker-ext',
          hive: 'hive-a',
          modelRef: spec.hives[0]!.model,
          hiveModelPath: local!,
        });
        assert.equal((await getJson(`${ext.url}/health`)).status, 'healthy');
        const listed = await eventually(
          async () => {
            const ws = (await getJson(`${hive.url}/v1/workers/list`, secrets.serviceToken)).workers as Array<{
              worker_id: string;
              state: string;
              url: string;
              external: boolean;
            }>;
            const w = ws.find((x) => x.worker_id === 'worker-ext');
            assert.equal(w?.state, 'idle', `the hive lists the external worker: ${JSON.stringify(w)}`);
            return w!;
          },
          { within: 10_000, every: 100, what: 'the external worker to be idle' },
        );
        assert.equal(listed.url, 'http://worker-ext:8100');
        assert.equal(listed.external, true);
      }
    } finally {
      await stack.stop();
      await stack.stop(); // idempotent
    }
    assert.deepEqual(await leftovers('ref'), []);
    assert.equal(existsSync(dir), false, 'the work dir is gone');
  },
);
