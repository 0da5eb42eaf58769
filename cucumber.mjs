// Cucumber profiles: `npx cucumber-js --profile NAME` or `./run-integration-tests.sh --profile NAME`
// (a thin convenience over the same command). TypeScript is registered by support/tsx-register.mjs.

const reports = process.env.RBEE_REPORTS_DIR ?? 'reports';

const common = {
  // Feature paths given on the command line replace these (cucumber would otherwise merge them).
  paths: process.env.RBEE_FEATURE_PATHS_GIVEN ? [] : ['features/**/*.feature'],
  // TypeScript through tsx, registered first (cucumber-js's documented ESM setup; every parallel worker too).
  import: ['support/tsx-register.mjs', 'support/**/*.ts', 'steps/**/*.ts'],
  format: [
    // Live progress on stderr; its file keeps the per-scenario lines. (Cucumber keeps one formatter without a
    // file — the last, allure's — so cucumber's 'summary' never printed; the harness plugin prints the verdict.)
    ['./support/progress-formatter.ts', `${reports}/progress.log`],
    `html:${reports}/cucumber.html`,
    `message:${reports}/messages.ndjson`,
    // Raw Allure results. The harness plugin then fixes them from the message stream and generates the
    // Allure report, and writes junit.xml from the stream (cucumber's junit keeps only the last attempt).
    'allure-cucumberjs/reporter',
  ],
  formatOptions: { snippetInterface: 'async-await', resultsDir: `${reports}/allure-results` },
  strict: true,
  // Preflight, sweep and builds before the first scenario; reports and the verdict line at the end
  // (support/harness-plugin.mjs), so `npx cucumber-js` runs exactly what run-integration-tests.sh runs.
  plugin: ['./support/harness-plugin.mjs'],
};
const named = (profile) => ({ pluginOptions: { rbee: { profile } } });

/** Every change (PR): everything but the full-length nightly runs. */
export default { ...common, ...named('default'), tags: 'not @nightly' };

/** A few minutes' confidence: the p0 happy paths. */
export const smoke = { ...common, ...named('smoke'), tags: '@smoke and not @nightly' };

/** Fault-injection scenarios only. */
export const chaos = { ...common, ...named('chaos'), tags: '@chaos and not @nightly' };

/** Everything, full length; a failed chaos scenario is shrunk to its smallest failing schedule. */
export const nightly = { ...common, ...named('nightly'), worldParameters: { shrink: true } };

/** Another build held to the contract: the contract scenarios and the p0 happy paths (stack/README.md). */
export const conformance = { ...common, ...named('conformance'), tags: '(@contract or @p0) and not @nightly' };

/** Checks the feature files bind: undefined or ambiguous steps fail, nothing runs. */
export const lint = { ...common, dryRun: true, format: ['summary'], pluginOptions: { rbee: { dryRun: true } } };
