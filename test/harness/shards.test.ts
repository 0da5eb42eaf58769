// Sharding for real: the same selection run whole, and as two cucumber shards (`--shard 1/2`, `--shard 2/2`,
// each writing its own reports), merged with `npm run reports -- merge`, gives the same verdict line, the
// same scenarios and the same JUnit totals.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { summarize } from '../../lib/report/summary.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TAGS = '@FULL-009';

function run(args: string[], env: Record<string, string>) {
  const r = spawnSync(process.execPath, args, {
    cwd: root,
    encoding: 'utf8',
    timeout: 300_000,
    env: { ...process.env, NODE_OPTIONS: '', RBEE_RUNTIME: 'process', ...env },
  });
  return { code: r.status, last: r.stdout.trimEnd().split('\n').at(-1), out: `${r.stdout}${r.stderr}` };
}
const cucumber = (dir: string, ...extra: string[]) =>
  run(['node_modules/@cucumber/cucumber/bin/cucumber.js', '--tags', TAGS, '--parallel', '2', ...extra], {
    RBEE_REPORTS_DIR: dir,
  });
const scenarios = (dir: string) =>
  summarize(fs.readFileSync(path.join(dir, 'messages.ndjson'), 'utf8'))
    .scenarios.map((s) => `${s.name}:${s.verdict}`)
    .sort();
const junitTotals = (dir: string) =>
  /<testsuites [^>]*tests="(\d+)" failures="(\d+)" errors="(\d+)" skipped="(\d+)"/
    .exec(fs.readFileSync(path.join(dir, 'junit.xml'), 'utf8'))
    ?.slice(1);

test('two shards merged give the counts of the unsharded run', () => {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'rbee-shards-'));
  try {
    const whole = cucumber(path.join(base, 'whole'));
    assert.equal(whole.code, 0, whole.out);
    const s1 = cucumber(path.join(base, 's1'), '--shard', '1/2');
    const s2 = cucumber(path.join(base, 's2'), '--shard', '2/2');
    assert.equal(s1.code, 0, s1.out);
    assert.equal(s2.code, 0, s2.out);
    assert.notDeepEqual(
      scenarios(path.join(base, 's1')),
      scenarios(path.join(base, 'whole')),
      'each shard ran a share',
    );
    const merged = run(
      [
        '--import',
        'tsx',
        'scripts/reports.ts',
        'merge',
        path.join(base, 'merged'),
        path.join(base, 's1'),
        path.join(base, 's2'),
      ],
      {},
    );
    assert.equal(merged.code, 0, merged.out);
    assert.equal(merged.last, whole.last, 'the same verdict line');
    assert.deepEqual(scenarios(path.join(base, 'merged')), scenarios(path.join(base, 'whole')));
    assert.ok(junitTotals(path.join(base, 'whole')));
    assert.deepEqual(junitTotals(path.join(base, 'merged')), junitTotals(path.join(base, 'whole')));
    for (const f of ['index.html', 'cucumber.html', 'allure-report/index.html'])
      assert.ok(fs.existsSync(path.join(base, 'merged', f)), `merged ${f}`);
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
});
