// Generic fault steps on named services: signals, pause, restart, partitions, latency, files, OOM.
// Used by the fault self-test and by any scenario that breaks a service on purpose.

import { Given, Then, When } from '@cucumber/cucumber';
import { expect } from 'chai';
import { eventually } from '../lib/observe/eventually.ts';
import { HEALTH_PATH } from '../lib/stack/services.ts';
import { orSkip } from '../support/skip.ts';
import type { RbeeWorld } from '../support/world.ts';
import { callFrom, confirmOom } from '../lib/observe/in-service.ts';

async function healthOf(world: RbeeWorld, name: string, timeoutMs: number): Promise<number> {
  const svc = (await world.theStack()).service(name);
  const r = await fetch(svc.url + HEALTH_PATH[svc.kind], { signal: AbortSignal.timeout(timeoutMs) });
  return r.status;
}

When('the service {string} receives SIGTERM', async function (this: RbeeWorld, name: string) {
  const stack = await this.theStack();
  if (stack.service(name).kind === 'hive')
    this.remembered.set(
      'workers before the signal',
      (await stack.hive(name).workers()).map((w) => ({ worker_id: w.worker_id, pid: w.pid })),
    );
  this.remembered.set('sigterm at', Date.now());
  await stack.service(name).signal('SIGTERM');
});

Then(
  'the service {string} exits with code 0 within {int} seconds',
  async function (this: RbeeWorld, name: string, s: number) {
    const status = await (await this.theStack()).service(name).waitExit(s * 1000);
    expect(status, `${name} still running after ${s} s`).to.not.equal(undefined);
    expect(status).to.deep.include({ code: 0 });
    this.measure(`${name} graceful exit`, Date.now() - this.recall<number>('sigterm at'));
  },
);

Then("within {int} seconds that hive's worker processes are gone", async function (this: RbeeWorld, s: number) {
  const stack = await this.theStack();
  const workers = this.recall<Array<{ worker_id: string; pid: number | null }>>('workers before the signal');
  expect(workers.length, 'workers recorded before the signal').to.be.above(0);
  await eventually(
    async () => {
      for (const w of workers)
        expect(await stack.workerAlive('hive-a', w), `worker ${w.worker_id} (pid ${w.pid}) alive`).to.equal(false);
    },
    { within: s * 1000, what: "the hive's workers to be gone" },
  );
});

When('the service {string} is paused', async function (this: RbeeWorld, name: string) {
  await this.theStack();
  this.fault = await this.nemesis!.pauseService(name);
});

When('the service {string} is resumed', async function (this: RbeeWorld, name: string) {
  const pause = this.theFault();
  expect(pause.target, 'the service the scenario paused').to.equal(name);
  await this.nemesis!.heal(pause);
});

Then(
  'the service {string} does not answer its health route within {int} ms',
  async function (this: RbeeWorld, name: string, ms: number) {
    const outcome = await healthOf(this, name, ms).then(
      (status) => `answered ${status}`,
      (e: Error) => `no answer (${e.name})`,
    );
    expect(outcome, `${name}'s health route while paused`).to.match(/^no answer/);
  },
);

Then('the service {string} answers its health route', async function (this: RbeeWorld, name: string) {
  await eventually(async () => expect(await healthOf(this, name, 1000)).to.equal(200), {
    within: 10_000,
    what: `${name} to answer its health route`,
  });
});

When('the service {string} is restarted', async function (this: RbeeWorld, name: string) {
  await this.theStack();
  await this.nemesis!.restartService(name);
});

Then(
  'within {int} seconds the queen lists the hive {string} as {string}',
  async function (this: RbeeWorld, s: number, hive: string, status: string) {
    await this.expectInQueenRegistry(hive, { status }, this.withinOfLastFault(s));
    const since = this.nemesis!.timeline.lastEventAt();
    if (since !== undefined) this.measure(`queen lists ${hive} ${status} (from the fault)`, Date.now() - since);
  },
);

When('the hive {string} is stopped', async function (this: RbeeWorld, name: string) {
  const svc = (await this.theStack()).service(name);
  await svc.signal('SIGTERM');
  expect(await svc.waitExit(15_000), `${name} did not stop within 15 s`).to.not.equal(undefined);
});

When(
  '{int} bytes at the start of the file {string} of {string} are overwritten with garbage',
  async function (this: RbeeWorld, n: number, file: string, service: string) {
    await this.theStack();
    await this.nemesis!.corruptFile(service, file, { offset: 0, length: n });
  },
);

Then(
  'the file {string} of {string} no longer starts with the SQLite header',
  async function (this: RbeeWorld, file: string, service: string) {
    const head = (await (await this.theStack()).service(service).files.read(file)).subarray(0, 16).toString('latin1');
    expect(head, `first 16 bytes of ${file}`).to.not.equal('SQLite format 3\0');
  },
);

When('{string} and {string} are partitioned', async function (this: RbeeWorld, a: string, b: string) {
  await this.theStack();
  return orSkip(this, async () => (this.fault = await this.nemesis!.partition(a, b)));
});

When('{string} is cut off from {string} in one direction', async function (this: RbeeWorld, a: string, b: string) {
  await this.theStack();
  return orSkip(this, async () => (this.fault = await this.nemesis!.partition(a, b, true)));
});

When(
  '{int} ms of latency is added from {string} to {string}',
  async function (this: RbeeWorld, ms: number, a: string, b: string) {
    await this.theStack();
    return orSkip(this, async () => (this.fault = await this.nemesis!.shapeLink(a, b, { latencyMs: ms })));
  },
);

When('the partition is healed', async function (this: RbeeWorld) {
  await this.nemesis!.heal(this.theFault());
});

When('the latency is removed', async function (this: RbeeWorld) {
  await this.nemesis!.heal(this.theFault());
});

async function callBetween(world: RbeeWorld, from: string, to: string) {
  const stack = await world.theStack();
  return callFrom(stack, from, to, HEALTH_PATH[stack.service(to).kind]);
}

Then(
  'a call from {string} to the health route of {string} fails',
  async function (this: RbeeWorld, from: string, to: string) {
    const r = await callBetween(this, from, to);
    expect(r.ok, `call ${from} → ${to}: ${JSON.stringify(r)}`).to.equal(false);
  },
);

Then(
  'a call from {string} to the health route of {string} succeeds',
  async function (this: RbeeWorld, from: string, to: string) {
    const r = await callBetween(this, from, to);
    expect(r, `call ${from} → ${to}`).to.include({ ok: true, status: 200 });
  },
);

Then(
  'a call from {string} to the health route of {string} takes at least {int} ms',
  async function (this: RbeeWorld, from: string, to: string, ms: number) {
    const r = await callBetween(this, from, to);
    expect(r.ok, JSON.stringify(r)).to.equal(true);
    this.measure(`${from} → ${to} with latency`, r.ms);
    expect(r.ms, `call time ${from} → ${to}`).to.be.at.least(ms);
  },
);

Then(
  'a call from {string} to the health route of {string} takes less than {int} ms',
  async function (this: RbeeWorld, from: string, to: string, ms: number) {
    // The fastest of three: added latency delays every call, while a loaded machine only delays some.
    const calls = [];
    for (let i = 0; i < 3; i++) calls.push(await callBetween(this, from, to));
    for (const r of calls) expect(r.ok, JSON.stringify(r)).to.equal(true);
    const fastest = Math.min(...calls.map((r) => r.ms));
    this.measure(`${from} → ${to} after heal (fastest of 3)`, fastest);
    expect(fastest, `fastest of 3 calls ${from} → ${to} (${calls.map((r) => r.ms).join(', ')} ms)`).to.be.below(ms);
  },
);

Then('the harness still reaches {string} and {string}', async function (this: RbeeWorld, a: string, b: string) {
  for (const name of [a, b]) expect(await healthOf(this, name, 2000), `${name} from the harness`).to.equal(200);
});

Given('the hive {string} has a memory limit of {int} MiB', function (this: RbeeWorld, hive: string, mib: number) {
  this.configure().memoryLimit(hive, mib * 1024 * 1024);
});

When(
  'the hive {string} is asked to spawn a worker for {string}',
  async function (this: RbeeWorld, hive: string, model: string) {
    const stack = await this.theStack();
    this.remembered.set('spawn at', Date.now());
    const r = await stack.hive(hive).spawn(model);
    expect(r.status, r.text).to.equal(200);
    this.victim = { hive, workerId: r.json.worker_id };
  },
);

Then(
  'within {int} seconds the engine confirms an out-of-memory kill in {string}',
  async function (this: RbeeWorld, s: number, service: string) {
    // The kill follows a spawn request, made directly or by the queen for a job.
    const since = (this.remembered.get('spawn at') as number | undefined) ?? this.job.submittedAt;
    const oom = await confirmOom(await this.theStack(), this.nemesis!.timeline, service, since - 1000, s * 1000);
    this.measure('request → OOM kill', oom.at - since);
    this.fault = oom.record;
  },
);

Then('the hive logs {string} for that worker', async function (this: RbeeWorld, event: string) {
  const stack = await this.theStack();
  const v = this.theVictim();
  await eventually(
    () => {
      expect(
        stack.logs(v.hive).find((l) => l.service === 'hive' && l.event === event && l.worker_id === v.workerId),
        `a "${event}" line for ${v.workerId}`,
      ).to.not.equal(undefined);
    },
    { within: 5000, what: `${v.hive} to log ${event}` },
  );
});
