// Authentication: client tokens and JWTs at the queen, identity forwarding, service tokens between hops.

import { Given, Then, When } from '@cucumber/cucumber';
import { expect } from 'chai';
import { Job } from '../lib/clients/job.ts';
import { eventually, holdsFor } from '../lib/observe/eventually.ts';
import type { JwtClaims } from '../lib/stack/secrets.ts';
import { DEFAULT_MODEL } from '../lib/stack/spec.ts';
import { metricValue } from '../lib/clients/metrics.ts';
import type { RbeeWorld } from '../support/world.ts';

const task = (n = 8) => ({ model: DEFAULT_MODEL, prompt: 'who may ask the bees?', max_tokens: n });

async function submitWith(world: RbeeWorld, bearer: string | null, correlationId?: string): Promise<void> {
  const job = await Job.submit((await world.theStack()).queen, task(), {
    bearer,
    ...(correlationId ? { correlationId } : {}),
  });
  world.jobs.push(job);
  if (job.error) world.response = job.error;
}

const BAD_JWTS: Record<string, Partial<JwtClaims>> = {
  'an expired': { expiresInSec: -60 },
  'a wrong-audience': { aud: 'not-rbee' },
  'a forged (wrong key)': { foreignKey: true },
};

When('a client without a token submits a job for the default model', async function (this: RbeeWorld) {
  await submitWith(this, null);
});

When('a client with {} JWT submits a job for the default model', async function (this: RbeeWorld, kind: string) {
  const claims = BAD_JWTS[kind];
  if (!claims) throw new Error(`unknown JWT kind "${kind}"; known: ${Object.keys(BAD_JWTS).join(', ')}`);
  const stack = await this.theStack();
  await submitWith(this, await stack.secrets.signJwt({ sub: 'mallory', ...claims }));
  expect(this.job.error, 'the queen accepted a bad JWT and started a stream').to.not.equal(undefined);
});

When(
  'a client with a valid JWT for subject {string} submits a job with correlation id {string}',
  async function (this: RbeeWorld, sub: string, cid: string) {
    const stack = await this.theStack();
    await submitWith(this, await stack.secrets.signJwt({ sub, scope: 'inference' }), cid);
  },
);

Then('the answer carries the header {string} {string}', function (this: RbeeWorld, name: string, value: string) {
  expect(this.response?.headers[name.toLowerCase()], `${name} header`).to.equal(value);
});

Then('the error message mentions {string}', function (this: RbeeWorld, text: string) {
  expect(String(this.response?.json?.error?.message ?? ''), `error message in ${this.response?.text}`).to.match(
    new RegExp(text, 'i'),
  );
});

for (const role of ['hive', 'worker'] as const) {
  Then(
    `the ${role}'s log lines for correlation id {string} name subject {string}`,
    async function (this: RbeeWorld, cid: string, sub: string) {
      const stack = await this.theStack();
      const lines = stack.logs().filter((l) => l.service === role && l.correlation_id === cid);
      expect(lines.length, `${role} log lines with correlation_id ${cid}`).to.be.above(0);
      expect(
        lines.map((l) => l.subject),
        `subject on the ${role}'s lines for ${cid}`,
      ).to.include(sub);
    },
  );
}

Given('the hive {string} is given a wrong service token', function (this: RbeeWorld, hive: string) {
  this.configure()
    .hiveEnvFor(hive, { LLORCH_API_TOKEN: `wrong-${Date.now().toString(36)}-token` })
    .hiveNotExpectedToJoin(hive);
});

Then(
  'for {int} heartbeat intervals the queen does not list the hive {string}',
  async function (this: RbeeWorld, n: number, hive: string) {
    const stack = await this.theStack();
    await holdsFor(
      async () => {
        const hives = await stack.queen.hiveList();
        expect(
          hives.map((x) => x.node_name),
          'hives the queen lists',
        ).to.not.include(hive);
      },
      { during: n * stack.spec.timings.heartbeatIntervalMs, what: `the queen not listing ${hive}` },
    );
  },
);

Then('the hive {string} logs that its heartbeat was refused with 401', async function (this: RbeeWorld, hive: string) {
  const stack = await this.theStack();
  // Eventually: the first heartbeat may have met a queen that was not listening yet (status 0); the hive
  // logs again when the failure changes, and its line may still be on its way through the container's output.
  await eventually(
    () => {
      const failed = stack.logs(hive).filter((l) => l.service === 'hive' && l.event === 'heartbeat.failed');
      expect(
        failed.map((l) => l.status),
        `status of the hive's "heartbeat.failed" log lines`,
      ).to.include(401);
    },
    { within: 5000, what: `${hive} to log a heartbeat refused with 401` },
  );
});

// Queen → hive with a token the hive refuses: registered by hand (its own heartbeats are refused), the
// hive looks healthy to the queen (its health route is public) until the queen's first authenticated call.
When(
  "the hive {string} is added to the queen's registry at its own address",
  async function (this: RbeeWorld, hive: string) {
    const stack = await this.theStack();
    const r = await stack.queen.addHive(hive, stack.service(hive).internalUrl);
    expect(r.status, `adding ${hive}: ${r.text.slice(0, 200)}`).to.equal(200);
    this.remembered.set('hive 401s before', await answersWith(this, hive, '401'));
  },
);

When('a client submits a job for the default model on node {string}', async function (this: RbeeWorld, node: string) {
  const stack = await this.theStack();
  this.jobs.push(
    await Job.submit(stack.queen, { model: DEFAULT_MODEL, prompt: 'bees on one node', max_tokens: 4, node }),
  );
});

Then('the queen refuses the job before any token, with an error body', async function (this: RbeeWorld) {
  const job = this.job;
  await job.answered();
  expect(job.status, `the queen ran the job (${job.status}): ${job.events.length} events`).to.be.at.least(400);
  expect(job.error?.json?.error?.code, `error body: ${job.error?.text}`).to.be.a('string');
  expect(job.events.filter((e) => e.data?.type === 'token')).to.deep.equal([]);
});

// 401 is literal: the baseline taken when the hive was added counts 401 answers only.
Then("the hive {string} answered the queen's call with 401", async function (this: RbeeWorld, hive: string) {
  const before = this.recall<number>('hive 401s before');
  await eventually(
    async () => expect(await answersWith(this, hive, '401'), `${hive}'s 401 answers`).to.be.above(before),
    { within: 5000, what: `${hive} to count a 401 answer to the queen` },
  );
});

/** How many requests `hive` answered with `code` (its rbee_hive_requests_total, contract §0 metrics). */
async function answersWith(world: RbeeWorld, hive: string, code: string): Promise<number> {
  const stack = await world.theStack();
  return metricValue((await stack.hive(hive).metrics()).samples, 'rbee_hive_requests_total', { code });
}

// Hive → worker with a token the worker refuses: the hive restarts holding another token than its live
// workers, and its first call to each (GET /v1/ready, taking it back) is refused. The harness's own token
// no longer opens the hive's authenticated routes, so its state is read from the public ones.
When('the hive {string} is restarted holding a wrong service token', async function (this: RbeeWorld, hive: string) {
  const stack = await this.theStack();
  this.remembered.set('hive restarted at', Date.now());
  await stack.service(hive).restart({ LLORCH_API_TOKEN: `wrong-${Date.now().toString(36)}-token` });
});

Then(
  'the hive {string} drops each worker it had, saying the worker refused its token with 401',
  async function (this: RbeeWorld, hive: string) {
    const stack = await this.theStack();
    const had = this.recall<Array<{ id: string }>>('hive workers').map((w) => w.id);
    const since = this.recall<number>('hive restarted at');
    await eventually(
      () => {
        const removed = new Map(
          stack
            .logs(hive)
            .filter((l) => l.event === 'worker.removed' && Date.parse(l.ts) >= since)
            .map((l) => [l.worker_id, String(l.reason ?? '')]),
        );
        for (const id of had)
          expect(removed.get(id), `why ${hive} dropped ${id} after its restart`).to.be.a('string').and.include('401');
      },
      { within: 5000, what: `${hive} to drop ${had.join(', ')} for refusing its token` },
    );
  },
);

Then(
  'for {int} heartbeat intervals the hive {string} counts no worker in its health and metrics',
  async function (this: RbeeWorld, n: number, hive: string) {
    const stack = await this.theStack();
    await holdsFor(
      async () => {
        const deep = (await stack.hive(hive).health(true)).json as { workers?: Array<{ worker_id: string }> };
        expect(
          deep.workers?.map((w) => w.worker_id),
          `workers in ${hive}'s deep health`,
        ).to.deep.equal([]);
        const counted = metricValue((await stack.hive(hive).metrics()).samples, 'rbee_hive_workers');
        expect(counted, `rbee_hive_workers on ${hive}`).to.equal(0);
      },
      { during: n * stack.spec.timings.heartbeatIntervalMs, what: `${hive} counting no worker` },
    );
  },
);
