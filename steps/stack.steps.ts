// Topology and configuration of the scenario's stack. These steps only configure; the stack starts
// at the first step that needs it, so configuration steps must come before any step that uses it.

import { Given } from '@cucumber/cucumber';
import type { RbeeWorld } from '../support/world.ts';

Given('a stack with {int} hive(s) of {int} worker(s)', function (this: RbeeWorld, hives: number, workers: number) {
  this.configure().hives(hives, workers);
});

Given('the model hub serves files at {int} MiB per second', function (this: RbeeWorld, mib: number) {
  this.configure().hubBandwidth(mib * 1024 * 1024);
});

Given('a worker is declared unhealthy after {int} seconds without a heartbeat', function (this: RbeeWorld, s: number) {
  this.configure().timings({ workerHeartbeatTimeoutMs: s * 1000 });
});

Given('each worker has {int} inference slots', function (this: RbeeWorld, slots: number) {
  this.configure().workerEnv({ MOCK_SLOTS: String(slots) });
});
