// Model provisioning: the hive's catalog, downloads from the hub and their progress streams.

import { Given, Then } from '@cucumber/cucumber';
import { expect } from 'chai';
import { checkProgressStream } from '../lib/checks/stream.ts';
import { eventually } from '../lib/observe/eventually.ts';
import type { SseResult } from '../lib/clients/sse.ts';
import type { RbeeWorld } from '../support/world.ts';
import { expectNoProblems } from '../support/expect.ts';

Given(
  'the hive {string} does not have {string} in its catalog',
  async function (this: RbeeWorld, hive: string, model: string) {
    const stack = await this.theStack();
    const models = await stack.hive(hive).catalog();
    const entry = await stack.hub.model(model);
    const refs = models.map((m) => m.model_ref);
    for (const name of [entry.model_ref, ...entry.aliases]) expect(refs, `${hive}'s catalog`).to.not.include(name);
  },
);

Given('the model hub serves a corrupted copy of {string}', async function (this: RbeeWorld, model: string) {
  const stack = await this.theStack();
  const entry = await stack.hub.model(model);
  const r = await stack.hub.fault({ file: entry.file, corrupt: true });
  expect(r.status, `hub fault knob: ${r.text}`).to.equal(200);
});

Then('the queen refuses the job with an error naming the checksum mismatch', async function (this: RbeeWorld) {
  await this.job.answered();
  if (!this.job.error) {
    const result = await this.job.done();
    const tokens = result.events.filter((e) => e.data?.type === 'token').length;
    throw new Error(
      `the job ran (${this.job.status}, ${tokens} tokens) although the hub's file did not match its sha256: the hive used a model it had not verified`,
    );
  }
  const { status, text, json } = this.job.error;
  expect(status, `status of the refusal (body ${text})`).to.be.at.least(400);
  expect(
    `${json?.error?.code ?? ''} ${json?.error?.message ?? ''}`,
    `the error should name the checksum mismatch (body ${text})`,
  ).to.match(/checksum|sha256/i);
});

Then("the hive {string} downloads the model's file from the hub", async function (this: RbeeWorld, hive: string) {
  const stack = await this.theStack();
  const entry = await stack.hub.model(this.job.task.model);
  // The job started a download: the hub sees the request for the file.
  await eventually(
    async () => expect(await stack.hub.requests(entry.file), `hub requests for ${entry.file}`).to.be.at.least(1),
    { within: 10_000, what: `the hub to be asked for ${entry.file}` },
  );
  // Asking the hive for the same model while it downloads must join that download (same id).
  const r = await stack.hive(hive).download(entry.model_ref);
  expect(r.status, r.text).to.equal(200);
  expect(
    r.json.download_id,
    'the hive says the model is already cached: the download finished before it could be observed (lower the hub bandwidth)',
  ).to.not.equal('cached');
  const progress = await stack.hive(hive).downloadProgress(r.json.download_id);
  expect(progress.status, progress.error?.text).to.equal(200);
  const result = await progress.result;
  this.remembered.set('download', { id: r.json.download_id, result, entry });
  // Joining must not start a second transfer (contract §2: concurrent requests share one download).
  const served = await stack.hub.requests(entry.file);
  expect(
    served,
    `asking ${hive} for ${entry.model_ref} while it was downloading did not join that download: the hub was asked for ${entry.file} ${served} times`,
  ).to.equal(1);
});

Then(
  "the download's progress stream goes {string}, {string} with a strictly increasing fraction, then {string}",
  function (this: RbeeWorld, first: string, then: string, last: string) {
    const { id, result, entry } = this.recall<{
      id: string;
      result: SseResult;
      entry: { sha256: string; size_bytes: number };
    }>('download');
    expectNoProblems(checkProgressStream(result), 'problems with the progress stream');
    const events = result.events.map((e) => e.data);
    const stages = events.map((e) => e?.stage);
    expect(stages[0], `first stage of ${stages.join(',')}`).to.equal(first);
    expect(stages.slice(1, -1), `stages between the first and the last`).to.satisfy(
      (mid: string[]) => mid.length > 0 && mid.every((t) => t === then),
    );
    expect(stages.at(-1), `last stage of ${stages.join(',')}`).to.equal(last);
    expect(events[0], 'started event').to.include({ download_id: id, bytes_total: entry.size_bytes });
    expect(events.at(-1).sha256, 'sha256 in the complete event').to.equal(entry.sha256);
  },
);

Then("the hub served the model's file exactly once", async function (this: RbeeWorld) {
  const stack = await this.theStack();
  await this.job.done();
  const entry = await stack.hub.model(this.job.task.model);
  expect(await stack.hub.requests(entry.file), `hub requests for ${entry.file}`).to.equal(1);
});

Then(
  "the hive {string} lists {string} in its catalog with the hub's sha256",
  async function (this: RbeeWorld, hive: string, model: string) {
    const stack = await this.theStack();
    const entry = await stack.hub.model(model);
    const listed = (await stack.hive(hive).catalog()).find((m) => m.model_ref === model);
    const all = (await stack.hive(hive).catalog()).map((m) => m.model_ref);
    expect(
      listed,
      `${hive}'s catalog lists ${model} under its canonical ref (it lists: ${all.join(', ') || 'nothing'})`,
    ).to.not.equal(undefined);
    expect(listed!.sha256).to.equal(entry.sha256);
    expect(listed!.size_bytes).to.equal(entry.size_bytes);
  },
);

Then('the hub served the file of {string} exactly once', async function (this: RbeeWorld, model: string) {
  const stack = await this.theStack();
  for (const job of this.jobs) await job.done();
  const entry = await stack.hub.model(model);
  expect(await stack.hub.requests(entry.file), `hub requests for ${entry.file}`).to.equal(1);
});
