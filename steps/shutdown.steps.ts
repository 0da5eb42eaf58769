// Graceful shutdown: signals to services, the cascade, exit codes, and nothing left behind.

import { Then, When } from '@cucumber/cucumber';
import { expect } from 'chai';
import { eventually } from '../lib/observe/eventually.ts';
import type { RbeeWorld } from '../support/world.ts';

When('the queen receives SIGTERM', async function (this: RbeeWorld) {
  const stack = await this.theStack();
  // Remember the worker processes first: after the cascade they must all be gone.
  const workers = (
    await Promise.all(
      stack.hiveNames.map(async (h) =>
        (await stack.hive(h).workers()).map((w) => ({ hive: h, pid: w.pid, id: w.worker_id })),
      ),
    )
  ).flat();
  this.remembered.set('workers before shutdown', workers);
  this.remembered.set('sigterm at', Date.now());
  await stack.service('queen').signal('SIGTERM');
});

Then('the hive and its worker log that they were asked to shut down', async function (this: RbeeWorld) {
  const stack = await this.theStack();
  await eventually(
    () => {
      const lines = stack.logs('hive-a');
      expect(
        lines.filter((l) => l.service === 'hive' && l.event === 'shutdown.requested').length,
        'hive "shutdown.requested" lines',
      ).to.be.above(0);
      expect(
        lines.filter((l) => l.service === 'worker' && l.event === 'shutdown.requested').length,
        'worker "shutdown.requested" lines',
      ).to.be.above(0);
    },
    { within: 10_000, what: 'the hive and the worker to log shutdown.requested' },
  );
});

Then('the queen and the hive exit with code 0 within {int} seconds', async function (this: RbeeWorld, s: number) {
  const stack = await this.theStack();
  const t0 = this.recall<number>('sigterm at');
  for (const name of ['queen', ...stack.hiveNames]) {
    const status = await stack.service(name).waitExit(Math.max(0, t0 + s * 1000 - Date.now()));
    expect(status, `${name} still running ${s} s after SIGTERM to the queen`).to.not.equal(undefined);
    expect(status, `${name}'s exit`).to.deep.include({ code: 0 });
  }
  this.measure('shutdown cascade (SIGTERM → last exit)', Date.now() - t0);
});

Then('the hive reports that its worker exited with code 0', async function (this: RbeeWorld) {
  const stack = await this.theStack();
  for (const w of this.recall<Array<{ hive: string; id: string }>>('workers before shutdown')) {
    const stopped = stack
      .logs(w.hive)
      .find((l) => l.service === 'hive' && l.event === 'worker.stopped' && l.worker_id === w.id);
    expect(stopped, `a "worker.stopped" line for ${w.id} in ${w.hive}'s log`).to.not.equal(undefined);
    expect(stopped!.exit_code, `exit code of ${w.id}`).to.equal(0);
  }
});

Then('no process of the stack is left running', async function (this: RbeeWorld) {
  const stack = await this.theStack();
  for (const svc of stack.running.services.values()) {
    if (svc.name === 'hub') continue; // the hub is the harness's stand-in registry, not part of the cascade
    expect(svc.running(), `${svc.name} still running`).to.equal(false);
  }
  for (const w of this.recall<Array<{ hive: string; pid: number | null; id: string }>>('workers before shutdown')) {
    if (w.pid)
      expect(
        await stack.workerAlive(w.hive, { worker_id: w.id, pid: w.pid }),
        `worker ${w.id} (pid ${w.pid}) still alive`,
      ).to.equal(false);
  }
});
