// Cucumber glue: set up the harness once per worker, give each scenario its id, tear its stack down
// afterwards (healing faults first), and attach diagnostics to every failed scenario.

import fs from 'node:fs';
import path from 'node:path';
import * as chai from 'chai';
import { After, AfterAll, Before, BeforeAll, Status, setDefaultTimeout } from '@cucumber/cucumber';
import { loadConfig } from '../lib/config.ts';
import { registerRun, unregisterRun } from '../lib/stack/reaper.ts';
import { selectRuntime, sweepAll } from '../lib/stack/runtimes.ts';
import { diagnosticsBundle } from '../lib/report/diagnostics.ts';
import { logsProblems } from '../lib/contract/logs.ts';
import { takeWitnessed } from '../lib/contract/witness.ts';
import { SVG, scenarioPictures } from '../lib/report/pictures.ts';
import { captureSecrets } from '../lib/report/secret-capture.ts';
import { BREAKDOWN_FILE, scenarioBreakdown } from '../lib/report/breakdown.ts';
import { harness, setHarness } from './harness.ts';
import type { RbeeWorld } from './world.ts';

// Failure messages show whole observations, not "[ { …(3) } ]".
chai.config.truncateThreshold = 0;

// Steps bound their own waits with `eventually`; this is only the backstop for a hung step.
setDefaultTimeout(120_000);

const SCENARIO_ID_RE = /^@((?:FULL|INT|PAT|FAULT|SELF|CHAOS)-\d+)$/;

BeforeAll(async function () {
  const config = loadConfig();
  registerRun(config.runId);
  await sweepAll(false);
  const runtime = await selectRuntime(config.runtime);
  setHarness({ config, runtime, live: new Set() });
  const teardown = (signal: NodeJS.Signals) => {
    const h = harness();
    process.stderr.write(`\n${signal}: tearing down ${h.live.size} stack(s)…\n`);
    void Promise.allSettled([...h.live].map((s) => s.stop())).finally(() => {
      unregisterRun(config.runId);
      process.exit(130);
    });
  };
  process.once('SIGINT', teardown);
  process.once('SIGTERM', teardown);
});

AfterAll(async function () {
  const h = harness();
  await Promise.allSettled([...h.live].map((s) => s.stop()));
  unregisterRun(h.config.runId);
});

Before(function (this: RbeeWorld, { pickle }) {
  const tags = pickle.tags.map((t) => t.name);
  const idTag = tags.find((t) => SCENARIO_ID_RE.test(t));
  this.scenarioId = idTag ? idTag.slice(1) : pickle.name.replace(/[^A-Za-z0-9]+/g, '-').slice(0, 30);
  this.scenarioName = pickle.name;
  this.scenarioStartedAt = Date.now();
  takeWitnessed(); // what an earlier scenario's streams left behind is that scenario's
  const runtime = harness().runtime.name;
  if (tags.includes('@requires-docker') && runtime !== 'docker') {
    this.attach(
      `skipped: this scenario injects a fault only the docker runtime can do; the run uses the ${runtime} runtime`,
      'text/plain',
    );
    return 'skipped';
  }
  if (tags.includes('@requires-workers-outliving-hive') && !harness().runtime.workersOutliveHive) {
    this.attach(
      `skipped: this scenario needs workers that outlive their hive; this ${runtime} runtime runs a hive's workers inside its container (RBEE_DOCKER_WORKERS=in-hive), so they die with it`,
      'text/plain',
    );
    return 'skipped';
  }
  this.attach(`runtime: ${runtime}; run ${harness().config.runId}; seed ${harness().config.seed}`, 'text/plain');
  return undefined;
});

// Only the report-secrets test sets these: record each stack's secrets (and plant them in the service
// logs) so the test can grep every report for them.
const debugSecretsFile = process.env.RBEE_DEBUG_SECRETS_FILE;
if (debugSecretsFile) {
  Before(function (this: RbeeWorld) {
    const start = this.theStack.bind(this);
    this.theStack = async () => {
      const fresh = !this.stack;
      const stack = await start();
      const plant =
        process.env.RBEE_DEBUG_PLANT_SECRETS === '1' ? [...stack.running.services.values()].map((s) => s.logFile) : [];
      if (fresh) captureSecrets(debugSecretsFile, stack.secrets, plant);
      return stack;
    };
  });
}

After(async function (this: RbeeWorld, { result, pickle }) {
  const h = harness();
  const teardownFrom = Date.now();
  if (this.measurements.length) {
    this.attach(JSON.stringify(this.measurements, null, 2), {
      mediaType: 'application/json',
      fileName: 'measurements.json',
    });
  }
  const healErrors = this.nemesis ? await this.nemesis.healAll() : [];
  // Pictures after healing, so the timeline shows when each fault was healed. As a Buffer (base64 in the
  // message stream): cucumber's HTML report shows images only when they are base64-encoded.
  const faults = this.nemesis?.timeline.records ?? [];
  for (const p of scenarioPictures(this.measurements, faults, { start: this.scenarioStartedAt, end: Date.now() })) {
    this.attach(Buffer.from(p.svg), { mediaType: SVG, fileName: p.fileName });
  }
  if (result?.status === Status.FAILED || healErrors.length) {
    const idTag = pickle.tags.map((t) => t.name).find((t) => SCENARIO_ID_RE.test(t));
    const bundle = await diagnosticsBundle({
      scenario: pickle.name,
      ...(idTag ? { scenarioTag: idTag } : {}),
      startedAt: this.scenarioStartedAt,
      error: [result?.message, ...healErrors].filter(Boolean).join('\n'),
      ...(this.stack ? { stack: this.stack } : {}),
      ...(this.nemesis ? { timeline: this.nemesis.timeline } : {}),
      seed: h.config.seed,
      runtime: h.runtime.name,
    });
    this.attach(bundle, { mediaType: 'text/plain', fileName: 'diagnostics.txt' });
  }
  // Hold the stack to the contract's log vocabulary (lib/contract/logs.ts): read before teardown removes the
  // files; and to the contract's events, which the clients checked as the streams went by.
  const contract = [
    ...(this.stack ? logsProblems(this.stack.logLines()) : []),
    ...takeWitnessed().map((v) => v.message),
  ];
  if (contract.length)
    this.attach(`what the stack said that violates the contract:\n${contract.join('\n')}`, {
      mediaType: 'text/plain',
      fileName: 'contract-violations.txt',
    });
  if (this.stack && h.config.keep) {
    h.live.delete(this.stack); // left up on purpose; the next run (or --down) removes it
    const where = [...this.stack.running.services.values()].map((s) => `${s.name} ${s.url}`).join(', ');
    const logs = path.dirname([...this.stack.running.services.values()][0]!.logFile);
    const tokenFile = path.resolve(logs, '..', 'token');
    const note = `kept stack ${this.stack.running.id} (${h.runtime.name}): ${where}; service token in ${tokenFile}; logs in ${logs}; remove with ./run-integration-tests.sh --down`;
    fs.writeFileSync(tokenFile, this.stack.secrets.serviceToken, { mode: 0o600 });
    process.stderr.write(`\n${note}\n`);
    this.attach(note.replace(/token in \S+/, 'token in the stack directory'), 'text/plain');
  } else if (this.stack) {
    await this.stack.stop();
    h.live.delete(this.stack);
  }
  const breakdown = scenarioBreakdown({
    startedAt: this.scenarioStartedAt,
    stackStartMs: this.stackStartMs,
    teardownFrom,
    now: Date.now(),
  });
  this.attach(JSON.stringify(breakdown), { mediaType: 'application/json', fileName: BREAKDOWN_FILE });
  if (healErrors.length) throw new Error(healErrors.join('; '));
  if (contract.length && result?.status !== Status.FAILED)
    throw new Error(`the services violate the contract: ${contract.join('; ')}`);
});
