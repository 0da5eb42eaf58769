// Faults injected into running jobs and workers, and how the stack reacts to them.

import { Given, Then, When } from '@cucumber/cucumber';
import { expect } from 'chai';
import { checkFailedStream, streamEndingProblems } from '../lib/checks/stream.ts';
import { eventually, leftOf } from '../lib/observe/eventually.ts';
import { memoryUsage } from '../lib/observe/in-service.ts';
import type { FaultRecord } from '../lib/faults/timeline.ts';
import type { RbeeWorld, Victim } from '../support/world.ts';
import { expectNoProblems } from '../support/expect.ts';

function killOf(v: Victim): FaultRecord {
  if (!v.fault) throw new Error(`no kill of ${v.workerId} was recorded (a step that kills it must come first)`);
  return v.fault;
}

Given('workers generate one token every {int} ms', function (this: RbeeWorld, ms: number) {
  this.configure().workerEnv({ MOCK_TOKEN_DELAY_MS: String(ms) });
});

When('the job has streamed {int} tokens', async function (this: RbeeWorld, n: number) {
  await eventually(() => expect(this.job.tokensSoFar, 'tokens received').to.be.at.least(n), {
    within: 15_000,
    what: `${n} tokens to arrive`,
  });
});

When('the worker running the job is killed with SIGKILL', async function (this: RbeeWorld) {
  const { node_name, worker_id } = this.job.dispatch ?? {};
  expect(worker_id, 'the queen named the worker running the job').to.be.a('string');
  const fault = await this.nemesis!.crashWorker(node_name!, worker_id!);
  this.victim = { hive: node_name!, workerId: worker_id!, fault };
});

When('the first worker of {string} is killed with SIGKILL', async function (this: RbeeWorld, hive: string) {
  const stack = await this.theStack();
  const first = await stack.firstWorker(hive);
  const fault = await this.nemesis!.crashWorker(hive, first.worker_id);
  this.victim = { hive, workerId: first.worker_id, pid: first.pid!, fault };
});

Then("within {int} seconds that worker's process is gone", async function (this: RbeeWorld, s: number) {
  const stack = await this.theStack();
  const v = this.theVictim();
  await eventually(
    async () =>
      expect(
        await stack.workerAlive(v.hive, { worker_id: v.workerId, pid: v.pid ?? null }),
        `pid ${v.pid} alive`,
      ).to.equal(false),
    { within: leftOf(killOf(v).appliedAt, s * 1000), what: `worker ${v.workerId} (pid ${v.pid}) to be gone` },
  );
});

Then(
  "the client's stream ends with a retryable error event, then {string}",
  async function (this: RbeeWorld, done: string) {
    const result = await this.job.done();
    expectNoProblems(
      [
        ...checkFailedStream(result, ['WORKER_CRASHED', 'WORKER_UNREACHABLE']),
        ...streamEndingProblems(result, 'error', done),
      ],
      'problems with the failed stream',
    );
  },
);

Then(
  'within {int} seconds the hive logs {string} for that worker with signal {string}',
  async function (this: RbeeWorld, s: number, event: string, signal: string) {
    const stack = await this.theStack();
    const v = this.theVictim();
    const line = await eventually(
      () => {
        const l = stack
          .logs(v.hive)
          .find((x) => x.service === 'hive' && x.event === event && x.worker_id === v.workerId);
        expect(l, `a "${event}" line for ${v.workerId} in ${v.hive}'s log`).to.not.equal(undefined);
        return l!;
      },
      { within: leftOf(killOf(v).appliedAt, s * 1000), what: `${v.hive} to log ${event} for ${v.workerId}` },
    );
    expect(line.signal, `signal recorded in ${JSON.stringify(line)}`).to.equal(signal);
    const detectedMs = Date.parse(line.ts) - killOf(v).appliedAt;
    expect(detectedMs, `the hive logged ${event} ${detectedMs} ms after the kill`).to.be.at.most(s * 1000);
    this.measure('crash detection (kill → hive log)', detectedMs);
  },
);

Given('workers hold {int} KiB of context per generated token', function (this: RbeeWorld, kib: number) {
  this.configure().workerEnv({ MOCK_KV_BYTES_PER_TOKEN: String(kib * 1024) });
});

Given('the memory use of {string} is noted', async function (this: RbeeWorld, service: string) {
  await this.theStack();
  this.remembered.set(`memory of ${service}`, await memoryUsage(await this.theStack(), service));
});

Then(
  'the process killed was the worker running the job: its hive logs {string} for it with signal {string} and was not restarted',
  async function (this: RbeeWorld, event: string, signal: string) {
    const stack = await this.theStack();
    const { node_name: hive, worker_id: workerId } = this.job.dispatch ?? {};
    expect(workerId, 'the queen named the worker running the job').to.be.a('string');
    const oom = this.theFault();
    const line = await eventually(
      () => {
        const l = stack.logs(hive!).find((x) => x.service === 'hive' && x.event === event && x.worker_id === workerId);
        expect(l, `a "${event}" line for ${workerId} in ${hive}'s log`).to.not.equal(undefined);
        return l!;
      },
      { within: 5000, what: `${hive} to log ${event} for ${workerId}` },
    );
    expect(line.signal, `signal in ${JSON.stringify(line)}`).to.equal(signal);
    // Where workers have their own containers, the engine's OOM event must be that worker's, not its hive's.
    if (stack.running.workerContainer?.(workerId!) !== undefined)
      expect(oom.detail, "the engine's OOM event names the worker's own container").to.include(`(${workerId})`);
    const seen = Date.parse(line.ts);
    expect(seen - oom.appliedAt, `the hive saw the worker die ${seen - oom.appliedAt} ms after the kill`).to.be.within(
      -1000,
      5000,
    );
    const instance = await stack.service(hive!).instance();
    expect(instance.startedAt, `${hive} (${instance.id}) started again after the job was submitted`).to.be.below(
      this.job.submittedAt,
    );
    expect((await stack.hive(hive!).health()).status, `${hive} answers /v1/health`).to.equal(200);
    this.measure('OOM kill → hive reports the worker dead', seen - oom.appliedAt);
    this.victim = { hive: hive!, workerId: workerId!, fault: oom };
  },
);

Then(
  'within {int} seconds the memory use of {string} is back to at most what was noted',
  async function (this: RbeeWorld, s: number, service: string) {
    const noted = this.recall<number>(`memory of ${service}`);
    const oom = this.theFault();
    const MIB = 1024 * 1024;
    await eventually(
      async () => {
        const now = await memoryUsage(await this.theStack(), service);
        expect(
          now / MIB,
          `memory of ${service} in MiB (noted before the job: ${(noted / MIB).toFixed(1)})`,
        ).to.be.at.most(noted / MIB);
      },
      { within: leftOf(oom.appliedAt, s * 1000), what: `${service}'s memory to be given back` },
    );
    this.measure('OOM kill → memory given back', Date.now() - oom.appliedAt);
  },
);

Then('within {int} seconds the hive no longer lists that worker', async function (this: RbeeWorld, s: number) {
  const stack = await this.theStack();
  const v = this.theVictim();
  await eventually(
    async () => {
      const still = (await stack.hive(v.hive).workers()).find((w) => w.worker_id === v.workerId);
      expect(still, `${v.hive} still lists the killed worker ${v.workerId} (state ${still?.state})`).to.equal(
        undefined,
      );
    },
    // From the fault when there was one (a kill); a worker the hive drops by itself (PAT-008) has none.
    { within: v.fault ? leftOf(v.fault.appliedAt, s * 1000) : s * 1000, what: `${v.hive} to drop ${v.workerId}` },
  );
  if (v.fault) this.measure('crashed worker dropped by hive', Date.now() - v.fault.appliedAt);
});

Then('within {int} seconds the queen no longer lists that worker', async function (this: RbeeWorld, s: number) {
  const stack = await this.theStack();
  const v = this.theVictim();
  await eventually(
    async () => {
      const still = (await stack.queen.workerList()).find((w) => w.worker_id === v.workerId);
      expect(still, `the queen still lists the killed worker ${v.workerId} (${JSON.stringify(still)})`).to.equal(
        undefined,
      );
    },
    { within: leftOf(killOf(v).appliedAt, s * 1000), what: `the queen to drop ${v.workerId}` },
  );
  this.measure('crashed worker dropped by queen', Date.now() - killOf(v).appliedAt);
});

Then('the new job did not run on the crashed worker', async function (this: RbeeWorld) {
  await this.job.done();
  const v = this.theVictim();
  expect(this.job.dispatch?.worker_id, 'worker of the new job').to.be.a('string').and.not.equal(v.workerId);
});
