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

Given("a snapshot of every service's metrics", async function (this: RbeeWorld) {
  this.remembered.set('metrics before', await scrapeRoles(await this.theStack()));
});

Then('the metrics moved by exactly:', async function (this: RbeeWorld, table: DataTable) {
  const stack = await this.theStack();
  await this.job.done();
  const before = this.recall<Record<string, Sample[]>>('metrics before');
  const after = await scrapeRoles(stack);
  const wrong: string[] = [];
  for (const row of table.hashes()) {
    const labels = Object.fromEntries(
      row
        .labels!.split(',')
        .filter(Boolean)
        .map((kv) => kv.split('=') as [string, string]),
    );
    const service = row.service!;
    if (!after[service]) throw new Error(`unknown service role "${service}" (queen, hive, worker)`);
    const delta =
      metricValue(after[service]!, row.metric!, labels) - metricValue(before[service]!, row.metric!, labels);
    if (delta !== Number(row.delta))
      wrong.push(`${service} ${row.metric}{${row.labels}} moved by ${delta}, expected ${row.delta}`);
  }
  expectNoProblems(wrong, 'metrics that moved by the wrong amount');
});

/** `rbee_` gauges of a scrape, keyed by name and labels (the TYPE lines say which metrics are gauges). */
function rbeeGauges(text: string, samples: Sample[]): Map<string, number> {
  const gauges = new Set([...text.matchAll(/^# TYPE (rbee_\S+) gauge$/gm)].map((m) => m[1]!));
  return new Map(
    samples.filter((x) => gauges.has(x.name)).map((x) => [`${x.name}${JSON.stringify(x.labels)}`, x.value]),
  );
}

// Contract §0: gauges reflect current state, never incremented per scrape. With the stack at rest, two
// scrapes in a row must read the same, and the hive's worker gauge must match the hive's own list.
Then(
  "two scrapes in a row read the same gauges, and the hive's worker gauge matches its worker list",
  async function (this: RbeeWorld) {
    const stack = await this.theStack();
    await this.job.done();
    const hiveName = stack.hiveNames[0]!;
    const [worker] = await stack.hive(hiveName).workers();
    const clients = {
      queen: stack.queen,
      hive: stack.hive(hiveName),
      ...(worker ? { worker: stack.worker(worker.url) } : {}),
    };
    const problems: string[] = [];
    for (const [role, client] of Object.entries(clients)) {
      const a = await client.metrics();
      const b = await client.metrics();
      const ga = rbeeGauges(a.text, a.samples);
      const gb = rbeeGauges(b.text, b.samples);
      for (const [k, v] of ga)
        if (gb.get(k) !== v)
          problems.push(`${role} gauge ${k} read ${v}, then ${gb.get(k)} on the next scrape with nothing happening`);
    }
    const listed = await stack.hive(hiveName).workers();
    const samples = (await stack.hive(hiveName).metrics()).samples;
    const states = new Set([
      ...listed.map((w) => w.state as string),
      ...samples.filter((x) => x.name === 'rbee_hive_workers').map((x) => x.labels.state!),
    ]);
    for (const state of states) {
      const gauge = metricValue(samples, 'rbee_hive_workers', { state });
      const count = listed.filter((w) => w.state === state).length;
      if (gauge !== count)
        problems.push(
          `rbee_hive_workers{state="${state}"} is ${gauge}, but ${hiveName} lists ${count} ${state} worker(s)`,
        );
    }
    expectNoProblems(problems, 'gauges that do not reflect the current state');
  },
);

Then(
  'the OpenMetrics exemplars of {string} and {string} carry correlation id {string}',
  async function (this: RbeeWorld, a: string, b: string, cid: string) {
    const om = await scrapeRoles(await this.theStack(), true);
    for (const role of [a, b]) {
      const carrying = (om[role] ?? []).filter((s) => s.exemplar?.labels.correlation_id === cid);
      expect(
        carrying.map((s) => s.name),
        `${role} histogram samples whose exemplar carries ${cid}`,
      ).to.not.be.empty;
    }
  },
);

Then(
  'the logs of every service for correlation id {string} form one ordered timeline covering queen, hive and worker',
  async function (this: RbeeWorld, cid: string) {
    const stack = await this.theStack();
    const timeline = mergeTimeline(stack.logs().filter((l) => l.correlation_id === cid));
    this.attach(formatTimeline(timeline), { mediaType: 'text/plain', fileName: `timeline-${cid}.txt` });
    expect(
      [...new Set(timeline.map((l) => l.service))].sort(),
      `services with log lines for ${cid}`,
    ).to.include.members(['hive', 'queen', 'worker']);
    const first = timeline.find((l) => l.service === 'queen');
    const workerStart = timeline.find((l) => l.service === 'worker' && l.event === 'job.started');
    expect(workerStart, `the worker's job.started line for ${cid}`).to.not.equal(undefined);
    expect(first!.ts <= workerStart!.ts, 'the queen saw the request before the worker started it').to.equal(true);
  },
);
