import { test } from 'node:test';
import assert from 'node:assert/strict';
import { indexPage } from '../../lib/report/index-page.ts';
import { externalLoads } from '../../lib/report/offline.ts';
import { parseRun } from '../../lib/report/run-model.ts';
import { stream } from './stream.ts';

test('index page: the verdict line, the reports, and each scenario that did not pass with why and how to replay it', () => {
  const html = indexPage(
    parseRun(
      stream([
        { name: 'ok', attempts: [{ steps: ['PASSED'] }] },
        {
          name: 'broke <here>',
          tags: ['@FULL-007'],
          attempts: [
            {
              steps: [{ status: 'FAILED', message: 'expected 1 to equal 2', exceptionType: 'AssertionError' }],
              afterAttachments: [
                {
                  body: "# Diagnostics\nreplay: RBEE_SEED=1 ./run-integration-tests.sh --tags '@FULL-007'",
                  fileName: 'diagnostics.txt',
                },
              ],
            },
          ],
        },
        {
          name: 'flaked',
          attempts: [
            { steps: [{ status: 'FAILED', message: 'hiccup', exceptionType: 'Error' }] },
            { steps: ['PASSED'] },
          ],
        },
        {
          name: 'no docker',
          attempts: [{ steps: ['SKIPPED'], before: 'SKIPPED', beforeAttachments: ['skipped: docker only'] }],
        },
      ]),
    ),
    { allure: true, runtime: 'process' },
  );
  assert.match(html, /<h1>2 passed, 1 failed, 1 skipped \(1 flaky\)<\/h1>/);
  assert.match(html, /<a href="allure-report\/index.html">/);
  assert.match(
    html,
    /<tr class="failed"><td>failed<\/td><td>FULL-007<\/td><td>broke &lt;here&gt;[\s\S]*product failure[\s\S]*<code>RBEE_SEED=1 \.\/run-integration-tests\.sh --tags '@FULL-007'<\/code>/,
  );
  assert.match(html, /<tr class="flaky"><td>flaky \(2 attempts\)/);
  assert.match(html, /fault did not apply<br><small>skipped: docker only/);
  assert.doesNotMatch(html, /<td>ok</);
  assert.deepEqual(externalLoads(html), []);
});

test('replay: from the diagnostics line, else rebuilt from the seed and runtime the Before hook attached', async () => {
  const { replayOf } = await import('../../lib/report/replay-of.ts');
  const run = parseRun(
    stream([
      {
        name: 'undefined one',
        tags: ['@INT-004'],
        attempts: [{ steps: ['UNDEFINED'], beforeAttachments: ['runtime: docker; run r1-2; seed 99'] }],
      },
      { name: 'no info', attempts: [{ steps: ['UNDEFINED'] }] },
    ]),
  );
  const [a, b] = run.attempts;
  assert.equal(
    replayOf(a!, run.pickles.get(a!.pickleId)),
    "RBEE_SEED=99 ./run-integration-tests.sh --runtime docker --tags '@INT-004'",
  );
  assert.equal(replayOf(b!, run.pickles.get(b!.pickleId)), undefined);
});
