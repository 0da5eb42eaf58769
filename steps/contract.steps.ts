// Fuzzing the public routes with generated invalid requests (lib/contract/fuzz.ts): every answer must be
// the contract's error for that request, and nothing in the stack may change.

import { Then } from '@cucumber/cucumber';
import { expect } from 'chai';
import fc from 'fast-check';
import { metricValue } from '../lib/clients/metrics.ts';
import { fuzzAnswerProblems, fuzzCases, fuzzFailure, fuzzRoutes, type FuzzCase } from '../lib/contract/fuzz.ts';
import type { Stack } from '../lib/stack/stack.ts';
import { DEFAULT_MODEL } from '../lib/stack/spec.ts';
import { harness } from '../support/harness.ts';
import type { RbeeWorld } from '../support/world.ts';

/** What must not change: jobs run, workers spawned. */
async function stateOf(stack: Stack) {
  const workers = await stack.workersOf('hive-a');
  const queen = (await stack.queen.metrics()).samples;
  const ran = await Promise.all(
    workers.map(async (w) => metricValue((await stack.worker(w.url).metrics()).samples, 'rbee_worker_jobs_total')),
  );
  return {
    workers: workers.map((w) => w.worker_id),
    completedJobs: metricValue(queen, 'rbee_queen_jobs_total', { outcome: 'completed' }),
    workerJobs: ran.reduce((a, b) => a + b, 0),
  };
}

Then(
  "each of {int} generated invalid requests to the public routes gets the contract's error: status, code, every failing field and its correlation id, never a 5xx",
  async function (this: RbeeWorld, runs: number) {
    const stack = await this.theStack();
    const [worker] = await stack.workersOf('hive-a');
    const clients = {
      queen: stack.queen.http,
      hive: stack.hive('hive-a').http,
      worker: stack.worker(worker!.url).http,
    };
    this.remembered.set('state before fuzzing', await stateOf(stack));
    let n = 0;
    const send = async (c: FuzzCase) => {
      const correlationId = `fuzz-${++n}`;
      const r = await clients[c.route.service].call('POST', c.route.path, c.body, {
        headers: { 'x-correlation-id': correlationId },
        ...(c.raw !== undefined ? { rawBody: c.raw } : {}),
        ...(c.wrongToken ? { bearer: 'not-the-service-token' } : {}),
      });
      return { status: r.status, json: r.json, correlationId };
    };
    const seed = harness().config.seed;
    try {
      await fc.assert(
        fc.asyncProperty(fuzzCases(fuzzRoutes(DEFAULT_MODEL)), async (c) => {
          const problems = fuzzAnswerProblems(c, await send(c));
          if (problems.length)
            throw new Error(`${c.route.service} POST ${c.route.path} (${c.mutation}): ${problems.join('; ')}`);
        }),
        { seed, numRuns: runs },
      );
    } catch (e) {
      // fast-check's report: the problem, the shrunk counterexample, the seed and path that replay it.
      throw new Error(
        `a generated invalid request was answered against the contract: ${fuzzFailure(e as Error)} (replay: RBEE_SEED=${seed})`,
      );
    } finally {
      this.attach(`${n} requests sent (fast-check seed ${seed}, ${runs} runs plus shrinking)`, 'text/plain');
    }
  },
);

Then('since then no job ran and no worker was spawned or removed', async function (this: RbeeWorld) {
  const before = this.recall<Awaited<ReturnType<typeof stateOf>>>('state before fuzzing');
  expect(await stateOf(await this.theStack()), 'jobs run and workers, before and after fuzzing').to.deep.equal(before);
});
