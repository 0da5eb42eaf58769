// Chaos under load: clients submit jobs at a steady rate while a seeded schedule of faults strikes, and
// every job of the recorded history is judged (lib/chaos/run.ts, lib/checks/history.ts).

import fs from 'node:fs';
import path from 'node:path';
import { Then, When, type DataTable } from '@cucumber/cucumber';
import { expect } from 'chai';
import { planChaos, runChaos, type ChaosRun } from '../lib/chaos/run.ts';
import { formatSchedule, scheduleJson } from '../lib/chaos/schedule.ts';
import { formatExecution } from '../lib/chaos/executor.ts';
import { formatAnomalies, type AnomalyKind } from '../lib/checks/history.ts';
import { formatLatencies, latenciesOf } from '../lib/workload/latency.ts';
import { formatOpenLoopReport } from '../lib/workload/open-loop.ts';
import { chaosPictures } from '../lib/report/chaos-pictures.ts';
import { SVG } from '../lib/report/pictures.ts';
import { CHAOS_SUMMARY_FILE, type ChaosSummary } from '../lib/report/trends.ts';
import { DEFAULT_MODEL } from '../lib/stack/spec.ts';
import { harness } from '../support/harness.ts';
import { orSkip } from '../support/skip.ts';
import type { RbeeWorld } from '../support/world.ts';

/** Bound on a whole chaos step: the nightly run is ten minutes of load, plus draining and convergence. */
const CHAOS_STEP_TIMEOUT_MS = 20 * 60_000;
/**
 * Tokens per job, cycled: at the workers' 10 ms a token, jobs of 0.2 to 1.5 s, so that faults catch jobs
 * mid-stream and a hive that restarts finds some of its workers busy. Mean 0.7 s: 4 jobs/s keep about three
 * of four workers busy.
 */
const JOB_TOKENS = [20, 40, 150];
/** How long the run waits for convergence after the last heal; the scenario's own bound is judged in its Then. */
const CONVERGENCE_WAIT_MS = 60_000;

When(
  'clients submit {int} jobs per second for {int} seconds while {int} faults drawn from this menu strike:',
  { timeout: CHAOS_STEP_TIMEOUT_MS },
  async function (this: RbeeWorld, rate: number, seconds: number, faults: number, menu: DataTable) {
    const stack = await this.theStack();
    return orSkip(this, async () => {
      const plan = planChaos({
        seed: harness().config.seed,
        menu: menu.raw().map((r) => r[0]!.trim()),
        stack,
        runMs: seconds * 1000,
        faults,
        ...(process.env.RBEE_CHAOS_SCHEDULE ? { replayFile: process.env.RBEE_CHAOS_SCHEDULE } : {}),
      });
      const file = path.join(harness().config.reportsDir, 'chaos', `${this.scenarioId}.schedule.json`);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, scheduleJson(plan.schedule));
      const dropped = plan.dropped.map((d) => `dropped from the menu: ${d.kind} — ${d.reason}`);
      this.attach([formatSchedule(plan.schedule), ...dropped].join('\n'), 'text/plain');
      this.attach(scheduleJson(plan.schedule), { mediaType: 'application/json', fileName: path.basename(file) });
      const run = await runChaos({
        stack,
        nemesis: this.nemesis!,
        schedule: plan.schedule,
        workload: { ratePerSec: rate, durationMs: seconds * 1000, model: DEFAULT_MODEL, maxTokens: JOB_TOKENS },
        convergenceBoundMs: CONVERGENCE_WAIT_MS,
        prefix: this.scenarioId,
      });
      this.chaos = run;
      attachRun(this, run);
    });
  },
);

function attachRun(world: RbeeWorld, run: ChaosRun): void {
  const summary = [
    formatOpenLoopReport(run.load),
    formatLatencies(latenciesOf(run.history)),
    formatExecution(run.execution),
    run.unchecked.length
      ? `not checked: ${run.unchecked.map((u) => `${u.kind} (no ${u.missing})`).join(', ')}`
      : 'every check had its evidence',
    run.anomalies.length ? `anomalies:\n${formatAnomalies(run.anomalies, run.history)}` : 'no anomaly',
  ];
  world.attach(summary.join('\n'), 'text/plain');
  const byKind: Record<string, number> = {};
  for (const a of run.anomalies) byKind[a.kind] = (byKind[a.kind] ?? 0) + 1;
  const trend: ChaosSummary = { anomalies: byKind, admissionP99Ms: latenciesOf(run.history).admission.summary().p99 };
  world.attach(JSON.stringify(trend), { mediaType: 'application/json', fileName: CHAOS_SUMMARY_FILE });
  const file = path.join(harness().config.reportsDir, 'chaos', `${world.scenarioId}.history.json`);
  fs.writeFileSync(file, JSON.stringify(run.history.toJSON()));
  for (const p of chaosPictures(run.history, run.evidence.faults ?? [], {
    origin: run.execution.origin,
    end: run.execution.endedAt,
  })) {
    world.attach(Buffer.from(p.svg), { mediaType: SVG, fileName: p.fileName });
  }
}

/** The anomalies of the given kinds in the scenario's chaos run, one per line (none: the check passes). */
function expectNoAnomaly(world: RbeeWorld, kinds: readonly AnomalyKind[], what: string): void {
  const run = world.theChaosRun();
  const found = run.anomalies.filter((a) => kinds.includes(a.kind));
  const missing = run.unchecked.filter((u) => kinds.includes(u.kind as AnomalyKind));
  expect(missing, `${what}: evidence missing for`).to.deep.equal([]);
  expect(
    found.length,
    `${what}, over ${run.history.entries.length} jobs:\n${formatAnomalies(found, run.history)}`,
  ).to.equal(0);
}

Then('every accepted job terminated, and no stream was cut without an error event', function (this: RbeeWorld) {
  expectNoAnomaly(this, ['lost', 'silent-truncation'], 'jobs lost or silently truncated');
});

Then("no job's tokens were out of order, duplicated or more than it asked for", function (this: RbeeWorld) {
  expectNoAnomaly(
    this,
    ['tokens-out-of-order', 'tokens-duplicated', 'tokens-over-max'],
    'jobs with broken token streams',
  );
});

Then('no job ran on two workers, and no worker ran two jobs at once', function (this: RbeeWorld) {
  expectNoAnomaly(this, ['ran-on-two-workers', 'concurrent-on-worker'], 'jobs run twice or side by side on one worker');
});

Then('no hive listed a worker as idle while it ran a job', function (this: RbeeWorld) {
  expectNoAnomaly(this, ['idle-while-running'], 'workers listed idle by their hive while they ran a job');
});

Then('every failure a fault caused was reported as retryable', function (this: RbeeWorld) {
  expectNoAnomaly(this, ['fault-error-not-retryable'], 'fault-caused failures reported as not retryable');
});

Then('no job was routed to a worker its hive had already reported dead', function (this: RbeeWorld) {
  expectNoAnomaly(this, ['routed-to-dead-worker'], 'jobs routed to dead workers');
});

Then("the queen's and the workers' job counters reconcile with the history", function (this: RbeeWorld) {
  expectNoAnomaly(this, ['counters-mismatch'], 'counters that do not reconcile with the history');
});

Then('the stack converged within {int} seconds of the last heal', function (this: RbeeWorld, seconds: number) {
  const c = this.theChaosRun().evidence.convergence!;
  expect(
    c.convergedAt,
    `the stack never converged (${c.what}) within ${c.boundMs} ms of the last heal: ${c.lastObservation}`,
  ).to.be.a('number');
  const ms = c.convergedAt! - c.lastHealAt;
  this.measure('convergence after the last heal', ms);
  expect(
    ms,
    `ms from the last heal until ${c.what}; last seen not yet ${c.lastObservation ?? '(never)'}`,
  ).to.be.at.most(seconds * 1000);
});
