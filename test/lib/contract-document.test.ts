// The contract as code and the pages people read agree: docs/contract.md is what lib/contract/ generates
// (npm run contract:doc), and every route, metric, SSE event type and stage the code declares is named in
// the design contract (shared/design/rbee-contract.md), but for the extensions listed with their reason.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { contractDocument, designDisagreements } from '../../lib/contract/document.ts';

const DESIGN = new URL('../../../shared/design/rbee-contract.md', import.meta.url);

test('docs/contract.md is the page lib/contract/ generates (run npm run contract:doc after a change)', () => {
  assert.equal(fs.readFileSync(new URL('../../docs/contract.md', import.meta.url), 'utf8'), contractDocument());
});

test('every name the code declares is in the design contract, or listed as an extension', (t) => {
  if (!fs.existsSync(DESIGN))
    return t.skip(`no design contract at ${DESIGN.pathname} (shared/ is beside the checkout)`);
  assert.deepEqual(designDisagreements(fs.readFileSync(DESIGN, 'utf8')), []);
});

test('the agreement check can fail: against an empty page it names every kind of name', () => {
  const all = designDisagreements('');
  for (const kind of ['route /v2/tasks', 'metric rbee_queen_jobs_total', 'SSE event type token', 'SSE stage ready'])
    assert.ok(
      all.some((d) => d.startsWith(kind)),
      `${kind} not reported: ${all.join('; ')}`,
    );
});
