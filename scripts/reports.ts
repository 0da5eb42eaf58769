// Writes the run's reports from its message stream, after cucumber and before the summary line:
// index.html (verdict, what each report is for, what did not pass and how to replay it), junit.xml (every attempt, flaky marked), the Allure results fixed and the Allure report generated
// offline (history in allure-history.jsonl), and checks that no HTML report loads anything from another
// host. Does not change the verdict; prints one line and exits 1 when a report cannot be produced.
// Usage: node --import tsx scripts/reports.ts [reportsDir]   (default $RBEE_REPORTS_DIR or reports)

import fs from 'node:fs';
import path from 'node:path';
import { allureQualityGate, fixAllureDir, generateAllure, offlineOrThrow } from '../lib/report/allure.ts';
import { indexPage } from '../lib/report/index-page.ts';
import { junitXml } from '../lib/report/junit.ts';
import { parseRun } from '../lib/report/run-model.ts';
import { TRENDS_FILE, appendTrend, trendCharts, trendPoint } from '../lib/report/trends.ts';

const dir = process.argv[2] ?? process.env.RBEE_REPORTS_DIR ?? 'reports';
const t0 = performance.now();
const step = (what: string) => (e: unknown) => {
  console.error(`reports: ${what}: ${(e as Error).message.split('\n')[0]}`);
  process.exit(1);
};

const stream = path.join(dir, 'messages.ndjson');
if (!fs.existsSync(stream)) step('no message stream')(new Error(`${stream} is missing (cucumber did not run)`));
const run = parseRun(fs.readFileSync(stream, 'utf8'));

try {
  const { xml } = junitXml(run);
  fs.writeFileSync(path.join(dir, 'junit.xml'), xml);
} catch (e) {
  step('junit.xml')(e);
}

const cucumberHtml = path.join(dir, 'cucumber.html');
try {
  if (fs.existsSync(cucumberHtml)) offlineOrThrow(cucumberHtml);
} catch (e) {
  step('cucumber.html')(e);
}

const results = path.join(dir, 'allure-results');
let allure = 'no allure-results';
if (fs.existsSync(results)) {
  try {
    const fixed = fixAllureDir(results, run);
    if (fixed.unmatched.length)
      console.error(
        `reports: ${fixed.unmatched.length} Allure result(s) had no attempt in the message stream; left as written`,
      );
    generateAllure({
      resultsDir: results,
      outputDir: path.join(dir, 'allure-report'),
      historyFile: path.join(dir, 'allure-history.jsonl'),
    });
    allure = `${path.join(dir, 'allure-report', 'index.html')}`;
  } catch (e) {
    step('allure')(e);
  }
  // The nightly profile's quality gates (scripts/allurerc.mjs): a failed gate fails the run.
  if (process.env.RBEE_PROFILE === 'nightly') {
    const gate = allureQualityGate({ resultsDir: results });
    fs.writeFileSync(path.join(dir, 'quality-gate.txt'), gate ?? 'every quality gate passed\n');
    if (gate) {
      console.error(`reports: the nightly quality gates failed:\n${gate}`);
      process.exitCode = 4;
    }
  }
}
try {
  const runtime = process.env.RBEE_RUNTIME;
  const point = trendPoint(run, {
    runId: process.env.RBEE_RUN_ID ?? 'run',
    profile: process.env.RBEE_PROFILE ?? 'default',
    runtime: runtime ?? '',
  });
  const charts = trendCharts(appendTrend(path.join(dir, TRENDS_FILE), point));
  fs.writeFileSync(
    path.join(dir, 'index.html'),
    indexPage(run, { allure: allure !== 'no allure-results', ...(runtime ? { runtime } : {}), trendCharts: charts }),
  );
} catch (e) {
  step('index.html')(e);
}
console.error(
  `reports: ${path.join(dir, 'index.html')}, ${path.join(dir, 'cucumber.html')}, ${path.join(dir, 'junit.xml')}, ${allure} (${((performance.now() - t0) / 1000).toFixed(1)} s)`,
);
