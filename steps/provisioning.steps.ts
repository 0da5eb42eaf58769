// Model provisioning: the hive's catalog, downloads from the hub and their progress streams.

import { Given, Then } from '@cucumber/cucumber';
import { expect } from 'chai';
import { checkProgressStream } from '../lib/checks/stream.ts';
import { eventually } from '../lib/observe/eventually.ts';
import type { SseResult } from '../lib/clients/sse.ts';
import type { RbeeWorld } from '../support/world.ts';
import { expectNoProblems } from '../support/expect.ts';

Given('the hive {string} does not have {string} in its catalog', async function (this: RbeeWorld, hive: string, model: string) {
  const stack = await this.theStack();
  const models = (await stack.hive(hive).models()).json?.models ?? [];
  expect(models.map((m: any) => m.model_ref), `${hive}'s catalog`).to.not.include(model);
});

Then('the hive {string} downloads the model\'s file from the hub', async function (this: RbeeWorld, hive: string) {
  const stack = await this.theStack();
  const entry = await stack.hub.model(this.job.task.model);
  // The job started a download: the hub sees the request for the file.
  await eventually(async () => expect(await stack.hub.requests(entry.file), `hub requests for ${entry.file}`).to.be.at.least(1),
    { within: 10_000, what: `the hub to be asked for ${entry.file}` });
  // Asking the hive for the same model while it downloads must join that download (same id).
  const r = await stack.hive(hive).download(entry.model_ref);
  expect(r.status, r.text).to.equal(200);
  expect(r.json.download_id, 'the hive says the model is already cached: the download finished before it could be observed (lower the hub bandwidth)').to.not.equal('cached');
  const progress = await stack.hive(hive).downloadProgress(r.json.download_id);
  expect(progress.status, progress.error?.text).to.equal(200);
  this.remembered.set('download', { id: r.json.download_id, result: await progress.result, entry });
});

Then('the download\'s progress stream goes {string}, {string} with a strictly increasing fraction, then {string}', function (this: RbeeWorld, _a: string, _b: string, _c: string) {
  const { id, result, entry } = this.recall<{ id: string; result: SseResult; entry: { sha256: string; size_bytes: number } }>('download');
  expectNoProblems(checkProgressStream(result), 'problems with the progress stream');
  const events = result.events.map((e) => e.data);
  expect(events[0], 'started event').to.include({ download_id: id, bytes_total: entry.size_bytes });
  expect(events.at(-1).sha256, 'sha256 in the complete event').to.equal(entry.sha256);
});

Then('the hub served the model\'s file exactly once', async function (this: RbeeWorld) {
  const stack = await this.theStack();
  await this.job.done();
  const entry = await stack.hub.model(this.job.task.model);
  expect(await stack.hub.requests(entry.file), `hub requests for ${entry.file}`).to.equal(1);
});

Then('the hive {string} lists {string} in its catalog with the hub\'s sha256', async function (this: RbeeWorld, hive: string, model: string) {
  const stack = await this.theStack();
  const entry = await stack.hub.model(model);
  const listed = ((await stack.hive(hive).models()).json?.models ?? []).find((m: any) => m.model_ref === model);
  expect(listed, `${hive}'s catalog lists ${model}`).to.not.equal(undefined);
  expect(listed.sha256).to.equal(entry.sha256);
  expect(listed.size_bytes).to.equal(entry.size_bytes);
});

Then('the hub served the file of {string} exactly once', async function (this: RbeeWorld, model: string) {
  const stack = await this.theStack();
  for (const job of this.jobs) await job.done();
  const entry = await stack.hub.model(model);
  expect(await stack.hub.requests(entry.file), `hub requests for ${entry.file}`).to.equal(1);
});
