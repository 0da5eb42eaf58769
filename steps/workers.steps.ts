// Workers as the hive and the queen list them, and workers started outside the hive.

import { Given, Then, When } from '@cucumber/cucumber';
import { expect } from 'chai';
import { eventually } from '../lib/observe/eventually.ts';
import { DEFAULT_MODEL } from '../lib/stack/spec.ts';
import type { RbeeWorld } from '../support/world.ts';

Given('the hive {string} has the default model in its catalog', async function (this: RbeeWorld, hive: string) {
  const stack = await this.theStack();
  const r = await stack.hive(hive).download(DEFAULT_MODEL);
  expect(r.status, `download request: ${r.text}`).to.equal(200);
  await eventually(
    async () => {
      const models = (await stack.hive(hive).models()).json?.models ?? [];
      expect(models.map((m: any) => m.model_ref)).to.include(DEFAULT_MODEL);
    },
    { within: 15_000, what: `${hive}'s catalog to list ${DEFAULT_MODEL}` },
  );
});

Then('the hive {string} lists no workers', async function (this: RbeeWorld, hive: string) {
  const stack = await this.theStack();
  expect(await stack.hive(hive).workers()).to.deep.equal([]);
});

When(
  'a worker {string} is started outside the hive with a callback to {string}',
  async function (this: RbeeWorld, workerId: string, hive: string) {
    const stack = await this.theStack();
    const entry = ((await stack.hive(hive).models()).json?.models ?? []).find(
      (m: any) => m.model_ref === DEFAULT_MODEL,
    );
    expect(entry, `${hive}'s catalog lists ${DEFAULT_MODEL}`).to.not.equal(undefined);
    await stack.running.startExternalWorker({
      workerId,
      hive,
      modelRef: DEFAULT_MODEL,
      hiveModelPath: entry.local_path,
    });
  },
);

Then(
  'the hive {string} lists worker {string} as {string} and external',
  async function (this: RbeeWorld, hive: string, workerId: string, state: string) {
    const stack = await this.theStack();
    try {
      await eventually(
        async () => {
          const w = (await stack.hive(hive).workers()).find((x) => x.worker_id === workerId);
          expect(w, `${hive} lists ${workerId}`).to.not.equal(undefined);
          expect(w!.state, 'state').to.equal(state);
          expect(w!.external, 'external').to.equal(true);
        },
        { within: 10_000, what: `${hive} to list ${workerId} as ${state}` },
      );
    } catch (e) {
      // Say how far the worker got: did it load, did it call back, did the hive hear it?
      const own = stack
        .logs(workerId)
        .filter((l) => l.event)
        .map((l) => l.event);
      const heard = stack
        .logs(hive)
        .filter((l) => l.worker_id === workerId && l.event)
        .map((l) => l.event);
      const hint =
        own.includes('model.loaded') && !heard.length
          ? own.includes('worker.ready_callback_sent')
            ? ` — ${workerId} logged its ready callback as accepted, yet ${hive} logged nothing about it`
            : ` — ${workerId} loaded its model but ${hive} never heard from it (no ready callback)`
          : '';
      if (e instanceof Error)
        e.message = `${e.message}${hint}\n  ${workerId} log events: ${own.join(', ') || '(none)'}\n  ${hive} log events for it: ${heard.join(', ') || '(none)'}`;
      throw e;
    }
  },
);

Then(
  "the queen lists worker {string} on {string} after the hive's next heartbeat",
  async function (this: RbeeWorld, workerId: string, hive: string) {
    const stack = await this.theStack();
    const bound = stack.spec.timings.heartbeatIntervalMs * 2 + 1000;
    await eventually(
      async () => {
        const r = await stack.queen.workers();
        expect(r.status).to.equal(200);
        const w = r.json.workers.find((x: any) => x.worker_id === workerId);
        expect(w, `queen's worker list: ${r.text}`).to.include({ node: hive, state: 'idle' });
      },
      { within: bound, what: `the queen to list ${workerId} on ${hive} (two heartbeat intervals + 1 s)` },
    );
  },
);

Then('worker {string} answers its health check', async function (this: RbeeWorld, workerId: string) {
  const stack = await this.theStack();
  const r = await fetch(stack.service(workerId).url + '/health');
  expect(r.status).to.equal(200);
  expect(await r.json()).to.include({ status: 'healthy' });
});
