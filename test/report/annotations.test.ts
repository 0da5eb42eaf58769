// Under GitHub Actions a failed scenario is also an annotation on its feature file's line; the message is
// escaped as workflow commands require, and nothing is printed for what passed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { githubAnnotations, summarize } from '../../lib/report/summary.ts';
import { verdict } from '../../lib/report/finish.ts';
import { stream } from './stream.ts';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ndjson = stream(
  [
    { name: 'passes', tags: ['@FULL-001'], attempts: [{ steps: ['PASSED'] }] },
    {
      name: 'breaks, badly: 100%',
      tags: ['@INT-004'],
      attempts: [{ steps: [{ status: 'FAILED', message: 'hive-a, gone\nsecond line', exceptionType: 'Error' }] }],
    },
  ],
  { uri: 'features/integration/partitions.feature' },
);

test('one ::error per failed scenario, with file, line, title and the escaped message', () => {
  const lines = githubAnnotations(summarize(ndjson));
  assert.equal(lines.length, 1);
  assert.match(
    lines[0]!,
    /^::error file=features\/integration\/partitions.feature,line=\d+,title=@INT-004 breaks%2C badly%3A 100%25 \[FAILED\]::(Error: )?hive-a, gone%0Asecond line/,
  );
});

test('the verdict carries the annotations only under GitHub Actions, before the closing line', () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rbee-ann-')), 'messages.ndjson');
  fs.writeFileSync(file, ndjson);
  const gh = verdict(file, 'process', { GITHUB_ACTIONS: 'true' });
  assert.ok(gh.lines[0]!.startsWith('::error file=features/integration/partitions.feature'));
  assert.equal(gh.lines.at(-1), '1 passed, 1 failed, 0 skipped');
  assert.equal(gh.failed, true);
  const local = verdict(file, 'process', {});
  assert.ok(!local.lines.some((l) => l.startsWith('::')));
});
