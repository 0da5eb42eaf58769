// Bad input to the runner: each case must fail fast, with one line naming the cause, and non-zero.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function run(args: string[], env: Record<string, string> = {}) {
  const reports = fs.mkdtempSync(path.join(os.tmpdir(), 'rbee-cli-test-'));
  const r = spawnSync('bash', ['run-integration-tests.sh', ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, RBEE_REPORTS_DIR: reports, NODE_OPTIONS: '', ...env },
  });
  fs.rmSync(reports, { recursive: true, force: true });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

test('an unknown option fails with one line', () => {
  const r = run(['--frobnicate']);
  assert.equal(r.code, 2);
  assert.match(r.out, /^error: unknown option --frobnicate \(see --help\)$/m);
});

test('a bad tag expression fails with one line and an example', () => {
  const r = run(['--runtime', 'process', '--tags', '@a and (']);
  assert.equal(r.code, 2);
  assert.match(r.out, /error: bad tag expression "@a and \(".*example/);
});

test('a feature path that does not exist fails with one line', () => {
  const r = run(['--runtime', 'process', 'features/nope.feature']);
  assert.equal(r.code, 2);
  assert.match(r.out, /error: feature path "features\/nope.feature" does not exist/);
});

test('an unknown profile and a bad runtime fail with one line', () => {
  assert.match(run(['--profile', 'fast']).out, /error: unknown profile "fast"/);
  const r = run(['--runtime', 'kubernetes']);
  assert.equal(r.code, 2);
  assert.match(r.out, /error: unknown runtime "kubernetes"/);
});

test('a scenario with an undefined step fails the run and is counted failed', () => {
  const dir = fs.mkdtempSync(path.join(root, '.tmp-undefined-'));
  try {
    const feature = path.join(dir, 'undefined.feature');
    fs.writeFileSync(
      feature,
      'Feature: x\n  Scenario: uses a step nobody wrote\n    Given the bees have learnt to fly backwards\n',
    );
    const r = run(['--runtime', 'process', path.relative(root, feature)]);
    assert.notEqual(r.code, 0, r.out);
    assert.match(r.out, /FAILED .*uses a step nobody wrote \[UNDEFINED\]/);
    assert.match(r.out, /^0 passed, 1 failed, 0 skipped$/m);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** `npx cucumber-js …` as a QA engineer types it: no NODE_OPTIONS, no run script. */
function cucumber(args: string[], reports: string, env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, ['node_modules/@cucumber/cucumber/bin/cucumber.js', ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 240_000,
    env: { ...process.env, RBEE_REPORTS_DIR: reports, NODE_OPTIONS: '', ...env },
  });
  return { code: r.status, stdout: r.stdout, out: `${r.stdout}${r.stderr}` };
}

test('npx cucumber-js: a selection of no scenario fails at once with one line, building nothing', () => {
  const reports = fs.mkdtempSync(path.join(os.tmpdir(), 'rbee-npx-'));
  try {
    const t0 = Date.now();
    const r = cucumber(['--tags', '@NO-SUCH-SCENARIO'], reports, { RBEE_RUNTIME: 'process' });
    assert.equal(r.code, 2, r.out);
    assert.match(r.out, /^error: no scenario matched \(profile default/m);
    assert.doesNotMatch(r.out, /bundles |runtime: /, 'nothing was prepared');
    assert.ok(Date.now() - t0 < 30_000, `took ${Date.now() - t0} ms`);
  } finally {
    fs.rmSync(reports, { recursive: true, force: true });
  }
});

test('npx cucumber-js runs the harness as the run script does: the scenario, every report, the verdict line last', () => {
  const reports = fs.mkdtempSync(path.join(os.tmpdir(), 'rbee-npx-'));
  try {
    const r = cucumber(['--tags', '@FULL-001'], reports, { RBEE_RUNTIME: 'process' });
    assert.equal(r.code, 0, r.out);
    assert.equal(r.stdout.trimEnd().split('\n').at(-1), '1 passed, 0 failed, 0 skipped');
    assert.match(r.out, /runtime: process {2}run: \S+ {2}profile: default {2}scenarios: 1/);
    for (const f of ['index.html', 'cucumber.html', 'junit.xml', 'messages.ndjson', 'allure-report/index.html'])
      assert.ok(fs.existsSync(path.join(reports, f)), `${f} was not written`);
    assert.match(fs.readFileSync(path.join(reports, 'junit.xml'), 'utf8'), /tests="1"/);
  } finally {
    fs.rmSync(reports, { recursive: true, force: true });
  }
});
