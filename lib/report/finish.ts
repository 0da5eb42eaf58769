// The end of a run, wherever it was started from (the cucumber plugin, scripts/reports.ts, scripts/summary.ts):
// the reports written from the message stream, and the verdict with its closing `N passed, N failed, N
// skipped` line. Synchronous on purpose: the plugin runs it as cucumber's process exits, after every
// formatter has finished writing (nothing asynchronous runs then).

import fs from 'node:fs';
import path from 'node:path';
import { allureQualityGate, fixAllureDir, generateAllure, offlineOrThrow } from './allure.ts';
import { indexPage } from './index-page.ts';
import { junitXml } from './junit.ts';
import { parseRun } from './run-model.ts';
import { TRENDS_FILE, appendTrend, trendCharts, trendPoint } from './trends.ts';
import { githubAnnotations, summarize, summaryLine } from './summary.ts';
import { breakdownLine, runBreakdown } from './breakdown.ts';

export interface RunEnv {
  runtime?: string | undefined;
  runId?: string | undefined;
  profile?: string | undefined;
}

/**
 * index.html, junit.xml, the Allure report (results fixed from the stream, history kept), the offline check
 * of every HTML report, and in the nightly profile the Allure quality gates. Returns 0, 3 when a report
 * could not be written (`err` says why, one line), or 4 when a quality gate failed. Never the verdict.
 */
export function writeReports(dir: string, env: RunEnv, err: (line: string) => void): number {
  const t0 = performance.now();
  const stream = path.join(dir, 'messages.ndjson');
  const fail = (what: string, e: unknown) => {
    err(`reports: ${what}: ${(e as Error).message.split('\n')[0]}`);
    return 3;
  };
  if (!fs.existsSync(stream))
    return fail('no message stream', new Error(`${stream} is missing (cucumber did not run)`));
  const run = parseRun(fs.readFileSync(stream, 'utf8'));
  let status = 0;
  try {
    fs.writeFileSync(path.join(dir, 'junit.xml'), junitXml(run).xml);
  } catch (e) {
    return fail('junit.xml', e);
  }
  const cucumberHtml = path.join(dir, 'cucumber.html');
  try {
    if (fs.existsSync(cucumberHtml)) offlineOrThrow(cucumberHtml);
  } catch (e) {
    return fail('cucumber.html', e);
  }
  const results = path.join(dir, 'allure-results');
  let allure = 'no allure-results';
  if (fs.existsSync(results)) {
    try {
      const fixed = fixAllureDir(results, run);
      if (fixed.unmatched.length)
        err(
          `reports: ${fixed.unmatched.length} Allure result(s) had no attempt in the message stream; left as written`,
        );
      generateAllure({
        resultsDir: results,
        outputDir: path.join(dir, 'allure-report'),
        historyFile: path.join(dir, 'allure-history.jsonl'),
      });
      allure = path.join(dir, 'allure-report', 'index.html');
    } catch (e) {
      return fail('allure', e);
    }
    // The nightly profile's quality gates (scripts/allurerc.mjs): a failed gate fails the run.
    if (env.profile === 'nightly') {
      const gate = allureQualityGate({ resultsDir: results });
      fs.writeFileSync(path.join(dir, 'quality-gate.txt'), gate ?? 'every quality gate passed\n');
      if (gate) {
        err(`reports: the nightly quality gates failed:\n${gate}`);
        status = 4;
      }
    }
  }
  try {
    const point = trendPoint(run, {
      runId: env.runId ?? 'run',
      profile: env.profile ?? 'default',
      runtime: env.runtime ?? '',
    });
    const charts = trendCharts(appendTrend(path.join(dir, TRENDS_FILE), point));
    fs.writeFileSync(
      path.join(dir, 'index.html'),
      indexPage(run, {
        allure: allure !== 'no allure-results',
        ...(env.runtime ? { runtime: env.runtime } : {}),
        trendCharts: charts,
      }),
    );
  } catch (e) {
    return fail('index.html', e);
  }
  err(
    `reports: ${path.join(dir, 'index.html')}, ${cucumberHtml}, ${path.join(dir, 'junit.xml')}, ${allure} (${((performance.now() - t0) / 1000).toFixed(1)} s)`,
  );
  return status;
}

/** The verdict's lines, the closing count line last; `failed` when any scenario failed or none ran. */
export function verdict(
  messagesFile: string,
  runtime?: string,
  env: NodeJS.ProcessEnv = process.env,
): { lines: string[]; failed: boolean } {
  if (!fs.existsSync(messagesFile))
    return { lines: [`summary: no message stream at ${messagesFile} — cucumber did not run`], failed: true };
  const run = parseRun(fs.readFileSync(messagesFile, 'utf8'));
  const s = summarize(run);
  // Under GitHub Actions each failure is also an annotation on its feature file's line.
  const lines: string[] = env.GITHUB_ACTIONS === 'true' ? githubAnnotations(s) : [];
  for (const sc of s.scenarios.filter((x) => x.verdict === 'failed')) {
    const why = (sc.message ?? sc.status).split('\n')[0];
    lines.push(`FAILED  ${sc.tags.find((t) => /^@[A-Z]+-\d+$/.test(t)) ?? ''} ${sc.name} [${sc.status}]: ${why}`);
  }
  for (const sc of s.scenarios.filter((x) => x.verdict === 'flaky'))
    lines.push(`FLAKY   ${sc.name} (passed on attempt ${sc.attempts})`);
  lines.push(breakdownLine(runBreakdown(run)));
  if (runtime) lines.push(`runtime: ${runtime}${s.flaky ? `; ${s.flaky} flaky` : ''}`);
  lines.push(summaryLine(s));
  return { lines, failed: s.failed > 0 || s.scenarios.length === 0 };
}
