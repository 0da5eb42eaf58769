// Load without faults: throughput at a fixed rate (INT-014) and a soak of one worker (INT-015). The
// workload, sampling and judgement live in lib/workload/steady-load.ts, lib/workload/soak.ts and
// lib/observe/{memory,trend}.ts; these steps run them, attach what they saw and compare with the bounds.

import fs from 'node:fs';
import path from 'node:path';
import { Given, Then, When } from '@cucumber/cucumber';
import { expect } from 'chai';
import { Job } from '../lib/clients/job.ts';
import { checkCompletedStream } from '../lib/checks/stream.ts';
import {
  compareRss,
  formatRssComparison,
  readFleetRss,
  rssBackToBaseline,
  type RssByWorker,
} from '../lib/observe/memory.ts';
import { MIB, formatByteTrend } from '../lib/observe/trend.ts';
import { sampleErrors, valuesOf } from '../lib/observe/sample.ts';
import { loadPictures, timeSeriesSvg } from '../lib/report/load-pictures.ts';
import { SVG } from '../lib/report/pictures.ts';
import { formatSteadyLoad, jobsNotCompleted, runSteadyLoad, type SteadyLoadRun } from '../lib/workload/steady-load.ts';
import { healthLatency, runSoak, soakRssTrend, type SoakRun } from '../lib/workload/soak.ts';
import { formatLatency } from '../lib/workload/latency.ts';
import type { History } from '../lib/workload/history.ts';
import { DEFAULT_MODEL } from '../lib/stack/spec.ts';
import { expectNoProblems } from '../support/expect.ts';
import { harness } from '../support/harness.ts';
import type { RbeeWorld } from '../support/world.ts';

/** Bound on a load step: the nightly soak is ten minutes, plus draining. */
const LOAD_STEP_TIMEOUT_MS = 15 * 60_000;

/** The run's history, job by job, in reports/load/<ID>-<name>.history.json (as a chaos run's is in reports/chaos). */
function keepHistory(world: RbeeWorld, history: History): void {
  const name = world.scenarioName
    .replace(/[^A-Za-z0-9]+/g, '-')
    .slice(0, 40)
    .replace(/-$/, '');
  const file = path.join(harness().config.reportsDir, 'load', `${world.scenarioId}-${name}.history.json`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(history.toJSON()));
}

async function steadyLoad(
  world: RbeeWorld,
  ratePerSec: number,
  seconds: number,
  maxJobs: number | undefined,
  tokens: number,
): Promise<void> {
  const stack = await world.theStack();
  const run = await runSteadyLoad({
    queen: stack.queen,
    ratePerSec,
    durationMs: seconds * 1000,
    ...(maxJobs ? { maxJobs } : {}),
    model: DEFAULT_MODEL,
    maxTokens: tokens,
    prefix: world.scenarioId,
  });
  world.remembered.set('load', run);
  world.remembered.set('load history', run.history);
  keepHistory(world, run.history);
  world.attach(formatSteadyLoad(run), 'text/plain');
  for (const p of loadPictures(run.history, { origin: run.report.startedAt, end: run.report.endedAt }))
    world.attach(Buffer.from(p.svg), { mediaType: SVG, fileName: p.fileName });
}

// Steady state, not cold start: a fresh stack's first jobs pay for connections being opened and code being
// compiled, and under a rate that briefly outruns four cold workers they queue. The bounds are about the
// stack at work, so every worker first runs one job (all at once: the queen gives each idle worker one).
Given('every worker has run a warm-up job', async function (this: RbeeWorld) {
  const stack = await this.theStack();
  const workers = (await Promise.all(stack.hiveNames.map((h) => stack.hive(h).workers()))).flat();
  const jobs = await Promise.all(
    workers.map((_, i) => Job.submit(stack.queen, { model: DEFAULT_MODEL, prompt: `warm-up ${i}`, max_tokens: 4 })),
  );
  this.jobs.push(...jobs);
  for (const job of jobs) {
    expect(job.error, `warm-up job refused: ${job.error?.status} ${job.error?.text}`).to.equal(undefined);
    expectNoProblems(checkCompletedStream(await job.done(), 4), 'problems with a warm-up job');
  }
  const used = new Set(jobs.map((j) => j.dispatch?.worker_id));
  expect([...used].sort(), 'the workers that ran a warm-up job').to.deep.equal(workers.map((w) => w.worker_id).sort());
});

Given('the resident memory of every worker is recorded as its baseline', async function (this: RbeeWorld) {
  this.remembered.set('rss baseline', await readFleetRss(await this.theStack()));
});

When(
  'clients submit {int} jobs per second for {int} seconds, each asking for {int} tokens',
  { timeout: LOAD_STEP_TIMEOUT_MS },
  async function (this: RbeeWorld, rate: number, seconds: number, tokens: number) {
    await steadyLoad(this, rate, seconds, undefined, tokens);
  },
);

When(
  'clients submit {int} jobs at a steady rate over {int} seconds, each asking for {int} tokens',
  { timeout: LOAD_STEP_TIMEOUT_MS },
  async function (this: RbeeWorld, jobs: number, seconds: number, tokens: number) {
    await steadyLoad(this, jobs / seconds, seconds, jobs, tokens);
  },
);

Then('every job completed with an end event: none refused, cut or timed out', function (this: RbeeWorld) {
  const history = this.recall<History>('load history');
  expect(history.entries.length, 'jobs run').to.be.above(0);
  expectNoProblems(jobsNotCompleted(history), `jobs that did not complete, of ${history.entries.length}`);
});

Then(
  'job admission took under {int} ms on average and under {int} ms at the 99th percentile',
  function (this: RbeeWorld, meanMs: number, p99Ms: number) {
    const run = this.recall<SteadyLoadRun>('load');
    expect(run.report.submitted, `jobs submitted of the ${run.report.planned} planned`).to.equal(run.report.planned);
    const s = run.latencies.admission.summary();
    this.measure('admission (time to first byte) mean', s.mean);
    this.measure('admission (time to first byte) p99', s.p99);
    const line = formatLatency(run.latencies.admission.name, s);
    expect(s.mean, `mean admission; ${line}`).to.be.below(meanMs);
    expect(s.p99, `p99 admission; ${line}`).to.be.below(p99Ms);
  },
);

Then(
  "within {int} seconds every worker's resident memory is at most {int} MiB above its baseline",
  async function (this: RbeeWorld, seconds: number, allowance: number) {
    const baseline = this.recall<RssByWorker>('rss baseline');
    const stack = await this.theStack();
    this.attach(
      `resident memory right after the load:\n${formatRssComparison(compareRss(baseline, await readFleetRss(stack)))}`,
      'text/plain',
    );
    const settled = await rssBackToBaseline(stack, baseline, allowance * MIB, seconds * 1000);
    this.attach(`resident memory once back within ${allowance} MiB:\n${formatRssComparison(settled)}`, 'text/plain');
    this.measure(
      'worker RSS growth after the load (largest)',
      Math.max(...settled.map((c) => c.growth ?? 0)) / MIB,
      'MiB',
    );
  },
);

When(
  "a client runs jobs of {int} tokens back to back for {int} seconds, sampling the worker's memory every second and both \\/health endpoints every {int} ms",
  { timeout: LOAD_STEP_TIMEOUT_MS },
  async function (this: RbeeWorld, tokens: number, seconds: number, healthEveryMs: number) {
    const run = await runSoak({
      stack: await this.theStack(),
      durationMs: seconds * 1000,
      model: DEFAULT_MODEL,
      maxTokens: tokens,
      prefix: this.scenarioId,
      rssEveryMs: 1000,
      healthEveryMs,
    });
    this.remembered.set('soak', run);
    this.remembered.set('load history', run.history);
    keepHistory(this, run.history);
    const jobs = run.history.countByOutcome();
    this.attach(
      [
        `${run.history.entries.length} jobs on ${run.worker.worker_id} in ${((run.endedAt - run.startedAt) / 1000).toFixed(1)} s: ${JSON.stringify(jobs)}`,
        `${run.rss.length} memory samples, ${run.health.queen.length} + ${run.health.worker.length} /health samples (queen + worker)`,
      ].join('\n'),
      'text/plain',
    );
    this.measure('soak jobs', run.history.entries.length, 'jobs');
  },
);

Then(
  "the worker's resident memory rose by less than {int} MiB per minute after the first {int} seconds",
  function (this: RbeeWorld, bound: number, warmUpSeconds: number) {
    const run = this.recall<SoakRun>('soak');
    expectNoProblems(sampleErrors(run.rss), 'memory samples that failed');
    const trend = soakRssTrend(run, warmUpSeconds * 1000);
    const points = valuesOf(run.rss);
    this.attach(
      Buffer.from(
        timeSeriesSvg(points, {
          title: `Resident memory of ${run.worker.worker_id}`,
          unit: 'MiB',
          scale: MIB,
          trend,
          warmUpUntil: (points[0]?.at ?? 0) + warmUpSeconds * 1000,
        }),
      ),
      { mediaType: SVG, fileName: 'worker-rss.svg' },
    );
    this.attach(`worker memory trend after the first ${warmUpSeconds} s: ${formatByteTrend(trend)}`, 'text/plain');
    expect(trend.n, 'memory samples after the warm-up').to.be.at.least(5);
    this.measure('worker RSS trend', trend.perMinute / MIB, 'MiB/min');
    expect(trend.perMinute / MIB, `worker memory trend (MiB/min): ${formatByteTrend(trend)}`).to.be.below(bound);
  },
);

Then(
  "the queen's and the worker's \\/health answered every time, under {int} ms at the 99th percentile",
  function (this: RbeeWorld, p99Ms: number) {
    const run = this.recall<SoakRun>('soak');
    for (const service of ['queen', 'worker'] as const) {
      const samples = run.health[service];
      expectNoProblems(sampleErrors(samples), `${service} /health calls that failed, of ${samples.length}`);
      const s = healthLatency(samples);
      this.measure(`${service} /health p99`, s.p99);
      expect(s.count, `${service} /health samples`).to.be.above(0);
      expect(s.p99, `${service} /health p99; ${formatLatency(`${service} /health`, s)}`).to.be.below(p99Ms);
    }
  },
);

Then('the worker still serves a fresh job of {int} tokens', async function (this: RbeeWorld, tokens: number) {
  const run = this.recall<SoakRun>('soak');
  const job = await Job.submit((await this.theStack()).queen, {
    model: DEFAULT_MODEL,
    prompt: 'still there after the soak?',
    max_tokens: tokens,
  });
  this.jobs.push(job);
  expect(job.error, `refused: ${job.error?.status} ${job.error?.text}`).to.equal(undefined);
  expectNoProblems(checkCompletedStream(await job.done(), tokens), 'problems with the fresh job');
  expect(job.dispatch?.worker_id, 'the worker that ran the fresh job').to.equal(run.worker.worker_id);
});
