// Faults injected into running jobs and workers, and how the stack reacts to them.

import { Given, Then, When } from '@cucumber/cucumber';
import { expect } from 'chai';
import { checkFailedStream } from '../lib/checks/stream.ts';
import { eventually } from '../lib/observe/eventually.ts';
import type { FaultRecord } from '../lib/faults/timeline.ts';
import type { RbeeWorld } from '../support/world.ts';
import { expectNoProblems } from '../support/expect.ts';

interface Victim {
  hive: string;
  workerId: string;
  pid?: number;
  fault: FaultRecord;
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
  this.remembered.set('victim', { hive: node_name!, workerId: worker_id!, fault } satisfies Victim);
});

When('the first worker of {string} is killed with SIGKILL', async function (this: RbeeWorld, hive: string) {
  const stack = await this.theStack();
  const [first] = (await stack.hive(hive).workers()).sort((a, b) => a.worker_id.localeCompare(b.worker_id));
  expect(first, `${hive} has a worker`).to.not.equal(undefined);
  const fault = await this.nemesis!.crashWorker(hive, first!.worker_id);
  this.remembered.set('victim', { hive, workerId: first!.worker_id, pid: first!.pid!, fault } satisfies Victim);
});

Then("within {int} seconds that worker's process is gone", async function (this: RbeeWorld, s: number) {
  const stack = await this.theStack();
  const v = this.recall<Victim>('victim');
  await eventually(
    async () => expect(await stack.service(v.hive).childAlive(v.pid!), `pid ${v.pid} alive`).to.equal(false),
    { within: s * 1000, what: `worker ${v.workerId} (pid ${v.pid}) to be gone` },
  );
});

Then(
  "the client's stream ends with a retryable error event, then {string}",
  async function (this: RbeeWorld, _done: string) {
    const result = await this.job.done();
    expectNoProblems(
      checkFailedStream(result, ['WORKER_CRASHED', 'WORKER_UNREACHABLE']),
      'problems with the failed stream',
    );
  },
);

Then(
  'within {int} seconds the hive logs {string} for that worker with signal {string}',
  async function (this: RbeeWorld, s: number, event: string, signal: string) {
    const stack = await this.theStack();
    const v = this.recall<Victim>('victim');
    const line = await eventually(
      () => {
        const l = stack
          .logs(v.hive)
          .find((x) => x.service === 'hive' && x.event === event && x.worker_id === v.workerId);
        expect(l, `a "${event}" line for ${v.workerId} in ${v.hive}'s log`).to.not.equal(undefined);
        return l!;
      },
      { within: s * 1000, what: `${v.hive} to log ${event} for ${v.workerId}` },
    );
    expect(line.signal, `signal recorded in ${JSON.stringify(line)}`).to.equal(signal);
    this.measure('crash detection (kill → hive log)', Date.parse(line.ts) - v.fault.appliedAt);
  },
);

Then('within {int} seconds the hive no longer lists that worker', async function (this: RbeeWorld, s: number) {
  const stack = await this.theStack();
  const v = this.recall<Victim>('victim');
  await eventually(
    async () => {
      const still = (await stack.hive(v.hive).workers()).find((w) => w.worker_id === v.workerId);
      expect(still, `${v.hive} still lists the killed worker ${v.workerId} (state ${still?.state})`).to.equal(
        undefined,
      );
    },
    { within: s * 1000, what: `${v.hive} to drop ${v.workerId}` },
  );
  if (v.fault) this.measure('crashed worker dropped by hive', Date.now() - v.fault.appliedAt);
});

Then('within {int} seconds the queen no longer lists that worker', async function (this: RbeeWorld, s: number) {
  const stack = await this.theStack();
  const v = this.recall<Victim>('victim');
  await eventually(
    async () => {
      const r = await stack.queen.workers();
      const still = r.json.workers.find((w: any) => w.worker_id === v.workerId);
      expect(still, `the queen still lists the killed worker ${v.workerId} (${JSON.stringify(still)})`).to.equal(
        undefined,
      );
    },
    { within: s * 1000, what: `the queen to drop ${v.workerId}` },
  );
  this.measure('crashed worker dropped by queen', Date.now() - v.fault.appliedAt);
});

Then('the new job did not run on the crashed worker', async function (this: RbeeWorld) {
  await this.job.done();
  const v = this.recall<Victim>('victim');
  expect(this.job.dispatch?.worker_id, 'worker of the new job').to.be.a('string').and.not.equal(v.workerId);
});
