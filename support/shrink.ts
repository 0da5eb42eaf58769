// Shrinking a failed chaos scenario (--shrink, or the nightly profile): rerun it on fresh stacks with
// smaller fault schedules while the same kind of anomaly appears, and report the smallest schedule that
// still fails with the command that replays it.

import fs from 'node:fs';
import path from 'node:path';
import { After, Status } from '@cucumber/cucumber';
import { shrinkChaos } from '../lib/chaos/run.ts';
import { scheduleJson } from '../lib/chaos/schedule.ts';
import { formatShrink } from '../lib/chaos/shrink.ts';
import { harness } from './harness.ts';
import type { RbeeWorld } from './world.ts';

/** Wall-time budget of one scenario's shrinking (RBEE_SHRINK_BUDGET_S), and the most reruns. */
const BUDGET_S = Number(process.env.RBEE_SHRINK_BUDGET_S ?? 600);
const MAX_RUNS = 40;

After({ timeout: (BUDGET_S + 300) * 1000 }, async function (this: RbeeWorld, { result, pickle }) {
  const wanted = process.env.RBEE_SHRINK === '1' || this.parameters?.shrink === true;
  if (!wanted || result?.status !== Status.FAILED || !this.chaos?.anomalies.length) return;
  const log = (line: string) => process.stderr.write(`${this.scenarioId}: ${line}\n`);
  const original = this.chaos.options.schedule.faults.length;
  log(`shrinking a schedule of ${original} faults (budget ${BUDGET_S} s, ${MAX_RUNS} runs)…`);
  const shrunk = await shrinkChaos(
    this.chaos,
    () => this.freshStack(),
    { maxRuns: MAX_RUNS, maxWallMs: BUDGET_S * 1000 },
    log,
  );
  const file = path.join(harness().config.reportsDir, 'chaos', `${this.scenarioId}.shrunk.schedule.json`);
  fs.writeFileSync(file, scheduleJson(shrunk.schedule));
  const idTag = pickle.tags.map((t) => t.name).find((t) => t === `@${this.scenarioId}`) ?? `@${this.scenarioId}`;
  const replay = `RBEE_CHAOS_SCHEDULE=${file} RBEE_SEED=${harness().config.seed} ./run-integration-tests.sh --runtime ${harness().runtime.name} --tags '${idTag}'`;
  const text = `${formatShrink(shrunk, original)}\nsmallest failing schedule: ${file}\nreplay: ${replay}`;
  log(text.split('\n')[0]!);
  log(`replay: ${replay}`);
  this.attach(text, { mediaType: 'text/plain', fileName: 'shrunk.txt' });
});
