// Cucumber profiles. Run through run-integration-tests.sh, which loads TypeScript with tsx
// (NODE_OPTIONS=--import tsx) and picks the runtime; `--profile NAME` selects one of these.

const reports = process.env.RBEE_REPORTS_DIR ?? 'reports';

const common = {
  // Feature paths given on the command line replace these (cucumber would otherwise merge them).
  paths: process.env.RBEE_FEATURE_PATHS_GIVEN ? [] : ['features/**/*.feature'],
  import: ['support/**/*.ts', 'steps/**/*.ts'],
  format: [
    // Live progress on stderr; its file keeps the per-scenario lines. (Cucumber keeps one formatter without a
    // file — the last, allure's — so cucumber's 'summary' never printed; scripts/summary.ts has the verdict.)
    ['./support/progress-formatter.ts', `${reports}/progress.log`],
    `html:${reports}/cucumber.html`,
    `message:${reports}/messages.ndjson`,
    // Raw Allure results. scripts/reports.ts then fixes them from the message stream and generates the
    // Allure report, and writes junit.xml from the stream (cucumber's junit keeps only the last attempt).
    'allure-cucumberjs/reporter',
  ],
  formatOptions: { snippetInterface: 'async-await', resultsDir: `${reports}/allure-results` },
  strict: true,
};

/** Every change (PR): everything but the full-length nightly runs. */
export default { ...common, tags: 'not @nightly' };

/** A few minutes' confidence: the p0 happy paths. */
export const smoke = { ...common, tags: '@smoke and not @nightly' };

/** Fault-injection scenarios only. */
export const chaos = { ...common, tags: '@chaos and not @nightly' };

/** Everything, full length; a failed chaos scenario is shrunk to its smallest failing schedule. */
export const nightly = { ...common, worldParameters: { shrink: true } };

/** Another build held to the contract: the contract scenarios and the p0 happy paths (stack/README.md). */
export const conformance = { ...common, tags: '(@contract or @p0) and not @nightly' };

/** Checks the feature files bind: undefined or ambiguous steps fail, nothing runs. */
export const lint = { ...common, dryRun: true, format: ['summary'] };
