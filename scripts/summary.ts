// Prints the verdict of a cucumber run from its message stream (lib/report/finish.ts): failed scenarios with
// their first error line, flaky ones, the runtime, and the closing `N passed, N failed, N skipped` line.
// Usage: node --import tsx scripts/summary.ts reports/messages.ndjson [runtime]
// Exit code: 1 when any scenario failed (undefined/ambiguous/pending included) or none ran.

import { verdict } from '../lib/report/finish.ts';

const [file, runtime] = process.argv.slice(2);
const v = verdict(file ?? '', runtime);
for (const line of v.lines) console.log(line);
process.exit(v.failed ? 1 : 0);
