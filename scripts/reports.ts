// Writes the run's reports from its message stream (lib/report/finish.ts). Exit 1 when a report cannot be
// produced, 4 when the nightly quality gates failed; never the verdict.
// Usage: node --import tsx scripts/reports.ts [reportsDir]   (default $RBEE_REPORTS_DIR or reports)

import { writeReports } from '../lib/report/finish.ts';

const dir = process.argv[2] ?? process.env.RBEE_REPORTS_DIR ?? 'reports';
const status = writeReports(
  dir,
  { runtime: process.env.RBEE_RUNTIME, runId: process.env.RBEE_RUN_ID, profile: process.env.RBEE_PROFILE },
  (line) => console.error(line),
);
process.exitCode = status === 3 ? 1 : status;
