// Submitting inference jobs and checking what the client received.

import { Then, When } from '@cucumber/cucumber';
import { expect } from 'chai';
import { Job } from '../lib/clients/job.ts';
import { checkCompletedStream, streamEndingProblems } from '../lib/checks/stream.ts';
import { anomaliesOf, historyOfJobs } from '../lib/checks/accounted.ts';
import { formatAnomalies } from '../lib/checks/history.ts';
import { eventually } from '../lib/observe/eventually.ts';
import { DEFAULT_MODEL } from '../lib/stack/spec.ts';
import type { RbeeWorld } from '../support/world.ts';
import { expectNoProblems } from '../support/expect.ts';

/** Submits without waiting for the answer: the queen answers only once a worker runs the job. */
async function submit(world: RbeeWorld, model: string, maxTokens: number, correlationId?: string): Promise<Job> {
  const stack = await world.theStack();
  const job = Job.begin(
    stack.queen,
    { model, prompt: `scenario ${world.scenarioId}: tell me about bees`, max_tokens: maxTokens, seed: 7 },
    correlationId ? { correlationId } : {},
  );
  world.jobs.push(job);
  return job;
}

When(
  'a client submits a job for the default model with max_tokens {int} and correlation id {string}',
  async function (this: RbeeWorld, n: number, cid: string) {
    await submit(this, DEFAULT_MODEL, n, cid);
  },
);

When('a client submits a job for the default model with max_tokens {int}', async function (this: RbeeWorld, n: number) {
  await submit(this, DEFAULT_MODEL, n);
});

When(
  'a client submits a job for {string} with max_tokens {int}',
  async function (this: RbeeWorld, model: string, n: number) {
    await submit(this, model, n);
  },
);

Then('the queen accepts the job with an event stream', async function (this: RbeeWorld) {
  await this.job.answered();
  expect(this.job.error, `the queen refused the job: ${this.job.error?.status} ${this.job.error?.text}`).to.equal(
    undefined,
  );
  expect(this.job.status).to.equal(200);
  expect(this.job.headers['content-type']).to.match(/^text\/event-stream/);
});

Then("the queen's narration names the hive and the worker that ran the job", async function (this: RbeeWorld) {
  const stack = await this.theStack();
  await this.job.done();
  const d = this.job.dispatch;
  expect(d, 'no queen narration event (actor queen-rbee) in the stream').to.not.equal(undefined);
  expect(stack.hiveNames, `narration names node ${d!.node_name}`).to.include(d!.node_name);
  const workers = await stack.hive(d!.node_name!).workers();
  expect(
    workers.map((w) => w.worker_id),
    `the narration names worker ${d!.worker_id}, which ${d!.node_name} does not list`,
  ).to.include(d!.worker_id);
  // The worker named must be the one that really ran it: its own log says so.
  const ran = stack
    .logs(d!.node_name!)
    .filter((l) => l.service === 'worker' && l.event === 'job.started' && l.job_id === this.job.jobId);
  expect(
    ran.map((l) => l.worker_id),
    `worker log lines "job.started" for job ${this.job.jobId}`,
  ).to.deep.equal([d!.worker_id]);
});

Then(
  "the queen's narration names worker {string} on {string}",
  async function (this: RbeeWorld, workerId: string, hive: string) {
    await this.job.done();
    expect(this.job.dispatch, 'no queen narration event in the stream').to.include({
      worker_id: workerId,
      node_name: hive,
    });
  },
);

Then(
  'the stream is well-formed with exactly {int} tokens in order, then {string}, then {string}',
  async function (this: RbeeWorld, n: number, end: string, done: string) {
    await this.job.answered();
    expect(this.job.error, `the queen refused the job: ${this.job.error?.status} ${this.job.error?.text}`).to.equal(
      undefined,
    );
    const result = await this.job.done();
    await this.explaining([this.job.correlationId, this.job.jobId], async () =>
      expectNoProblems(
        [...checkCompletedStream(result, n), ...streamEndingProblems(result, end, done)],
        'problems with the job stream',
      ),
    );
  },
);

Then('the response carries correlation id {string}', async function (this: RbeeWorld, cid: string) {
  await this.job.answered();
  expect(this.job.headers['x-correlation-id'], 'x-correlation-id response header').to.equal(cid);
  const result = await this.job.done();
  const narration = result.events.map((e) => e.data).filter((e) => e.type === 'narration');
  expect(narration.length, 'narration events in the stream').to.be.above(0);
  const wrong = narration
    .filter((e) => e.correlation_id !== cid)
    .map((e) => `${e.actor ?? '?'} narration carries correlation_id ${JSON.stringify(e.correlation_id)}`);
  expectNoProblems(wrong, `narration events that do not carry the request's correlation id ${cid}`);
});

Then('the job took less than {int} seconds', async function (this: RbeeWorld, s: number) {
  await this.job.done();
  const ms = this.job.finishedAt! - this.job.submittedAt;
  this.measure('job wall time', ms);
  expect(ms, 'job wall time (ms)').to.be.below(s * 1000);
});

Then(
  "the worker that ran the job is {string} again in its hive's list",
  async function (this: RbeeWorld, state: string) {
    const stack = await this.theStack();
    await this.job.done();
    const { node_name, worker_id } = this.job.dispatch ?? {};
    await eventually(
      async () => {
        const w = (await stack.hive(node_name!).workers()).find((x) => x.worker_id === worker_id);
        expect(w?.state, `state of ${worker_id} in ${node_name}'s list`).to.equal(state);
      },
      { within: 3000, what: `worker ${worker_id} to be ${state}` },
    );
  },
);

Then(
  'the job ran on a worker of {string} spawned with {string}',
  async function (this: RbeeWorld, hive: string, model: string) {
    const stack = await this.theStack();
    await this.job.done();
    expect(this.job.dispatch?.node_name).to.equal(hive);
    const w = (await stack.hive(hive).workers()).find((x) => x.worker_id === this.job.dispatch?.worker_id);
    expect(w, `${hive} lists the worker ${this.job.dispatch?.worker_id}`).to.not.equal(undefined);
    expect(w!.model_ref, `model_ref of the worker ${w!.worker_id} in ${hive}'s list`).to.equal(model);
    expect(w!.external, 'the worker was spawned by the hive, not started outside').to.equal(false);
  },
);

Then('no accepted job of this scenario was lost or duplicated', async function (this: RbeeWorld) {
  expect(this.jobs.length, 'jobs submitted in this scenario').to.be.above(0);
  const history = await historyOfJobs(this.jobs, 30_000);
  const found = anomaliesOf(history);
  expect(
    found.length,
    `over the scenario's ${history.entries.length} job(s) (${JSON.stringify(history.countByOutcome())}):\n${formatAnomalies(found, history)}`,
  ).to.equal(0);
});
