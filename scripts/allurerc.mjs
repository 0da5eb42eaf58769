// Allure 3 configuration for `allure generate`, used by scripts/reports.ts, which sets the paths below.
// One self-contained HTML file (opens from file:// with no server), history kept in a JSONL file beside
// the reports so trends survive runs, and the categories that scripts/reports.ts wrote next to the results.
import fs from 'node:fs';
import path from 'node:path';

const reports = path.resolve(process.env.RBEE_REPORTS_DIR ?? 'reports');
const results = process.env.RBEE_ALLURE_RESULTS ?? path.join(reports, 'allure-results');
const categoriesFile = path.join(results, 'categories.json');

// Nightly quality gates (`allure quality-gate`, run by scripts/reports.ts for the nightly profile): no failed
// chaos scenario at all, and at least 95% of everything else passing.
const hasTag = (tag) => (tr) => tr.labels.some((l) => l.name === 'tag' && l.value === tag);
const nightlyGate = {
  rules: [
    { id: 'chaos', filter: hasTag('@chaos'), maxFailures: 0 },
    { id: 'all', successRate: 0.95, minTestsCount: 1 },
  ],
};

export default {
  name: 'rbee acceptance',
  output: process.env.RBEE_ALLURE_OUTPUT ?? path.join(reports, 'allure-report'),
  historyPath: process.env.RBEE_ALLURE_HISTORY ?? path.join(reports, 'allure-history.jsonl'),
  historyLimit: 50,
  ...(process.env.RBEE_PROFILE === 'nightly' ? { qualityGate: nightlyGate } : {}),
  ...(fs.existsSync(categoriesFile) ? { categories: JSON.parse(fs.readFileSync(categoriesFile, 'utf8')) } : {}),
  plugins: {
    awesome: {
      options: {
        singleFile: true,
        reportName: 'rbee acceptance',
        reportLanguage: 'en',
        groupBy: ['parentSuite', 'suite'],
      },
    },
  },
};
