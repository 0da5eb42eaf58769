// The Allure report, offline: fix the raw results in place from the message stream (allure-fix.ts),
// write categories.json beside them, run the Allure 3 CLI (`allure generate`, pure JS, no network) with
// scripts/allurerc.mjs, then strip the analytics tag its template adds and refuse a page that would
// still load anything from another host.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CATEGORIES, fixAllure, type AllureContainer, type AllureResult, type FixReport } from './allure-fix.ts';
import { externalLoads, stripAnalytics } from './offline.ts';
import type { RunModel } from './run-model.ts';

const readJson = <T>(f: string): T => JSON.parse(fs.readFileSync(f, 'utf8')) as T;

export function fixAllureDir(resultsDir: string, run: RunModel): FixReport {
  const files = fs.readdirSync(resultsDir);
  const results = files
    .filter((f) => f.endsWith('-result.json'))
    .map((f) => ({ f, r: readJson<AllureResult>(path.join(resultsDir, f)) }));
  const containers = files
    .filter((f) => f.endsWith('-container.json'))
    .map((f) => ({ f, c: readJson<AllureContainer>(path.join(resultsDir, f)) }));
  const report = fixAllure(
    run,
    results.map((x) => x.r),
    containers.map((x) => x.c),
  );
  for (const { f, r } of results) fs.writeFileSync(path.join(resultsDir, f), JSON.stringify(r));
  for (const { f, c } of containers) fs.writeFileSync(path.join(resultsDir, f), JSON.stringify(c));
  fs.writeFileSync(path.join(resultsDir, 'categories.json'), JSON.stringify(CATEGORIES, null, 2));
  return report;
}

export interface GenerateOptions {
  resultsDir: string;
  outputDir: string;
  historyFile: string;
  /** Default: scripts/allurerc.mjs. */
  configFile?: string;
}

export const ALLURE_CONFIG = fileURLToPath(new URL('../../scripts/allurerc.mjs', import.meta.url));

/** Runs `allure generate`; throws with one line when it fails or the page would load from elsewhere. */
export function generateAllure(o: GenerateOptions): { indexHtml: string } {
  const cli = fileURLToPath(new URL('../../node_modules/allure/cli.js', import.meta.url));
  fs.rmSync(o.outputDir, { recursive: true, force: true });
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    RBEE_ALLURE_RESULTS: path.resolve(o.resultsDir),
    RBEE_ALLURE_OUTPUT: path.resolve(o.outputDir),
    RBEE_ALLURE_HISTORY: path.resolve(o.historyFile),
  };
  // No tsx loader for the CLI: it is plain JS, and NODE_OPTIONS from the run script would only slow it.
  delete env.NODE_OPTIONS;
  const r = spawnSync(
    process.execPath,
    [cli, 'generate', '--config', o.configFile ?? ALLURE_CONFIG, path.resolve(o.resultsDir)],
    { env, encoding: 'utf8', timeout: 300_000 },
  );
  if (r.status !== 0) {
    const why =
      (r.error?.message ?? `${r.stderr}\n${r.stdout}`).trim().split('\n').filter(Boolean).slice(-1)[0] ??
      `exit ${r.status}`;
    throw new Error(`allure generate failed: ${why}`);
  }
  const indexHtml = path.join(o.outputDir, 'index.html');
  if (!fs.existsSync(indexHtml)) throw new Error(`allure generate wrote no ${indexHtml}`);
  for (const f of fs.readdirSync(o.outputDir).filter((x) => x.endsWith('.html')))
    offlineOrThrow(path.join(o.outputDir, f));
  return { indexHtml };
}

/**
 * Allure's quality gates (the `qualityGate` rules of the config, set for the nightly profile) over the
 * results: undefined when they pass or none are set, else the failed rules, one per line.
 */
export function allureQualityGate(o: { resultsDir: string; configFile?: string }): string | undefined {
  const cli = fileURLToPath(new URL('../../node_modules/allure/cli.js', import.meta.url));
  const env: NodeJS.ProcessEnv = { ...process.env, RBEE_ALLURE_RESULTS: path.resolve(o.resultsDir) };
  delete env.NODE_OPTIONS;
  const polyfill = fileURLToPath(new URL('./iterator-polyfill.mjs', import.meta.url));
  const r = spawnSync(
    process.execPath,
    ['--import', polyfill, cli, 'quality-gate', '--config', o.configFile ?? ALLURE_CONFIG, path.resolve(o.resultsDir)],
    { env, encoding: 'utf8', timeout: 120_000 },
  );
  if (r.status === 0) return undefined;
  // eslint-disable-next-line no-control-regex
  const text = `${r.stdout}\n${r.stderr}`.replace(/\x1b\[[0-9;]*m/g, '').trim();
  return text || `allure quality-gate exited ${r.status}`;
}

/** Strips analytics from an HTML report in place; throws if anything would still be fetched from another host. */
export function offlineOrThrow(htmlFile: string): void {
  const html = fs.readFileSync(htmlFile, 'utf8');
  const stripped = stripAnalytics(html);
  if (stripped !== html) fs.writeFileSync(htmlFile, stripped);
  const loads = externalLoads(stripped);
  if (loads.length) throw new Error(`${htmlFile} would load from other hosts: ${loads.slice(0, 3).join(', ')}`);
}
