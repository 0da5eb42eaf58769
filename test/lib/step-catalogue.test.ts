// The step catalogue: near-duplicates are steps a scenario line could be written for either way; the page
// groups steps by domain with an example and a use count; and the real tree has no unused or near-duplicate
// step (what the lint profile checks).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { catalogue, nearDuplicates } from '../../lib/report/step-catalogue.ts';

test('same sentence once parameters, alternatives and articles are out: a near-duplicate; another verb: not', () => {
  const pairs = nearDuplicates([
    { pattern: 'the hive {string} lists {int} workers' },
    { pattern: 'the hive "hive-a" lists {int} workers' },
    { pattern: 'a hive {word} lists {int} workers' },
    { pattern: 'the service {string} is paused' },
    { pattern: 'the service {string} is resumed' },
  ]);
  assert.deepEqual(pairs, [
    ['the hive {string} lists {int} workers', 'the hive "hive-a" lists {int} workers'],
    ['the hive {string} lists {int} workers', 'a hive {word} lists {int} workers'],
    ['the hive "hive-a" lists {int} workers', 'a hive {word} lists {int} workers'],
  ]);
});

test('the page: one section per domain, each step with its parameters, an example and its uses', () => {
  const page = catalogue([
    {
      pattern: 'the queen is healthy',
      file: 'steps/health.steps.ts',
      line: 3,
      params: [],
      uses: 4,
      example: 'Then the queen is healthy',
    },
    {
      pattern: 'a stack with {int} hive',
      file: 'steps/stack.steps.ts',
      line: 9,
      params: ['int'],
      uses: 60,
      example: 'Given a stack with 1 hive',
    },
  ]);
  assert.match(page, /## health \(`steps\/health.steps.ts`\)/);
  assert.match(page, /\| `a stack with \{int\} hive` \| int \| `Given a stack with 1 hive` \| 60 \|/);
});

test('the features use every step, and no two steps are near-duplicates', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/step-catalogue.ts', '--check'], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /\d+ steps: 0 unused, 0 near-duplicate pair\(s\)/);
});
