// The docker runtime with the reference services: a hub and a hive start in containers on their own
// internal network, answer health at their container IPs, their output lands in the log files, a hive's
// worker (a child process in the hive's container, with workers: 'in-hive') can be signalled by the pid the
// hive reports, and teardown leaves no container or network. By default each worker has its own container,
// which the harness starts on the hive's request: one per worker, locked down like the services, signalled
// on its own, outliving its hive's restart, and gone with the stack.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually } from '../../lib/observe/eventually.ts';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DockerRuntime } from '../../lib/docker/docker-runtime.ts';
import { docker } from '../../lib/docker/engine.ts';
import { LABEL } from '../../lib/docker/labels.ts';
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
    const stack = await new DockerRuntime({ only, workers: 'in-hive' }).start(spec, secrets, {
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

test(
  "by default each worker runs in its own container, started on its hive's request, and outlives a hive restart",
  { skip: noEngine || (!haveHive && 'no hive sources'), timeout: 300_000 },
  async () => {
    const spec = new StackSpecBuilder().hives(1, 0).build();
    const secrets = await makeSecrets();
    const dir = workDir('own');
    const stack = await new DockerRuntime({ only: ['hub', 'hive-a'] }).start(spec, secrets, {
      runId,
      stackId: 'own',
      workDir: dir,
      healthTimeoutMs: 30_000,
    });
    try {
      const hive = stack.service('hive-a');
      const H = { authorization: `Bearer ${secrets.serviceToken}`, 'content-type': 'application/json' };
      const spawn = () =>
        fetch(`${hive.url}/v1/workers/spawn`, {
          method: 'POST',
          headers: H,
          body: JSON.stringify({ model_ref: spec.hives[0]!.model, backend: 'cpu', device: 0 }),
        }).then((r) => r.json() as Promise<{ worker_id: string }>);
      const ids = [(await spawn()).worker_id, (await spawn()).worker_id].sort();
      type Listed = { worker_id: string; state: string; url: string; pid: number | null };
      const list = async () => (await getJson(`${hive.url}/v1/workers/list`, secrets.serviceToken)).workers as Listed[];
      const idle = (want: string[]) =>
        eventually(
          async () => {
            const ws = await list();
            assert.deepEqual(
              ws
                .filter((w) => w.state === 'idle')
                .map((w) => w.worker_id)
                .sort(),
              want,
              `workers: ${JSON.stringify(ws)}`,
            );
            return ws;
          },
          { within: 20_000, every: 100, what: `workers ${want.join(', ')} to be idle` },
        );
      const workers = await idle(ids);

      // docker ps: one running container per worker, labelled with its id and hive, locked down.
      const running = await docker().listContainers({
        filters: { label: [`${LABEL.stack}=${stack.id}`, `${LABEL.hive}=hive-a`] },
      });
      assert.deepEqual(running.map((c) => c.Labels[LABEL.service]).sort(), ids, 'one container per worker');
      for (const w of workers) {
        assert.equal(w.url, `http://${w.worker_id}:${new URL(w.url).port}`, 'a worker answers to its own name');
        assert.equal((await getJson(`${stack.harnessUrl(w.url)}/health`)).status, 'healthy');
        const c = stack.workerContainer(w.worker_id)!;
        const info = await c.container.inspect();
        assert.deepEqual(info.HostConfig.CapDrop, ['ALL']);
        assert.equal(info.HostConfig.ReadonlyRootfs, true);
        assert.ok(!JSON.stringify(info.HostConfig.Binds).includes('docker.sock'), 'no engine socket');
      }

      // A worker's crash is its own container's: the hive sees it exit by SIGKILL and drops it.
      await stack.workerContainer(ids[0]!)!.signal('SIGKILL');
      await eventually(
        async () => {
          const removed = (await getJson(`${hive.url}/v1/workers/list`, secrets.serviceToken))
            .recently_removed as Array<{
            worker_id: string;
            signal: string | null;
          }>;
          assert.equal(removed.find((r) => r.worker_id === ids[0])?.signal, 'SIGKILL', JSON.stringify(removed));
        },
        { within: 10_000, every: 100, what: 'the hive to drop the killed worker' },
      );
      assert.equal(hive.running(), true, 'the hive itself is unaffected');

      // The hive's container is killed and started again: the other worker's container lives on and is kept.
      const before = (await stack.workerContainer(ids[1]!)!.instance()).id;
      await hive.restart();
      await idle([ids[1]!]);
      assert.equal((await stack.workerContainer(ids[1]!)!.instance()).id, before, 'the same container, not a new one');
    } finally {
      await stack.stop();
    }
    assert.deepEqual(await leftovers('own'), []);
  },
);
