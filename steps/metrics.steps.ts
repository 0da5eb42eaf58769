// Metrics and log timelines across services.

import { Given, Then, type DataTable } from '@cucumber/cucumber';
import { expect } from 'chai';
import { metricValue, type Sample } from '../lib/clients/metrics.ts';
import { formatTimeline, mergeTimeline } from '../lib/observe/logs.ts';
import type { Stack } from '../lib/stack/stack.ts';
import type { RbeeWorld } from '../support/world.ts';
import { expectNoProblems } from '../support/expect.ts';

/** Metrics of the queen, the first hive and that hive's first worker, by role. */
async function scrapeRoles(stack: Stack, openMetrics = false): Promise<Record<string, Sample[]>> {
  const hive = stack.hiveNames[0]!;
  const [worker] = await stack.hive(hive).workers();
  if (!worker) throw new Error(`${hive} has no worker to scrape`);
  return {
    queen: (await stack.queen.metrics(openMetrics)).samples,
    hive: (await stack.hive(hive).metrics(openMetrics)).samples,
    worker: (await stack.worker(worker.url).metrics(openMetrics)).samples,
  };
}

Given('a snapshot of every service\'s metrics', async function (this: RbeeWorld) {
  this.remembered.set('metrics before', await scrapeRoles(await this.theStack()));
});

Then('the metrics moved by exactly:', async function (this: RbeeWorld, table: DataTable) {
  const stack = await this.theStack();
  await this.job.done();
  const before = this.recall<Record<string, Sample[]>>('metrics before');
  const after = await scrapeRoles(stack);
  const wrong: string[] = [];
  for (const row of table.hashes()) {
    const labels = Object.fromEntries(row.labels!.split(',').filter(Boolean).map((kv) => kv.split('=') as [string, string]));
    const service = row.service!;
    if (!after[service]) throw new Error(`unknown service role "${service}" (queen, hive, worker)`);
    const delta = metricValue(after[service]!, row.metric!, labels) - metricValue(before[service]!, row.metric!, labels);
    if (delta !== Number(row.delta)) wrong.push(`${service} ${row.metric}{${row.labels}} moved by ${delta}, expected ${row.delta}`);
  }
  expectNoProblems(wrong, 'metrics that moved by the wrong amount');
});

Then('the OpenMetrics exemplars of {string} and {string} carry correlation id {string}', async function (this: RbeeWorld, a: string, b: string, cid: string) {
  const om = await scrapeRoles(await this.theStack(), true);
  for (const role of [a, b]) {
    const carrying = (om[role] ?? []).filter((s) => s.exemplar?.labels.correlation_id === cid);
    expect(carrying.map((s) => s.name), `${role} histogram samples whose exemplar carries ${cid}`).to.not.be.empty;
  }
});

Then('the logs of every service for correlation id {string} form one ordered timeline covering queen, hive and worker', async function (this: RbeeWorld, cid: string) {
  const stack = await this.theStack();
  const timeline = mergeTimeline(stack.logs().filter((l) => l.correlation_id === cid));
  this.attach(formatTimeline(timeline), { mediaType: 'text/plain', fileName: `timeline-${cid}.txt` });
  expect([...new Set(timeline.map((l) => l.service))].sort(), `services with log lines for ${cid}`).to.include.members(['hive', 'queen', 'worker']);
  const first = timeline.find((l) => l.service === 'queen');
  const workerStart = timeline.find((l) => l.service === 'worker' && l.event === 'job.started');
  expect(workerStart, `the worker's job.started line for ${cid}`).to.not.equal(undefined);
  expect(first!.ts <= workerStart!.ts, 'the queen saw the request before the worker started it').to.equal(true);
});
