// End to end: one real run of the suite (process runtime) on a feature with a passing, a failing (after
// a fault, with a JWT in use), a skipped and an undefined scenario, then checks on what reports/ holds:
// the counts agree everywhere, the failure's diagnostics are in every report, no secret is anywhere, no
// report loads from another host, Allure history grows per run, and (headless Chromium) a person opening
// the reports sees the scenarios and the failure's diagnostics. Screenshots are kept in reports/.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import { externalLoads } from '../../lib/report/offline.ts';
import { readCapturedSecrets } from '../../lib/report/secret-capture.ts';
import { summarize } from '../../lib/report/summary.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const feature = 'test/report/fixtures/report-selfcheck.feature';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rbee-reports-'));
const dir = path.join(tmp, 'reports');
const secretsFile = path.join(tmp, 'secrets.jsonl');
const CHROMIUM = '/usr/bin/chromium';
let out = '';
let err = '';
let status: number | null = null;

before(
  () => {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      RBEE_REPORTS_DIR: dir,
      RBEE_DEBUG_SECRETS_FILE: secretsFile,
      RBEE_DEBUG_PLANT_SECRETS: '1',
      RBEE_SEED: '4242',
    };
    delete env.NODE_OPTIONS;
    delete env.RBEE_RUN_ID;
    const r = spawnSync('./run-integration-tests.sh', ['--runtime', 'process', feature], {
      cwd: root,
      env,
      encoding: 'utf8',
      timeout: 300_000,
    });
    out = `${r.stdout}`;
    err = `${r.stderr}`;
    status = r.status;
    if (!fs.existsSync(path.join(dir, 'messages.ndjson')))
      throw new Error(`the run wrote no message stream:\n${r.stdout}\n${r.stderr}`);
  },
  { timeout: 320_000 },
);

after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const read = (f: string) => fs.readFileSync(path.join(dir, f), 'utf8');
const cucumberMessages = () => {
  const html = read('cucumber.html');
  const start = html.indexOf('window.CUCUMBER_MESSAGES = ') + 'window.CUCUMBER_MESSAGES = '.length;
  // A JS literal, not JSON: the formatter writes `<` as \x3C so the page cannot be broken out of.
  return vm.runInNewContext(`(${html.slice(start, html.indexOf(';\n</script>', start))})`) as object[];
};
const allureResults = () =>
  fs
    .readdirSync(path.join(dir, 'allure-results'))
    .filter((f) => f.endsWith('-result.json'))
    .map((f) => JSON.parse(fs.readFileSync(path.join(dir, 'allure-results', f), 'utf8')));

test('the run fails (one scenario failed, one undefined) and its closing line is the last line', () => {
  assert.equal(status, 1, out);
  assert.equal(out.trim().split('\n').at(-1), '1 passed, 2 failed, 1 skipped');
});

test('summary line, JUnit, cucumber HTML and Allure agree on the counts', () => {
  const [, p, f, s] = out
    .trim()
    .split('\n')
    .at(-1)!
    .match(/^(\d+) passed, (\d+) failed, (\d+) skipped$/)!
    .map(Number);
  const line = { passed: p!, failed: f!, skipped: s! };
  const suites = read('junit.xml')
    .match(/<testsuites [^>]*tests="(\d+)" failures="(\d+)" errors="(\d+)" skipped="(\d+)"/)!
    .slice(1)
    .map(Number);
  const [tests, failures, errors, jskipped] = suites as [number, number, number, number];
  assert.deepEqual(
    { passed: tests - failures - errors - jskipped, failed: failures + errors, skipped: jskipped },
    line,
    'junit.xml',
  );
  const html = summarize(
    cucumberMessages()
      .map((m) => JSON.stringify(m))
      .join('\n'),
  );
  assert.deepEqual(
    { passed: html.passed, failed: html.failed, skipped: html.skipped },
    line,
    'the messages cucumber.html shows',
  );
  const stats = JSON.parse(read('allure-report/summary.json')).stats;
  assert.deepEqual(
    { passed: stats.passed ?? 0, failed: (stats.failed ?? 0) + (stats.broken ?? 0), skipped: stats.skipped ?? 0 },
    line,
    'allure-report/summary.json',
  );
  assert.equal(stats.total, p! + f! + s!);
  assert.match(read('index.html'), /<h1>1 passed, 2 failed, 1 skipped<\/h1>/, 'index.html');
});

test('each outcome is reported for what it is: product failure, undefined step, fault that did not apply', () => {
  const byId = new Map(allureResults().map((r) => [r.labels.find((l: any) => l.name === 'scenario_id')?.value, r]));
  assert.equal(byId.get('SELF-990').status, 'passed');
  assert.equal(byId.get('SELF-991').status, 'failed');
  assert.equal(byId.get('SELF-993').status, 'broken');
  assert.match(byId.get('SELF-993').statusDetails.message, /^Undefined step: "When a step nobody wrote runs"/);
  assert.equal(byId.get('SELF-992').status, 'skipped');
  assert.match(byId.get('SELF-992').statusDetails.message, /^skipped: .*docker runtime/);
  assert.deepEqual(
    byId
      .get('SELF-991')
      .labels.filter((l: any) => ['severity', 'parentSuite', 'epic'].includes(l.name))
      .map((l: any) => l.value),
    ['critical', 'full-stack', 'auth', 'crash'],
  );
  const junit = read('junit.xml');
  assert.match(junit, /name="\[SELF-991\][^"]*"[^>]*>[\s\S]*?<failure message="AssertionError[^"]*" type="product">/);
  assert.match(junit, /name="\[SELF-993\][^"]*"[^>]*>[\s\S]*?<error message="Undefined step[^"]*" type="definition">/);
  assert.match(junit, /name="\[SELF-992\][^"]*"[^>]*>[\s\S]*?<skipped message="skipped: /);
});

test('the failed scenario carries its diagnostics in JUnit, cucumber HTML and Allure, and its fault timeline as a picture', () => {
  const expectBundle = (text: string, where: string) => {
    for (const part of [
      '## Failure',
      "expected 'SIGKILL' to equal 'SIGTERM'",
      '## Fault timeline',
      'crash worker',
      '## Process / container state at failure',
      '## Service logs since the scenario started',
      '### hive-a',
      'worker.crashed',
      "replay: RBEE_SEED=4242 ./run-integration-tests.sh --runtime process --tags '@SELF-991'",
    ]) {
      assert.ok(text.includes(part), `${where} has "${part}"`);
    }
  };
  const junit = read('junit.xml')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
  expectBundle(
    junit.slice(junit.indexOf('[SELF-991]'), junit.indexOf('</testcase>', junit.indexOf('[SELF-991]'))),
    'junit.xml',
  );
  const atts = cucumberMessages()
    .filter((m: any) => m.attachment)
    .map((m: any) => m.attachment);
  expectBundle(atts.find((a: any) => a.fileName === 'diagnostics.txt').body, 'cucumber.html');
  const svg = atts.find((a: any) => a.fileName === 'fault-timeline.svg');
  assert.equal(svg.mediaType, 'image/svg+xml');
  assert.match(Buffer.from(svg.body, 'base64').toString(), /^<svg[\s\S]*crash worker[\s\S]*<\/svg>$/);
  const failed = allureResults().find((r) => r.name.startsWith('[SELF-991]'));
  const attachment = (name: string) => failed.attachments.find((a: any) => a.name === name);
  expectBundle(
    fs.readFileSync(path.join(dir, 'allure-results', attachment('diagnostics.txt').source), 'utf8'),
    'allure-results',
  );
  assert.equal(attachment('fault-timeline.svg').type, 'image/svg+xml');
  assert.match(failed.description, /Replay: `RBEE_SEED=4242 /);
  assert.match(
    read('index.html'),
    /SELF-991[\s\S]*product failure[\s\S]*<code>RBEE_SEED=4242 \.\/run-integration-tests\.sh --runtime process --tags '@SELF-991'<\/code>/,
  );
  // Only the log lines since the scenario started (the bundle reads from its start, less a second of slack).
  const bundle: string = atts.find((a: any) => a.fileName === 'diagnostics.txt').body;
  const started = Date.parse(bundle.match(/started: (\S+)/)![1]!);
  const stamps = [...bundle.matchAll(/^\{"ts":"([^"]+)"/gm)].map((m) => Date.parse(m[1]!));
  assert.ok(stamps.length > 5 && stamps.every((t) => t >= started - 1000), 'log lines are from the scenario only');
});

// The run planted every secret in the service logs (RBEE_DEBUG_PLANT_SECRETS), as a leaky service would:
// the diagnostics that quote those logs must have redacted them.
test("no secret — service token, JWT key, a JWT a step used — is in any report file (even base64-encoded) or the run's output", () => {
  const secrets = readCapturedSecrets(secretsFile);
  assert.ok(
    secrets.some((s) => s.kind === 'jwt'),
    'a step signed a JWT (auth was on)',
  );
  assert.ok(secrets.some((s) => s.kind === 'serviceToken'));
  // A PEM is matched by its base64 body line, the part that would survive reformatting.
  const needles = secrets.map((s) => (s.kind === 'jwtPublicKeyPem' ? s.value.split('\n')[1]! : s.value));
  const JWT = /eyJ[\w-]{5,}\.eyJ[\w-]{5,}\.[\w-]{5,}/;
  const files: string[] = [];
  const walk = (d: string) =>
    fs
      .readdirSync(d, { withFileTypes: true })
      .forEach((e) => (e.isDirectory() ? walk(path.join(d, e.name)) : files.push(path.join(d, e.name))));
  walk(dir);
  assert.ok(files.length > 10, `reports written: ${files.length}`);
  for (const n of needles)
    assert.ok(!`${out}\n${err}`.includes(n), `the run's output contains a secret (${n.slice(0, 6)}…)`);
  for (const f of files) {
    const raw = fs.readFileSync(f, 'utf8');
    const decoded = [...raw.matchAll(/[A-Za-z0-9+/]{24,}={0,2}/g)].map((m) =>
      Buffer.from(m[0], 'base64').toString('utf8'),
    );
    for (const text of [raw, ...decoded]) {
      for (const n of needles)
        assert.ok(!text.includes(n), `${path.relative(dir, f)} contains a secret (${n.slice(0, 6)}…)`);
      assert.doesNotMatch(text, JWT, `${path.relative(dir, f)} contains a JWT`);
    }
  }
  assert.match(
    read('junit.xml'),
    /leaked jwt: Authorization: Bearer \[REDACTED/,
    'the planted secrets reached the diagnostics, redacted',
  );
});

test('no report loads anything from another host', () => {
  assert.deepEqual(externalLoads(read('cucumber.html')), []);
  assert.deepEqual(externalLoads(read('index.html')), []);
  assert.deepEqual(externalLoads(read('allure-report/index.html')), []);
  assert.doesNotMatch(read('allure-report/index.html'), /googletagmanager|gtag\(/);
});

test('Allure generation works without a network and appends one history entry per run (trends)', () => {
  const history = () => read('allure-history.jsonl').split('\n').filter(Boolean).length;
  assert.equal(history(), 1);
  // In a network namespace with no interfaces (when this machine lets us make one), else plainly.
  const offline = spawnSync('unshare', ['-n', 'true']).status === 0;
  const cmd = offline
    ? (['unshare', ['-n', '--', process.execPath, '--import', 'tsx', 'scripts/reports.ts', dir]] as const)
    : ([process.execPath, ['--import', 'tsx', 'scripts/reports.ts', dir]] as const);
  const r = spawnSync(cmd[0], [...cmd[1]], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(history(), 2);
  assert.deepEqual(JSON.parse(read('allure-report/summary.json')).stats.total, 4, 'regenerating is idempotent');
});

test(
  "headless Chromium: both reports show the scenarios and the failure's diagnostics, fetching nothing from elsewhere",
  { timeout: 120_000 },
  async (t) => {
    if (!fs.existsSync(CHROMIUM)) {
      if (process.env.CI === 'true')
        assert.fail(`${CHROMIUM} is missing: the project's setup (.ci/run) installs Debian's chromium`);
      t.skip(`${CHROMIUM} is missing (apt-get install -y chromium); this test runs in CI`);
      return;
    }
    const { chromium } = await import('playwright-core');
    const shots = path.resolve(root, process.env.RBEE_REPORTS_DIR ?? 'reports');
    fs.mkdirSync(shots, { recursive: true });
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 2000 } });
      const fetched: string[] = [];
      page.on('request', (r) => {
        if (!/^(file|data|blob|about):/.test(r.url())) fetched.push(r.url());
      });

      await page.goto(`file://${path.join(dir, 'cucumber.html')}`);
      await page.getByText('Scenario:').first().waitFor();
      for (const name of [
        'A request without a token is refused',
        'Fails on purpose',
        'Needs a fault only the docker runtime',
        'Has a step nobody wrote',
      ]) {
        assert.ok(await page.getByText(name).first().isVisible(), `cucumber.html shows "${name}"`);
      }
      // The status filter shows the counts cucumber computed itself: undefined counts as failed.
      const filter = await page.locator('body').innerText();
      const n = (s: string) => Number(filter.match(new RegExp(`\\b${s}\\s+(\\d+)`))?.[1] ?? 0);
      assert.deepEqual(
        [n('PASSED'), n('FAILED') + n('UNDEFINED') + n('AMBIGUOUS') + n('PENDING'), n('SKIPPED')],
        [1, 2, 1],
      );
      // The failed scenario's After hook holds the diagnostics: open its hooks, then the attachments.
      const failed = page
        .locator('section')
        .filter({ hasText: 'Fails on purpose' })
        .filter({ has: page.getByRole('button', { name: /^\d+ hooks$/ }) })
        .last();
      await failed.getByRole('button', { name: /^\d+ hooks$/ }).click();
      await failed.getByText('fault-timeline.svg').click();
      await failed.getByText('diagnostics.txt').click();
      const diag = failed.getByText('## Service logs since the scenario started');
      await diag.waitFor();
      assert.ok(await diag.isVisible(), 'the diagnostics are visible in cucumber.html');
      assert.ok(await failed.locator('img').first().isVisible(), 'the fault timeline picture is visible');
      await failed.evaluate((e) => e.scrollIntoView({ block: 'start' }));
      await page.screenshot({ path: path.join(shots, 'screenshot-cucumber.png') });

      await page.goto(`file://${path.join(dir, 'allure-report', 'index.html')}`);
      await page.getByText('[SELF-991]').first().waitFor({ timeout: 30_000 });
      for (const id of ['SELF-990', 'SELF-991', 'SELF-992', 'SELF-993'])
        assert.ok(await page.getByText(`[${id}]`).first().isVisible(), `Allure lists ${id}`);
      await page.getByText('[SELF-991]').first().click();
      await page.getByText('Product failures').first().waitFor();
      await page.getByText('fault-timeline.svg').first().click();
      await page.getByText('diagnostics.txt').first().click();
      const allureDiag = page.getByText('## Service logs since the scenario started').first();
      await allureDiag.waitFor({ timeout: 15_000 });
      assert.ok(await allureDiag.isVisible(), 'the diagnostics are visible in the Allure report');
      assert.ok(await page.getByText('Replay:').first().isVisible(), 'the replay command is on the test page');
      assert.ok(
        await page
          .locator('img[src^="data:image/svg"], img[src^="blob:"], svg:has-text("Fault timeline")')
          .first()
          .isVisible(),
        'the fault timeline picture is visible',
      );
      await page.screenshot({ path: path.join(shots, 'screenshot-allure.png') });
      assert.deepEqual(fetched, [], 'requests to other hosts');
    } finally {
      await browser.close();
    }
  },
);
