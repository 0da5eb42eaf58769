// Restarts and recovery: crashed workers restarted by their hive, queen and hive restarts, storage
// corruption, partitions and out-of-memory kills as the client and the services see them.

import { Given, Then, When } from '@cucumber/cucumber';
import { expect } from 'chai';
import { Job } from '../lib/clients/job.ts';
import { refusalOf } from '../lib/clients/http.ts';
import { metricValue } from '../lib/clients/metrics.ts';
import { checkCompletedStream } from '../lib/checks/stream.ts';
import { eventually, holdsFor } from '../lib/observe/eventually.ts';
import { DEFAULT_MODEL } from '../lib/stack/spec.ts';
import { orSkip } from '../support/skip.ts';
import type { Stack } from '../lib/stack/stack.ts';
import type { RbeeWorld } from '../support/world.ts';

Given('the hive {string} restarts crashed workers', function (this: RbeeWorld, hive: string) {
  this.configure().hiveEnvFor(hive, { RBEE_RESTART_POLICY: 'on-crash', RBEE_MAX_RESTARTS: '3' });
});

Then(
  'within {int} seconds that worker is {string} again with a restart count of {int}',
  async function (this: RbeeWorld, s: number, state: string, n: number) {
    const stack = await this.theStack();
    const v = this.theVictim();
    await this.explaining([v.workerId], () =>
      eventually(
        async () => {
          const w = (await stack.hive(v.hive).workers()).find((x) => x.worker_id === v.workerId);
          expect(w, `${v.hive} lists ${v.workerId}`).to.not.equal(undefined);
          expect({ state: w!.state, restart_count: w!.restart_count }).to.deep.equal({ state, restart_count: n });
        },
        { within: this.withinOfLastFault(s), what: `${v.workerId} to be ${state} after its restart` },
      ),
    );
  },
);

Then("the hive's {string} counter is {int}", async function (this: RbeeWorld, name: string, n: number) {
  const stack = await this.theStack();
  const v = this.theVictim();
  expect(metricValue((await stack.hive(v.hive).metrics()).samples, name), name).to.equal(n);
});

Then("the queen's narration names that worker", async function (this: RbeeWorld) {
  await this.job.done();
  expect(this.job.dispatch?.worker_id, 'worker of the job').to.equal(this.theVictim().workerId);
});

Given("a snapshot of the queen's worker list", async function (this: RbeeWorld) {
  const stack = await this.theStack();
  // The queen learns workers from heartbeats: snapshot once its view agrees with the hives' own lists.
  const list = await eventually(
    async () => {
      const fromHives = (
        await Promise.all(
          stack.hiveNames.map(async (h) =>
            (await stack.hive(h).workers()).map((w) => ({ worker_id: w.worker_id, node: h, state: w.state })),
          ),
        )
      )
        .flat()
        .sort((a, b) => a.worker_id.localeCompare(b.worker_id));
      const ws = await queenView(stack);
      expect(ws, "the queen's view vs the hives' lists").to.deep.equal(fromHives);
      return ws;
    },
    { within: 5000, what: "the queen's worker list to agree with the hives'" },
  );
  this.remembered.set('queen workers', list);
});

async function queenView(stack: Stack): Promise<Array<{ worker_id: string; node: string; state: string }>> {
  return (await stack.queen.workerList())
    .map((w) => ({ worker_id: w.worker_id, node: w.node, state: w.state }))
    .sort((a, b) => a.worker_id.localeCompare(b.worker_id));
}

Then("within {int} seconds the queen's worker list is the same as before", async function (this: RbeeWorld, s: number) {
  const stack = await this.theStack();
  await eventually(
    async () => {
      expect(await queenView(stack)).to.deep.equal(this.recall('queen workers'));
    },
    { within: this.withinOfLastFault(s), what: 'the queen to list the same workers as before its restart' },
  );
});

Given('a snapshot of the hive {string} worker ids', async function (this: RbeeWorld, hive: string) {
  const stack = await this.theStack();
  const ws = await stack.workersOf(hive);
  this.remembered.set(
    'hive workers',
    ws.map((w) => ({ id: w.worker_id, pid: w.pid })),
  );
});

When('the hive {string} is killed with SIGKILL', async function (this: RbeeWorld, hive: string) {
  await this.theStack();
  this.fault = await this.nemesis!.crashService(hive);
});

When('the first of those workers is killed while the hive is down', async function (this: RbeeWorld) {
  const stack = await this.theStack();
  const [first] = this.recall<Array<{ id: string; pid: number }>>('hive workers');
  const worker = { worker_id: first!.id, pid: first!.pid };
  await stack.signalWorker(stack.hiveNames[0]!, worker, 'SIGKILL');
  await eventually(async () => expect(await stack.workerAlive(stack.hiveNames[0]!, worker)).to.equal(false), {
    within: 5000,
    what: `worker ${first!.id} to die`,
  });
});

When('the hive {string} is started again', async function (this: RbeeWorld, hive: string) {
  const crash = this.theFault();
  expect(crash.target, 'the service the scenario killed').to.equal(hive);
  await this.nemesis!.heal(crash);
});

Then(
  'within {int} seconds the hive {string} lists only the surviving worker, {string}',
  async function (this: RbeeWorld, s: number, hive: string, state: string) {
    const stack = await this.theStack();
    const [, survivor] = this.recall<Array<{ id: string }>>('hive workers');
    await eventually(
      async () => {
        const ws = await stack.hive(hive).workers();
        expect(ws.map((w) => [w.worker_id, w.state])).to.deep.equal([[survivor!.id, state]]);
      },
      { within: s * 1000, what: `${hive} to list only ${survivor!.id} as ${state}` },
    );
  },
);

// A restored worker is kept only while its heartbeats reach the restarted hive: listing it once proves the
// restore, staying listed past the heartbeat bound proves the hive hears it again (in docker its lookups
// of the hive's name once held its heartbeats back for seconds, and the hive killed it).
Then(
  'for {int} worker heartbeat timeouts the hive {string} keeps listing the surviving worker as {string}',
  async function (this: RbeeWorld, n: number, hive: string, state: string) {
    const stack = await this.theStack();
    const [, survivor] = this.recall<Array<{ id: string }>>('hive workers');
    await holdsFor(
      async () => {
        const w = (await stack.hive(hive).workers()).find((x) => x.worker_id === survivor!.id);
        expect(w?.state, `${hive}'s state of ${survivor!.id}`).to.equal(state);
      },
      {
        during: n * stack.spec.timings.workerHeartbeatTimeoutMs,
        every: 100,
        what: `${hive} to keep listing ${survivor!.id} as ${state}`,
      },
    );
  },
);

Then("the queen's narration names the surviving worker", async function (this: RbeeWorld) {
  await this.job.done();
  const [, survivor] = this.recall<Array<{ id: string }>>('hive workers');
  expect(this.job.dispatch?.worker_id).to.equal(survivor!.id);
});

Given('the hive {string} has downloaded {int} models', async function (this: RbeeWorld, hive: string, n: number) {
  const stack = await this.theStack();
  // Leave out the one the scenario provisions later and the out-of-memory test model.
  const models = (await stack.hub.models()).filter((m) => !/oversized|13B/.test(m.model_ref)).slice(0, n);
  expect(models.length, 'models the hub offers').to.equal(n);
  for (const m of models) expect((await stack.hive(hive).download(m.model_ref)).status).to.equal(200);
  await eventually(
    async () => {
      const listed = (await stack.hive(hive).catalog()).map((m) => m.model_ref);
      expect(listed).to.include.members(models.map((m) => m.model_ref));
    },
    { within: 30_000, what: `${hive}'s catalog to list ${n} models` },
  );
});

Then(
  'the hive {string} logs {string} with the SQLite error',
  async function (this: RbeeWorld, hive: string, event: string) {
    const stack = await this.theStack();
    await eventually(
      () => {
        const line = stack.logs(hive).find((l) => l.service === 'hive' && l.event === event);
        expect(line, `a "${event}" line in ${hive}'s log`).to.not.equal(undefined);
        expect(String(line!.sqlite_error ?? line!.err ?? ''), `SQLite error in ${JSON.stringify(line)}`).to.match(
          /SQLITE_|file is not a database|malformed/i,
        );
      },
      { within: 5000, what: `${hive} to log ${event}` },
    );
  },
);

Then(
  'the hive {string} reports {string} with a reason naming the catalog',
  async function (this: RbeeWorld, hive: string, status: string) {
    const r = await (await this.theStack()).hive(hive).health();
    expect(r.json?.status, r.text).to.equal(status);
    expect((r.json.reasons ?? []).join(' '), `reasons in ${r.text}`).to.match(/catalog|database/i);
  },
);

Then('the hive {string} can still provision {string}', async function (this: RbeeWorld, hive: string, model: string) {
  const stack = await this.theStack();
  const entry = await stack.hub.model(model);
  const r = await stack.hive(hive).download(model);
  expect(r.status, r.text).to.equal(200);
  await eventually(
    async () => {
      const listed = (await stack.hive(hive).catalog()).find((m) => m.model_ref === model);
      expect(listed?.sha256, `${model} in ${hive}'s catalog`).to.equal(entry.sha256);
    },
    { within: 20_000, what: `${hive} to provision ${model}` },
  );
});

Then('a new job is refused with 503 {string} and may be retried', async function (this: RbeeWorld, code: string) {
  const job = await Job.submit((await this.theStack()).queen, {
    model: DEFAULT_MODEL,
    prompt: 'anyone there?',
    max_tokens: 3,
  });
  this.jobs.push(job);
  const answer = refusalOf(job);
  expect(answer.status, `the queen's answer: ${answer.text}`).to.equal(503);
  expect(answer.json?.error, answer.text).to.deep.include({ code, retryable: true });
  expect(answer.json.error.retry_after_ms, 'retry_after_ms').to.be.a('number');
  expect(answer.headers['retry-after'], 'Retry-After header').to.match(/^\d+$/);
});

Then('within {int} seconds a new job for the default model completes', async function (this: RbeeWorld, s: number) {
  const stack = await this.theStack();
  const t0 = this.nemesis!.timeline.lastEventAt() ?? Date.now();
  await eventually(
    async () => {
      const job = await Job.submit(stack.queen, { model: DEFAULT_MODEL, prompt: 'back again?', max_tokens: 3 });
      expect(job.error, `refused: ${job.error?.status} ${job.error?.text}`).to.equal(undefined);
      expect(checkCompletedStream(await job.done(10_000), 3)).to.deep.equal([]);
    },
    { within: this.withinOfLastFault(s), every: 250, what: 'a new job to complete' },
  );
  this.measure('recovery: first completed job after the heal', Date.now() - t0);
});

Then('a job submitted now is not routed to that worker', async function (this: RbeeWorld) {
  const stack = await this.theStack();
  const v = this.theVictim();
  // /v1/inference takes idle workers only (no spawning): the answer comes at once, so the heal that
  // follows still comes before the hive removes the cut-off worker for staying unhealthy too long.
  const job = await Job.submit(
    stack.queen,
    { model: DEFAULT_MODEL, prompt: 'not to the cut-off one', max_tokens: 3 },
    { route: 'inference' },
  );
  this.jobs.push(job);
  if (job.error) {
    const answer = refusalOf(job);
    expect(answer.json?.error?.retryable, `the refusal must be retryable: ${answer.text}`).to.equal(true);
    return;
  }
  await job.done(5_000);
  expect(job.dispatch?.worker_id, `the job went to ${v.workerId}, which its hive lists unhealthy`).to.not.equal(
    v.workerId,
  );
});

When('the first worker of {string} is cut off from its hive', async function (this: RbeeWorld, hive: string) {
  const stack = await this.theStack();
  const first = await stack.firstWorker(hive);
  this.victim = { hive, workerId: first.worker_id };
  return orSkip(this, async () => (this.fault = await this.nemesis!.partitionWorker(hive, first.worker_id)));
});

Then(
  'within {int} seconds the hive {string} lists that worker as {string}',
  async function (this: RbeeWorld, s: number, hive: string, state: string) {
    const stack = await this.theStack();
    const v = this.theVictim();
    const t0 = this.nemesis!.timeline.lastEventAt() ?? Date.now();
    await this.explaining([v.workerId], () =>
      eventually(
        async () => {
          const w = (await stack.hive(hive).workers()).find((x) => x.worker_id === v.workerId);
          expect(w?.state, `state of ${v.workerId}`).to.equal(state);
        },
        { within: this.withinOfLastFault(s), what: `${hive} to list ${v.workerId} as ${state}` },
      ),
    );
    this.measure(`${v.workerId} seen ${state} (from the fault)`, Date.now() - t0);
  },
);

Then('the client gets an error whose message names an out-of-memory kill', async function (this: RbeeWorld) {
  await this.job.answered();
  const streamError = this.job.error
    ? undefined
    : (await this.job.done()).events.map((e) => e.data).find((d) => d?.type === 'error');
  const message = this.job.error?.json?.error?.message ?? streamError?.message;
  // The cause confirmed by the kernel (the hive read its cgroup's oom_kill count), not a guess that fits any SIGKILL.
  const said = `the client's error: ${this.job.error?.text ?? JSON.stringify(streamError)}`;
  expect(message, said).to.match(/out[- ]of[- ]memory killer|oom_kill/i);
  expect(message, said).to.not.match(/possibly/i);
});
