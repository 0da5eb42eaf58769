// Steps for the generic patterns: multi-stage operations, circuit breaking, workflow parameter sets,
// deadlines, state-machine rules and timeouts.

import { Given, Then, When } from '@cucumber/cucumber';
import { expect } from 'chai';
import { Job } from '../lib/clients/job.ts';
import { refusalOf } from '../lib/clients/http.ts';
import { metricValue } from '../lib/clients/metrics.ts';
import type { SseEvent } from '../lib/clients/sse.ts';
import { checkCompletedStream, shapeOf, streamEndingProblems } from '../lib/checks/stream.ts';
import { checkStageOrder, checkStrictlyIncreasing } from '../lib/checks/stages.ts';
import { eventually } from '../lib/observe/eventually.ts';
import { DEFAULT_MODEL } from '../lib/stack/spec.ts';
import { expectNoProblems } from '../support/expect.ts';
import type { RbeeWorld } from '../support/world.ts';

/** An SSE event's JSON payload (download progress, worker loading, inference events). */
type EventData = {
  stage?: string;
  type?: string;
  fraction?: number;
  layers_loaded?: number;
  layers_total?: number;
  i?: number;
};

/** One long-running operation as observed: its id, its replies, and how to read stage and progress. */
interface Operation {
  id: string;
  idKey: string;
  startedAt: number;
  events: SseEvent[];
  /** ms from the operation's first request to its terminal reply. */
  finishedMs?: number;
  stage(e: EventData): string;
  progress(e: EventData): number | undefined;
}

Given('workers take {int} ms to load a model', function (this: RbeeWorld, ms: number) {
  this.configure().workerEnv({ MOCK_LOAD_MS: String(ms) });
});

When(
  'the operation {string} is started for {string}',
  async function (this: RbeeWorld, operation: string, model: string) {
    const stack = await this.theStack();
    const hive = stack.hive(stack.hiveNames[0]!);
    const startedAt = performance.now();
    let op: Operation;
    if (operation === 'model download') {
      const r = await hive.download(model);
      expect(r.status, r.text).to.equal(200);
      const stream = await hive.downloadProgress(r.json.download_id);
      const result = await stream.result;
      op = {
        id: r.json.download_id,
        idKey: 'download_id',
        startedAt,
        events: result.events,
        stage: (e) => String(e.stage),
        progress: (e) => e.fraction,
      };
    } else if (operation === 'worker load') {
      const r = await hive.spawn(model);
      expect(r.status, r.text).to.equal(200);
      const id = r.json.worker_id as string;
      // The worker binds HTTP before it loads: its progress stream replays from the start to late subscribers.
      const url = await eventually(
        async () => {
          const w = (await hive.workers()).find((x) => x.worker_id === id);
          expect((await stack.worker(w!.url).ready()).status).to.equal(200);
          return w!.url;
        },
        { within: 15_000, what: `worker ${id} to answer /v1/ready` },
      );
      const stream = await stack.worker(url).loadingProgress();
      const result = await stream.result;
      op = {
        id,
        idKey: 'worker_id',
        startedAt,
        events: result.events,
        stage: (e) => String(e.stage),
        progress: (e) => (e.stage === 'loading_to_vram' ? e.layers_loaded! / e.layers_total! : undefined),
      };
    } else if (operation === 'inference job') {
      const max = 6;
      const job = await Job.submit(stack.queen, { model, prompt: `${this.scenarioId} operation`, max_tokens: max });
      const result = await job.done();
      op = {
        id: job.jobId!,
        idKey: 'job_id',
        startedAt,
        events: result.events,
        stage: (e) => String(e.type),
        progress: (e) => (e.type === 'token' ? (e.i! + 1) / max : undefined),
      };
    } else {
      throw new Error(`unknown operation "${operation}": model download, worker load or inference job`);
    }
    op.finishedMs = performance.now() - startedAt;
    this.remembered.set('operation', op);
  },
);

Then('its replies go through the stages {string} in order', function (this: RbeeWorld, pattern: string) {
  const op = this.recall<Operation>('operation');
  expectNoProblems(
    checkStageOrder(
      op.events.map((e) => op.stage(e.data)),
      pattern,
    ),
    'stage order',
  );
});

Then("every reply carries the operation's own id", function (this: RbeeWorld) {
  const op = this.recall<Operation>('operation');
  // Token and end events of a job carry no id in the contract: there the stream itself is the job's.
  const carrying = op.events.filter((e) => e.data[op.idKey] !== undefined);
  const exempt = (e: SseEvent) => op.idKey === 'job_id' && ['token', 'end'].includes(e.data.type);
  const missing = op.events.filter((e) => e.data[op.idKey] === undefined && !exempt(e)).map((e) => e.raw);
  const wrong = carrying.filter((e) => e.data[op.idKey] !== op.id).map((e) => e.raw);
  expectNoProblems(
    [
      ...missing.map((r) => `reply without ${op.idKey}: ${r}`),
      ...wrong.map((r) => `reply with another ${op.idKey} than ${op.id}: ${r}`),
    ],
    'ids on the replies',
  );
});

Then('its progress values strictly increase and end at {int}', function (this: RbeeWorld, end: number) {
  const op = this.recall<Operation>('operation');
  const values = op.events.map((e) => op.progress(e.data)).filter((v): v is number => typeof v === 'number');
  expectNoProblems(checkStrictlyIncreasing(values, end, 'progress'), 'progress');
});

Then(
  'the terminal reply {string} arrives within {int} seconds',
  function (this: RbeeWorld, terminal: string, s: number) {
    const op = this.recall<Operation>('operation');
    const last = op.events.at(-1);
    expect(last && op.stage(last.data), "the last reply's stage").to.equal(terminal);
    const ms = op.finishedMs!;
    this.measure(`${terminal} after`, ms);
    expect(ms, `ms until the terminal reply`).to.be.at.most(s * 1000);
  },
);

Given(
  "the queen's circuit breaker opens after {int} failures and cools down for {int} seconds",
  function (this: RbeeWorld, n: number, s: number) {
    // Heartbeat silence must not be what marks the hive unavailable here: the breaker is under test.
    this.configure().timings({ cbFailures: n, cbCooldownMs: s * 1000, hiveTimeoutMs: 60_000 });
  },
);

When('the queen fails to reach {string} {int} time(s)', async function (this: RbeeWorld, hive: string, n: number) {
  const stack = await this.theStack();
  for (let i = 0; i < n; i++) {
    const view = await stack.queen.systemView({ timeoutMs: 10_000 });
    const h = view.hives.find((x) => x.node_name === hive);
    expect(h, `the queen's system view: ${JSON.stringify(view)}`).to.not.equal(undefined);
  }
});

async function expectCircuit(
  world: RbeeWorld,
  hive: string,
  state: string,
  metric: number,
  withinMs: number,
): Promise<void> {
  const stack = await world.theStack();
  await eventually(
    async () => {
      const view = await stack.queen.systemView({ timeoutMs: 5000 });
      expect(
        view.hives.find((x) => x.node_name === hive)?.circuit,
        `circuit of ${hive} in ${JSON.stringify(view)}`,
      ).to.equal(state);
      expect(
        metricValue((await stack.queen.metrics()).samples, 'rbee_queen_circuit_open', { node_name: hive }),
        'rbee_queen_circuit_open',
      ).to.equal(metric);
    },
    { within: withinMs, every: 200, what: `the circuit to ${hive} to be ${state}` },
  );
}

Then(
  'the queen reports the circuit to {string} as {string} with its metric at {int}',
  async function (this: RbeeWorld, hive: string, state: string, metric: number) {
    await expectCircuit(this, hive, state, metric, 3000);
  },
);

Then(
  'within {int} seconds the queen reports the circuit to {string} as {string} with its metric at {int}',
  async function (this: RbeeWorld, s: number, hive: string, state: string, metric: number) {
    await expectCircuit(this, hive, state, metric, s * 1000);
  },
);

Then(
  "within {int} seconds the queen's registry shows the circuit to {string} as {string}",
  async function (this: RbeeWorld, s: number, hive: string, state: string) {
    // The registry list reads the breaker without calling the hive, so it can show half-open without
    // spending the one trial call (the system view calls the hive, which would be that trial).
    await this.expectInQueenRegistry(hive, { circuit: state }, s * 1000);
  },
);

Then('a new job fails fast with 503 {string}', async function (this: RbeeWorld, code: string) {
  const t0 = performance.now();
  const job = await Job.submit(
    (await this.theStack()).queen,
    { model: DEFAULT_MODEL, prompt: 'fast?', max_tokens: 2 },
    {},
  );
  const ms = performance.now() - t0;
  const answer = refusalOf(job);
  expect(answer.status, `answer: ${answer.text}`).to.equal(503);
  expect(answer.json?.error?.code, answer.text).to.equal(code);
  this.measure('fail-fast answer', ms);
  expect(ms, 'ms to the refusal (an open circuit must not wait for the hive)').to.be.below(1000);
});

Given(
  'the hive {string} restarts crashed workers at most {int} times',
  function (this: RbeeWorld, hive: string, n: number) {
    this.configure().hiveEnvFor(hive, { RBEE_RESTART_POLICY: 'on-crash', RBEE_MAX_RESTARTS: String(n) });
  },
);

When('that worker is killed again', async function (this: RbeeWorld) {
  const v = this.theVictim();
  const fault = await this.nemesis!.crashWorker(v.hive, v.workerId);
  this.victim = { ...v, fault };
});

When(
  'a client submits a job for {string} with max_tokens {int}, temperature {int} and stop {string}',
  async function (this: RbeeWorld, model: string, n: number, t: number, stop: string) {
    const job = await Job.submit((await this.theStack()).queen, {
      model,
      prompt: 'a workflow about bees',
      max_tokens: n,
      temperature: t,
      ...(stop ? { stop: [stop] } : {}),
    });
    this.jobs.push(job);
    if (job.error) this.response = job.error;
  },
);

const OUTCOMES: Array<[RegExp, (w: RbeeWorld, m: RegExpMatchArray) => Promise<void>]> = [
  [
    /^streams exactly (\d+) tokens? and ends with (\w+)$/,
    async (w, m) => {
      expectNoProblems(checkCompletedStream(await w.job.done(), Number(m[1])), 'problems with the job stream');
      expect(w.job.shape().end?.stop_reason).to.equal(m[2]);
    },
  ],
  [
    /^ends early with STOP_SEQUENCE after the stop text$/,
    async (w) => {
      const result = await w.job.done();
      expectNoProblems(checkCompletedStream(result), 'problems with the job stream');
      const s = shapeOf(result);
      expect(s.end?.stop_reason, 'stop_reason').to.equal('STOP_SEQUENCE');
      expect(s.tokens.length, 'tokens before the stop').to.be.below(w.job.task.max_tokens);
      const stop = (w.job.task.stop as string[])[0]!;
      expect(s.tokens.map((t) => t.t).join(''), 'text generated').to.satisfy((text: string) => text.endsWith(stop));
    },
  ],
  [
    /^is refused with (\d+) "(\w+)"$/,
    async (w, m) => {
      expect(w.job.error?.status, `answer: ${w.job.status} ${w.job.error?.text ?? '(a stream)'}`).to.equal(
        Number(m[1]),
      );
      expect(w.job.error!.json?.error?.code).to.equal(m[2]);
    },
  ],
];

Then(/^the job ((?:streams|ends early|is refused) .+)$/, async function (this: RbeeWorld, expected: string) {
  for (const [re, check] of OUTCOMES) {
    const m = re.exec(expected);
    if (m) return check(this, m);
  }
  throw new Error(`unknown expectation "${expected}"`);
});

When(
  'a client submits a job whose deadline passed a second ago, with correlation id {string}',
  async function (this: RbeeWorld, cid: string) {
    const job = await Job.submit(
      (await this.theStack()).queen,
      { model: DEFAULT_MODEL, prompt: 'too late', max_tokens: 3 },
      { correlationId: cid, headers: { 'x-deadline': String(Date.now() - 1000) } },
    );
    this.jobs.push(job);
    this.response = refusalOf(job);
  },
);

When(
  'a client submits a job for {int} tokens with a deadline {int} second(s) from now',
  async function (this: RbeeWorld, n: number, s: number) {
    const job = Job.begin(
      (await this.theStack()).queen,
      { model: DEFAULT_MODEL, prompt: 'slow and steady', max_tokens: n },
      { headers: { 'x-deadline': String(Date.now() + s * 1000) } },
    );
    this.jobs.push(job);
  },
);

Then(
  'the stream ends with an error event {string} and {string} after less than {int} tokens',
  async function (this: RbeeWorld, code: string, done: string, n: number) {
    const result = await this.job.done();
    expect(
      this.job.error,
      `the queen answered ${this.job.error?.status} ${this.job.error?.text} instead of starting the stream`,
    ).to.equal(undefined);
    const s = shapeOf(result);
    expect(s.error, `error event (events: ${result.events.map((e) => e.data.type).join(',')})`).to.deep.include({
      code,
    });
    expectNoProblems(streamEndingProblems(result, 'error', done), 'how the stream ended');
    expect(s.tokens.length, 'tokens before the deadline').to.be.below(n);
  },
);

When('the busy worker sends a second ready callback to its hive', async function (this: RbeeWorld) {
  const stack = await this.theStack();
  const { node_name, worker_id } = this.job.dispatch ?? {};
  const w = (await stack.hive(node_name!).workers()).find((x) => x.worker_id === worker_id)!;
  expect(w.state, `${worker_id} while its job streams`).to.equal('busy');
  this.victim = { hive: node_name!, workerId: worker_id! };
  this.response = await stack
    .hive(node_name!)
    .ready({ worker_id, url: w.url, model_ref: w.model_ref, backend: 'cpu', device: 0 });
});

Then('the hive still lists that worker as {string}', async function (this: RbeeWorld, state: string) {
  const stack = await this.theStack();
  const v = this.theVictim();
  expect((await stack.hive(v.hive).workers()).find((x) => x.worker_id === v.workerId)?.state).to.equal(state);
});

Then('the hive {string} lists that worker as {string}', async function (this: RbeeWorld, hive: string, state: string) {
  const stack = await this.theStack();
  const v = this.theVictim();
  await eventually(
    async () =>
      expect(
        (await stack.hive(hive).workers()).find((x) => x.worker_id === v.workerId)?.state,
        `state of ${v.workerId}`,
      ).to.equal(state),
    { within: 5000, what: `${hive} to list ${v.workerId} as ${state}` },
  );
});

Given(
  'the hive {string} gives up on loading workers after {int} seconds',
  function (this: RbeeWorld, hive: string, s: number) {
    this.configure().hiveEnvFor(hive, { RBEE_WORKER_LOADING_TIMEOUT_MS: String(s * 1000) });
  },
);

Given('the hive {string} stops workers idle for {int} seconds', function (this: RbeeWorld, hive: string, s: number) {
  this.configure().hiveEnvFor(hive, { RBEE_WORKER_IDLE_TIMEOUT_MS: String(s * 1000) });
});

Then(
  'within {int} seconds the hive {string} lists no workers',
  async function (this: RbeeWorld, s: number, hive: string) {
    const stack = await this.theStack();
    await eventually(async () => expect(await stack.hive(hive).workers()).to.deep.equal([]), {
      within: s * 1000,
      what: `${hive} to list no workers`,
    });
  },
);

Then("the hive's log says that worker was killed for loading too long", async function (this: RbeeWorld) {
  const stack = await this.theStack();
  const v = this.theVictim();
  const killed = stack.logs(v.hive).find((l) => l.event === 'worker.killed' && l.worker_id === v.workerId);
  expect(killed, `a "worker.killed" line for ${v.workerId}`).to.not.equal(undefined);
  expect(String(killed!.reason ?? killed!.msg), 'reason').to.match(/load/i);
});

Then("the hive's log says its worker was stopped for being idle", async function (this: RbeeWorld) {
  const stack = await this.theStack();
  expect(
    stack.logs(stack.hiveNames[0]!).filter((l) => l.event === 'worker.idle_timeout').length,
    '"worker.idle_timeout" lines',
  ).to.be.above(0);
});
