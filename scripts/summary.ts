// Prints the verdict of a cucumber run from its message stream: failed scenarios with their first
// error line, flaky ones, the runtime, and the closing `N passed, N failed, N skipped` line.
// Usage: node --import tsx scripts/summary.ts reports/messages.ndjson [runtime]
// Exit code: 1 when any scenario failed (undefined/ambiguous/pending included) or none ran.

import fs from 'node:fs';
import { summarize, summaryLine } from '../lib/report/summary.ts';
import { parseRun } from '../lib/report/run-model.ts';
import { breakdownLine, runBreakdown } from '../lib/report/breakdown.ts';

const [file, runtime] = process.argv.slice(2);
if (!file || !fs.existsSync(file)) {
  console.error(`summary: no message stream at ${file ?? '(none given)'} — cucumber did not run`);
  process.exit(1);
}
const run = parseRun(fs.readFileSync(file, 'utf8'));
const s = summarize(run);
for (const sc of s.scenarios.filter((x) => x.verdict === 'failed')) {
  const why = (sc.message ?? sc.status).split('\n')[0];
  console.log(`FAILED  ${sc.tags.find((t) => /^@[A-Z]+-\d+$/.test(t)) ?? ''} ${sc.name} [${sc.status}]: ${why}`);
}
for (const sc of s.scenarios.filter((x) => x.verdict === 'flaky'))
  console.log(`FLAKY   ${sc.name} (passed on attempt ${sc.attempts})`);
console.log(breakdownLine(runBreakdown(run)));
if (runtime) console.log(`runtime: ${runtime}${s.flaky ? `; ${s.flaky} flaky` : ''}`);
console.log(summaryLine(s));
process.exit(s.failed > 0 || s.scenarios.length === 0 ? 1 : 0);
