// Many clients at once: load spreading and exclusive use of single-slot workers.

import { Given, Then, When } from '@cucumber/cucumber';
import { expect } from 'chai';
import { Job } from '../lib/clients/job.ts';
import { checkCompletedStream } from '../lib/checks/stream.ts';
import { metricValue } from '../lib/clients/metrics.ts';
import { eventually } from '../lib/observe/eventually.ts';
import { jobsWithoutOneEndedSpan, overlappingJobs } from '../lib/checks/exclusive.ts';
import { jobSpansFromLogs } from '../lib/checks/history.ts';
import { DEFAULT_MODEL } from '../lib/stack/spec.ts';
import type { RbeeWorld } from '../support/world.ts';
import { expectNoProblems } from '../support/expect.ts';

Given('the hive {string} may run at most {int} workers', function (this: RbeeWorld, hive: string, n: number) {
  this.configure().hiveEnvFor(hive, { RBEE_MAX_WORKERS: String(n) });
});

async function submitAtOnce(world: RbeeWorld, n: number, model: string, maxTokens: number): Promise<void> {
  const stack = await world.theStack();
  const jobs = await Promise.all(
    Array.from({ length: n }, (_, i) =>
      Job.submitRetrying(
        stack.queen,
        { model, prompt: `client ${i} asks about bees`, max_tokens: maxTokens, seed: i },
        { correlationId: `${world.scenarioId}-c${i}`, withinMs: 30_000 },
      ),
    ),
  );
  world.jobs.push(...jobs);
  world.measure(
    'submissions retried after a retryable 503',
    jobs.reduce((s, j) => s + j.attempts - 1, 0),
    'count',
  );
}

Then('no client had to retry its submission', function (this: RbeeWorld) {
  // submitRetrying retries a retryable 503 like a well-behaved client; where the contract says a job waits
  // for a worker instead of being refused, each retry is a refusal that must not have happened.
  const retried = this.jobs.filter((j) => j.attempts > 1).map((j) => `${j.correlationId}: ${j.refusals.join(', ')}`);
  expectNoProblems(retried, 'submissions refused (and retried) although a worker would have come free');
});

When(
  '{int} clients submit jobs for the default model with max_tokens {int} at once',
  async function (this: RbeeWorld, n: number, maxTokens: number) {
    await submitAtOnce(this, n, DEFAULT_MODEL, maxTokens);
  },
);

When(
  '{int} clients submit jobs for {string} with max_tokens {int} at once',
  async function (this: RbeeWorld, n: number, model: string, maxTokens: number) {
    await submitAtOnce(this, n, model, maxTokens);
  },
);

Then('each hive ran at least {int} of the jobs', async function (this: RbeeWorld, min: number) {
  const stack = await this.theStack();
  const perHive = Object.fromEntries(stack.hiveNames.map((h) => [h, 0]));
  for (const job of this.jobs) {
    await job.done();
    const node = job.dispatch?.node_name;
    if (node) perHive[node] = (perHive[node] ?? 0) + 1;
  }
  this.attach(JSON.stringify(perHive, null, 2), { mediaType: 'application/json', fileName: 'jobs-per-hive.json' });
  for (const [hive, n] of Object.entries(perHive))
    expect(n, `jobs on ${hive} (per hive: ${JSON.stringify(perHive)})`).to.be.at.least(min);
});

Then("every job's stream is well-formed with exactly {int} tokens", async function (this: RbeeWorld, n: number) {
  const problems: string[] = [];
  for (const job of this.jobs) {
    if (job.error) {
      problems.push(`${job.correlationId}: refused ${job.error.status} ${job.error.text}`);
      continue;
    }
    for (const p of checkCompletedStream(await job.done(), n)) problems.push(`${job.correlationId}: ${p}`);
  }
  expectNoProblems(problems, 'problems across the jobs');
});

Then('the jobs ran on all {int} workers of {string}', async function (this: RbeeWorld, n: number, hive: string) {
  const counts: Record<string, number> = {};
  for (const job of this.jobs) {
    expect(job.dispatch?.node_name, `hive of ${job.correlationId}`).to.equal(hive);
    const w = job.dispatch!.worker_id!;
    counts[w] = (counts[w] ?? 0) + 1;
  }
  this.attach(JSON.stringify(counts, null, 2), { mediaType: 'application/json', fileName: 'jobs-per-worker.json' });
  expect(Object.keys(counts).length, `jobs per worker: ${JSON.stringify(counts)}`).to.equal(n);
});

Then('no worker ran two jobs at the same time', async function (this: RbeeWorld) {
  const stack = await this.theStack();
  // One ended span per job first: without them the overlap check would pass on nothing.
  const spans = jobSpansFromLogs(stack.logs());
  const jobs = this.jobs.map((j) => ({
    label: j.correlationId ?? `job #${j.dispatch?.job_id}`,
    jobId: j.dispatch?.job_id,
    workerId: j.dispatch?.worker_id,
  }));
  expectNoProblems(
    jobsWithoutOneEndedSpan(jobs, spans),
    "jobs without exactly one ended span in their worker's own log",
  );
  expectNoProblems(
    overlappingJobs(spans),
    "jobs that overlapped on one worker (from the workers' job.started / job.finished log lines)",
  );
  for (const hive of stack.hiveNames) {
    for (const w of await stack.hive(hive).workers()) {
      const samples = (await stack.worker(w.url).metrics()).samples;
      expect(
        metricValue(samples, 'rbee_worker_slots_busy_max'),
        `rbee_worker_slots_busy_max of ${w.worker_id}`,
      ).to.be.at.most(1);
      expect(
        metricValue(samples, 'rbee_worker_requests_total', { route: '/v1/inference', code: '503' }),
        `jobs sent to ${w.worker_id} while it was busy (503)`,
      ).to.equal(0);
    }
  }
});

Then(
  'within {int} seconds the hive {string} lists exactly {int} workers, all {string}',
  async function (this: RbeeWorld, s: number, hive: string, n: number, state: string) {
    const stack = await this.theStack();
    await this.explaining(
      this.jobs.map((j) => j.dispatch?.worker_id),
      () =>
        eventually(
          async () => {
            const workers = await stack.hive(hive).workers();
            expect(
              workers.map((w) => w.state),
              `states of ${hive}'s workers`,
            ).to.deep.equal(Array(n).fill(state));
          },
          { within: s * 1000, what: `${hive} to list ${n} ${state} workers` },
        ),
    );
  },
);
