// The fixed results through the real Allure 3 CLI: a scenario that passed on retry is flaky in the
// report, its failed attempt is kept as a retry, and the page loads nothing from another host.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fixAllureDir, generateAllure } from '../../lib/report/allure.ts';
import { externalLoads } from '../../lib/report/offline.ts';
import { parseRun } from '../../lib/report/run-model.ts';
import { rawAllure, stream } from './stream.ts';

test(
  'allure generate: flaky and retries as Allure shows them, counts as the summary has them, offline page',
  { timeout: 120_000 },
  () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rbee-allure-'));
    try {
      const ndjson = stream([
        {
          name: 'flaky one',
          tags: ['@INT-001'],
          attempts: [
            { steps: [{ status: 'FAILED', message: 'first', exceptionType: 'AssertionError' }] },
            { steps: ['PASSED'] },
          ],
        },
        { name: 'undefined one', attempts: [{ steps: ['UNDEFINED'] }] },
        { name: 'passes', attempts: [{ steps: ['PASSED'] }] },
      ]);
      const results = path.join(tmp, 'allure-results');
      fs.mkdirSync(results);
      const { results: rs, containers } = rawAllure(ndjson);
      for (const r of rs)
        fs.writeFileSync(
          path.join(results, `${r.uuid}-result.json`),
          JSON.stringify({ ...r, testCaseId: `id-${r.name}`, fullName: `f#${r.name}`, stop: (r.start ?? 0) + 50 }),
        );
      for (const c of containers) fs.writeFileSync(path.join(results, `${c.uuid}-container.json`), JSON.stringify(c));
      fixAllureDir(results, parseRun(ndjson));
      const { indexHtml } = generateAllure({
        resultsDir: results,
        outputDir: path.join(tmp, 'allure-report'),
        historyFile: path.join(tmp, 'history.jsonl'),
      });
      const summary = JSON.parse(fs.readFileSync(path.join(tmp, 'allure-report', 'summary.json'), 'utf8'));
      const { total, passed, broken, flaky, retries } = summary.stats;
      assert.deepEqual(
        { total, passed, broken, flaky, retries },
        { total: 3, passed: 2, broken: 1, flaky: 1, retries: 1 },
      );
      assert.equal(summary.flakyTests.length, 1);
      assert.deepEqual(externalLoads(fs.readFileSync(indexHtml, 'utf8')), []);
      assert.ok(fs.existsSync(path.join(results, 'categories.json')));
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  },
);
