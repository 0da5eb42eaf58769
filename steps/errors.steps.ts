// Bad input: invalid jobs, malformed bodies, and the contract's error bodies.

import { Given, Then, When } from '@cucumber/cucumber';
import { expect } from 'chai';
import { Job } from '../lib/clients/job.ts';
import { refusalOf } from '../lib/clients/http.ts';
import { conform, ErrorBodySchema } from '../lib/contract/http.ts';
import { metricValue } from '../lib/clients/metrics.ts';
import type { TaskRequest } from '../lib/clients/rbee.ts';
import { DEFAULT_MODEL } from '../lib/stack/spec.ts';
import type { Stack } from '../lib/stack/stack.ts';
import type { RbeeWorld } from '../support/world.ts';
import { holdsFor } from '../lib/observe/eventually.ts';
import { formatTimeline, mergeTimeline } from '../lib/observe/logs.ts';

const validTask = (): TaskRequest => ({ model: DEFAULT_MODEL, prompt: 'hello bees', max_tokens: 4 });

/** The phrases an Examples table may use to break a valid job, one per bad field. */
const BREAKERS: Record<string, (t: TaskRequest) => void> = {
  'max_tokens 0': (t) => (t.max_tokens = 0),
  'an empty prompt': (t) => (t.prompt = ''),
  'temperature 3': (t) => (t.temperature = 3),
  '5 stop strings': (t) => (t.stop = ['a', 'b', 'c', 'd', 'e']),
};

function breakTask(changes: string): TaskRequest {
  const task = validTask();
  for (const phrase of changes.split(',').map((s) => s.trim())) {
    const apply = BREAKERS[phrase];
    if (!apply) throw new Error(`unknown change "${phrase}"; known: ${Object.keys(BREAKERS).join('; ')}`);
    apply(task);
  }
  return task;
}

/** What "no state changed" is checked against: the hive's workers and each worker's job counters. */
async function stateSnapshot(stack: Stack, hive: string): Promise<unknown> {
  const workers = await stack.hive(hive).workers();
  const jobs = await Promise.all(
    workers.map(async (w) => metricValue((await stack.worker(w.url).metrics()).samples, 'rbee_worker_jobs_total')),
  );
  return workers.map((w, i) => ({ worker_id: w.worker_id, state: w.state, pid: w.pid, jobs_total: jobs[i] }));
}

Given(
  'a snapshot of the hive {string} workers and the worker job counters',
  async function (this: RbeeWorld, hive: string) {
    this.remembered.set('snapshot', await stateSnapshot(await this.theStack(), hive));
  },
);

Then(
  'the hive {string} workers and the worker job counters are unchanged',
  async function (this: RbeeWorld, hive: string) {
    expect(await stateSnapshot(await this.theStack(), hive)).to.deep.equal(this.recall('snapshot'));
  },
);

// The queen must refuse bad input itself: a job it let through to a hive (acquire) or a worker (which then
// refused it with the same error) leaves the same answer and the same counters, but log lines with the
// request's correlation id on the hive and the worker (contract §0: every hop logs the id it was given).
Then('no hive or worker logged anything for correlation id {string}', async function (this: RbeeWorld, cid: string) {
  const stack = await this.theStack();
  // Log lines reach their files through a pipe, so "none" must hold for a moment, not just once.
  await holdsFor(
    () => {
      const seen = stack.logs().filter((l) => l.service !== 'queen' && l.correlation_id === cid);
      if (seen.length) {
        const what = [...new Set(seen.map((l) => `${l.service} ${l.event ?? l.msg}`))].join(', ');
        throw new Error(
          `the job was refused, yet it went past the queen: ${seen.length} hive/worker log line(s) carry ${cid} (${what})\n${formatTimeline(mergeTimeline(seen))}`,
        );
      }
    },
    { during: 300, every: 50, what: `no hive or worker log line for ${cid}` },
  );
});

When(
  'a client submits a job with {} and correlation id {string}',
  async function (this: RbeeWorld, changes: string, cid: string) {
    await submitBad(this, breakTask(changes), cid);
  },
);

When(
  'a client submits a job without {string} and correlation id {string}',
  async function (this: RbeeWorld, field: string, cid: string) {
    const task = validTask() as unknown as Record<string, unknown>;
    delete task[field];
    await submitBad(this, task as TaskRequest, cid);
  },
);

async function submitBad(world: RbeeWorld, task: TaskRequest, cid: string): Promise<void> {
  const job = await Job.submit((await world.theStack()).queen, task, { correlationId: cid });
  world.jobs.push(job);
  world.response = refusalOf(job);
}

When(
  "a client sends the body {string} to the queen's task route with correlation id {string}",
  async function (this: RbeeWorld, body: string, cid: string) {
    this.response = await (
      await this.theStack()
    ).queen.http.post('/v2/tasks', undefined, { rawBody: body, headers: { 'x-correlation-id': cid } });
  },
);

When(
  'a client sends the worker an inference request with max_tokens {int} and top_p {int} and correlation id {string}',
  async function (this: RbeeWorld, maxTokens: number, topP: number, cid: string) {
    const stack = await this.theStack();
    const [w] = await stack.hive(stack.hiveNames[0]!).workers();
    const res = await stack
      .worker(w!.url)
      .inference(
        { job_id: 'full-009-direct', prompt: 'hi', max_tokens: maxTokens, top_p: topP },
        { headers: { 'x-correlation-id': cid } },
      );
    this.response = refusalOf(res);
  },
);

function answer(world: RbeeWorld) {
  if (!world.response) throw new Error('no answer was recorded by an earlier step');
  return world.response;
}

Then('the answer is {int} {string}', function (this: RbeeWorld, status: number, code: string) {
  const r = answer(this);
  expect(r.status, `status (body ${r.text})`).to.equal(status);
  expect(r.json?.error?.code, `error code in ${r.text}`).to.equal(code);
});

Then(
  'the answer is {int} {string} naming exactly the fields {string}',
  function (this: RbeeWorld, status: number, code: string, fields: string) {
    const r = answer(this);
    expect(r.status, `status (body ${r.text})`).to.equal(status);
    expect(r.json?.error?.code, `error code in ${r.text}`).to.equal(code);
    const listed = (conform('the error body', ErrorBodySchema, r.json).error.errors ?? []).map((e) => e.field);
    expect([...listed].sort(), `fields listed in ${r.text}`).to.deep.equal(
      fields
        .split(',')
        .map((f) => f.trim())
        .sort(),
    );
    for (const e of r.json.error.errors)
      expect(e, 'each field error').to.include.keys('field', 'constraint', 'message');
  },
);

Then(
  'the answer is {int} {string} naming the field {string}',
  function (this: RbeeWorld, status: number, code: string, field: string) {
    const r = answer(this);
    expect(r.status, `status (body ${r.text})`).to.equal(status);
    expect(r.json?.error?.code, `error code in ${r.text}`).to.equal(code);
    expect(r.json.error.message, 'error message').to.include(field);
  },
);

Then('the error carries correlation id {string}', function (this: RbeeWorld, cid: string) {
  const r = answer(this);
  expect(r.headers['x-correlation-id'], 'x-correlation-id header').to.equal(cid);
  expect(r.json?.error?.correlation_id, `correlation_id in ${r.text}`).to.equal(cid);
});
