// The harness as a cucumber-js plugin, so `npx cucumber-js …` (any of cucumber's own flags: --tags, --name,
// --profile, --parallel, --retry, --shard, file:line) runs exactly what the run script runs:
//   - a selection of no scenario (after tags, names, paths and the shard) fails at once, with one line,
//     before anything is built or started;
//   - then, once, in the coordinator: settings checked, dead runs swept, the runtime chosen, bundles and
//     images built or found cached (scripts/prepare-run.ts);
//   - when cucumber's process exits, after every formatter has written its file: the reports, the verdict
//     and the closing `N passed, N failed, N skipped` line (lib/report/finish.ts); a report that could not be
//     written exits 3, a failed nightly quality gate 4, when the scenarios themselves passed.
// Plain JavaScript: cucumber loads plugins before its support code, where tsx gets registered; the
// TypeScript this plugin needs is imported later, in the pickles:filter transform.
// Options (cucumber.mjs pluginOptions.rbee): profile (its name, for the reports), dryRun (lint: do nothing).

import fs from 'node:fs';
import path from 'node:path';

const say = (line) => fs.writeSync(2, `${line}\n`);

export default {
  type: 'plugin',
  optionsKey: 'rbee',
  coordinator({ operation, options, transform, environment }) {
    if (operation !== 'runCucumber' || options?.dryRun) return;
    const env = environment.env;
    const profile = options?.profile ?? 'default';
    const reports = env.RBEE_REPORTS_DIR ?? 'reports';
    // Each run's reports replace the last run's (allure-history.jsonl and the trends are kept); before the
    // formatters open their files.
    for (const f of ['junit.xml', 'allure-results', 'allure-report', 'index.html'])
      fs.rmSync(path.join(reports, f), { recursive: true, force: true });
    let prepared;
    let finishing;
    transform('pickles:filter', async (pickles) => {
      if (!pickles.length) {
        say(
          `error: no scenario matched (profile ${profile}; tags, names, paths and shard as given); list the tags with: grep -rho '@[A-Za-z0-9-]*' features | sort -u`,
        );
        process.exit(2);
      }
      try {
        const { prepareRun } = await import('../scripts/prepare-run.ts');
        prepared = await prepareRun({ profile, scenarios: pickles.length, say });
        finishing = await import('../lib/report/finish.ts'); // loaded now: the end runs synchronously
      } catch (e) {
        say(`error: ${e instanceof Error ? e.message : String(e)}`);
        process.exit(2);
      }
      return undefined;
    });
    process.on('exit', (code) => {
      if (prepared && finishing) finish(finishing, reports, prepared, profile, code);
    });
  },
};

/** Synchronous: 'exit' listeners run no asynchronous work. The verdict goes to stdout, its line last. */
function finish(finishModule, reports, prepared, profile, code) {
  const status = finishModule.writeReports(reports, { runtime: prepared.runtime, runId: prepared.runId, profile }, say);
  const v = finishModule.verdict(path.join(reports, 'messages.ndjson'), prepared.runtime);
  for (const line of v.lines) fs.writeSync(1, `${line}\n`);
  if (code === 0 && v.failed) process.exitCode = 1;
  else if (code === 0 && status) process.exitCode = status;
}
