// The queen's system view of health, and making workers unhealthy.

import { Then, When } from '@cucumber/cucumber';
import { expect } from 'chai';
import { eventually } from '../lib/observe/eventually.ts';
import { hiveViewProblems, workerGoneProblems, workerViewProblems, type HiveStatus } from '../lib/observe/views.ts';
import { expectNoProblems } from '../support/expect.ts';
import type { RbeeWorld } from '../support/world.ts';

async function expectSystemHealth(
  world: RbeeWorld,
  status: string,
  hive: string,
  healthy: number,
  withinMs: number,
): Promise<void> {
  const stack = await world.theStack();
  await eventually(
    async () => {
      const view = await stack.queen.systemView();
      const text = JSON.stringify(view);
      expect(view.status, `system status in ${text}`).to.equal(status);
      const h = view.hives.find((x) => x.node_name === hive);
      expect(h, `hive ${hive} in ${text}`).to.include({ status: 'available', circuit: 'closed' });
      expect(h!.workers.filter((w) => w.healthy).length, `healthy workers of ${hive} in ${text}`).to.equal(healthy);
      expect(h!.workers.length, `workers of ${hive}`).to.equal(healthy);
    },
    { within: withinMs, what: `the queen's system health to be ${status} with ${healthy} healthy workers on ${hive}` },
  );
}

Then(
  "the queen's system health is {string} with hive {string} available and {int} healthy workers",
  async function (this: RbeeWorld, status: string, hive: string, n: number) {
    await expectSystemHealth(this, status, hive, n, 5000);
  },
);

Then(
  "within {int} seconds the queen's system health is {string} with hive {string} available and {int} healthy workers",
  async function (this: RbeeWorld, s: number, status: string, hive: string, n: number) {
    const t0 = Date.now();
    await expectSystemHealth(this, status, hive, n, s * 1000);
    this.measure('recovery seen in system health', Date.now() - t0);
  },
);

When('the first worker of {string} is paused', async function (this: RbeeWorld, hive: string) {
  const stack = await this.theStack();
  const first = await stack.firstWorker(hive);
  this.fault = await this.nemesis!.pauseWorker(hive, first.worker_id);
  this.victim = { hive, workerId: first.worker_id, pid: first.pid ?? undefined, fault: this.fault };
});

When('that worker is resumed', async function (this: RbeeWorld) {
  await this.nemesis!.heal(this.theFault());
});

Then(
  "within {int} seconds the queen's system health is {string} and names that worker as unhealthy",
  async function (this: RbeeWorld, s: number, status: string) {
    const stack = await this.theStack();
    const { workerId } = this.theVictim();
    const fault = this.theFault();
    await eventually(
      async () => {
        const view = await stack.queen.systemView();
        expect(view.status, `system status in ${JSON.stringify(view)}`).to.equal(status);
        const w = view.hives.flatMap((h) => h.workers).find((x) => x.worker_id === workerId);
        expect(w, `worker ${workerId} in ${JSON.stringify(view)}`).to.include({ healthy: false });
      },
      { within: this.withinOfLastFault(s), every: 100, what: `the system view to be ${status} naming ${workerId}` },
    );
    this.measure('unhealthy worker detected in system health', Date.now() - fault.appliedAt);
  },
);

Then(
  'within {int} seconds every view shows the hive {string} as {string}',
  async function (this: RbeeWorld, s: number, hive: string, status: HiveStatus) {
    const stack = await this.theStack();
    await eventually(async () => expectNoProblems(await hiveViewProblems(stack, hive, status), `views of ${hive}`), {
      within: this.withinOfLastFault(s),
      what: `every view to show ${hive} as ${status}`,
    });
  },
);

Then('within {int} seconds no view lists that worker any more', async function (this: RbeeWorld, s: number) {
  const stack = await this.theStack();
  const { hive, workerId } = this.theVictim();
  await eventually(
    async () => expectNoProblems(await workerGoneProblems(stack, hive, workerId), `views of ${workerId}`),
    { within: this.withinOfLastFault(s), what: `every view to let ${workerId} go` },
  );
});

Then(
  'within {int} seconds every view shows that worker as {string}',
  async function (this: RbeeWorld, s: number, state: 'idle' | 'unhealthy') {
    const stack = await this.theStack();
    const { hive, workerId } = this.theVictim();
    await eventually(
      async () => expectNoProblems(await workerViewProblems(stack, hive, workerId, state), `views of ${workerId}`),
      { within: this.withinOfLastFault(s), what: `every view to show ${workerId} as ${state}` },
    );
  },
);
