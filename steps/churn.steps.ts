// Many workers at once: spawning, stopping, and what the hive lists afterwards.

import { Given, Then, When } from '@cucumber/cucumber';
import { expect } from 'chai';
import { metricValue } from '../lib/clients/metrics.ts';
import { eventually } from '../lib/observe/eventually.ts';
import type { RbeeWorld } from '../support/world.ts';

interface Spawned {
  id: string;
  pid?: number | null;
  stopped?: boolean;
}

function spawned(world: RbeeWorld): Spawned[] {
  if (!world.remembered.has('spawned')) world.remembered.set('spawned', []);
  return world.recall<Spawned[]>('spawned');
}

async function spawnAtOnce(world: RbeeWorld, hive: string, n: number): Promise<void> {
  const stack = await world.theStack();
  const model = stack.spec.hives[0]!.model;
  const answers = await Promise.all(Array.from({ length: n }, () => stack.hive(hive).spawn(model)));
  for (const r of answers) expect(r.status, `spawn answer ${r.text}`).to.equal(200);
  const ids = answers.map((r) => r.json.worker_id as string);
  await eventually(
    async () => {
      const listed = await stack.hive(hive).workers();
      const notIdle = ids.filter((id) => listed.find((w) => w.worker_id === id)?.state !== 'idle');
      expect(notIdle, 'spawned workers not idle yet').to.deep.equal([]);
      for (const id of ids) spawned(world).push({ id, pid: listed.find((w) => w.worker_id === id)!.pid });
    },
    { within: 30_000, every: 100, what: `${n} new workers on ${hive} to be idle` },
  );
}

Given('every hive may run at most {int} workers', function (this: RbeeWorld, n: number) {
  this.configure().hiveEnv({ RBEE_MAX_WORKERS: String(n) });
});

When('the hive {string} spawns {int} workers at once', async function (this: RbeeWorld, hive: string, n: number) {
  await spawnAtOnce(this, hive, n);
});

When('the hive {string} spawns {int} more workers', async function (this: RbeeWorld, hive: string, n: number) {
  await spawnAtOnce(this, hive, n);
});

When('{int} of those workers are stopped through the hive', async function (this: RbeeWorld, n: number) {
  const stack = await this.theStack();
  for (const w of spawned(this)
    .filter((x) => !x.stopped)
    .slice(0, n)) {
    const r = await stack.hive(stack.hiveNames[0]!).shutdownWorker(w.id);
    expect(r.status, `stop ${w.id}: ${r.text}`).to.equal(200);
    w.stopped = true;
  }
});

Then(
  'the hive {string} lists exactly the {int} workers that are alive, each with its own id and port',
  async function (this: RbeeWorld, hive: string, n: number) {
    const stack = await this.theStack();
    const alive = spawned(this)
      .filter((w) => !w.stopped)
      .map((w) => w.id)
      .sort();
    expect(alive.length, 'workers this scenario expects alive').to.equal(n);
    await eventually(
      async () => {
        const listed = await stack.hive(hive).workers();
        expect(listed.map((w) => w.worker_id).sort(), `${hive}'s worker ids`).to.deep.equal(alive);
      },
      { within: 10_000, what: `${hive} to list exactly the ${n} live workers` },
    );
    const listed = await stack.hive(hive).workers();
    const ports = listed.map((w) => new URL(w.url).port);
    expect(new Set(ports).size, `ports ${ports.join(', ')}`).to.equal(n);
    expect(new Set(listed.map((w) => w.worker_id)).size, 'distinct worker ids').to.equal(n);
  },
);

Then('no process is left for the stopped workers', async function (this: RbeeWorld) {
  const stack = await this.theStack();
  const stopped = spawned(this).filter((w) => w.stopped);
  expect(stopped.length, 'stopped workers').to.be.above(0);
  await eventually(
    async () => {
      for (const w of stopped)
        expect(
          await stack.workerAlive(stack.hiveNames[0]!, { worker_id: w.id, pid: w.pid ?? null }),
          `process ${w.pid} of stopped worker ${w.id}`,
        ).to.equal(false);
    },
    { within: 10_000, what: "the stopped workers' processes to be gone" },
  );
});

Then(
  "the hive's {string} gauge says {int} {string} and nothing else",
  async function (this: RbeeWorld, gauge: string, n: number, state: string) {
    const stack = await this.theStack();
    const samples = (await stack.hive(stack.hiveNames[0]!).metrics()).samples.filter((s) => s.name === gauge);
    expect(metricValue(samples, gauge, { state }), `${gauge}{state="${state}"}`).to.equal(n);
    const others = samples
      .filter((s) => s.labels.state !== state && s.value !== 0)
      .map((s) => `${s.labels.state}=${s.value}`);
    expect(others, `${gauge} in other states`).to.deep.equal([]);
  },
);

Then('each of them answers its health check through the URL the hive lists', async function (this: RbeeWorld) {
  const stack = await this.theStack();
  for (const w of await stack.hive(stack.hiveNames[0]!).workers()) {
    const r = await stack.worker(w.url).health();
    expect(r.status, `${w.worker_id} at ${w.url}: ${r.text}`).to.equal(200);
  }
});
