// Workers as the hive and the queen list them, and workers started outside the hive.

import { Given, Then, When } from '@cucumber/cucumber';
import { expect } from 'chai';
import { eventually, holdsFor } from '../lib/observe/eventually.ts';
import { DEFAULT_MODEL } from '../lib/stack/spec.ts';
import type { RbeeWorld } from '../support/world.ts';

Given('the hive {string} has the default model in its catalog', async function (this: RbeeWorld, hive: string) {
  const stack = await this.theStack();
  const r = await stack.hive(hive).download(DEFAULT_MODEL);
  expect(r.status, `download request: ${r.text}`).to.equal(200);
  await eventually(
    async () => {
      const models = await stack.hive(hive).catalog();
      expect(models.map((m) => m.model_ref)).to.include(DEFAULT_MODEL);
    },
    { within: 15_000, what: `${hive}'s catalog to list ${DEFAULT_MODEL}` },
  );
});

Then('the hive {string} lists no workers', async function (this: RbeeWorld, hive: string) {
  const stack = await this.theStack();
  expect(await stack.hive(hive).workers()).to.deep.equal([]);
});

async function startExternalWorker(world: RbeeWorld, workerId: string, hive: string, token?: string) {
  const stack = await world.theStack();
  const entry = (await stack.hive(hive).catalog()).find((m) => m.model_ref === DEFAULT_MODEL);
  expect(entry, `${hive}'s catalog lists ${DEFAULT_MODEL}`).to.not.equal(undefined);
  return stack.running.startExternalWorker({
    workerId,
    hive,
    modelRef: DEFAULT_MODEL,
    hiveModelPath: entry!.local_path,
    token,
  });
}

When(
  'a worker {string} is started outside the hive with a callback to {string}',
  async function (this: RbeeWorld, workerId: string, hive: string) {
    await startExternalWorker(this, workerId, hive);
  },
);

When(
  'a worker {string} holding a wrong service token is started outside the hive with a callback to {string}',
  async function (this: RbeeWorld, workerId: string, hive: string) {
    // It may exit (refused) before or after its health route first answered: either is this scenario's point.
    await startExternalWorker(this, workerId, hive, `wrong-${Date.now().toString(36)}-token`).catch((e: Error) => {
      if (!/exited|exit /.test(e.message)) throw e;
    });
  },
);

Then(
  'the worker {string} logs that its ready callback was refused with {int}, and exits',
  async function (this: RbeeWorld, workerId: string, status: number) {
    const stack = await this.theStack();
    await eventually(
      () => {
        const final = stack.logs(workerId).find((l) => l.event === 'worker.ready_callback_retry' && l.final === true);
        expect(final, `${workerId}'s last ready-callback attempt`).to.not.equal(undefined);
        expect(final!.status, `status of ${JSON.stringify(final)}`).to.equal(status);
      },
      { within: 10_000, what: `${workerId} to log its refused ready callback` },
    );
    const exit = await stack.service(workerId).waitExit(5000);
    expect(exit, `${workerId} still runs after its ready callback was refused`).to.not.equal(undefined);
    expect(exit!.code, `${workerId}'s exit code`).to.not.equal(0);
  },
);

Then(
  'for {int} heartbeat intervals the hive {string} does not list worker {string}',
  async function (this: RbeeWorld, n: number, hive: string, workerId: string) {
    const stack = await this.theStack();
    await holdsFor(
      async () => {
        const ids = (await stack.hive(hive).workers()).map((w) => w.worker_id);
        expect(ids, `${hive}'s workers`).to.not.include(workerId);
      },
      { during: n * stack.spec.timings.heartbeatIntervalMs, every: 100, what: `${hive} not to list ${workerId}` },
    );
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
        const list = await stack.queen.workerList();
        const w = list.find((x) => x.worker_id === workerId);
        expect(w, `queen's worker list: ${JSON.stringify(list)}`).to.include({ node: hive, state: 'idle' });
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
