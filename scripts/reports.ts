// The run's reports from its message stream (lib/report/finish.ts), or one set from a sharded run's
// directories (lib/report/merge.ts).
//   node --import tsx scripts/reports.ts [reportsDir]              (default $RBEE_REPORTS_DIR or reports)
//   npm run reports -- merge OUT_DIR SHARD_DIR SHARD_DIR…          (the verdict line last, as a run's)
// Exit 1 when a report cannot be produced, 4 when the nightly quality gates failed; after a merge, 1 when a
// merged scenario failed, as the run would have.

import path from 'node:path';
import { verdict, writeReports } from '../lib/report/finish.ts';
import { mergeShardDirs, writeCucumberHtml } from '../lib/report/merge.ts';

const env = { runtime: process.env.RBEE_RUNTIME, runId: process.env.RBEE_RUN_ID, profile: process.env.RBEE_PROFILE };
const err = (line: string) => console.error(line);
const args = process.argv.slice(2);

if (args[0] === 'merge') {
  const [out, ...shards] = args.slice(1);
  if (!out || shards.length < 1) {
    console.error('usage: npm run reports -- merge OUT_DIR SHARD_DIR [SHARD_DIR…]');
    process.exit(2);
  }
  try {
    const { scenarios } = mergeShardDirs(out, shards);
    await writeCucumberHtml(path.join(out, 'messages.ndjson'), path.join(out, 'cucumber.html'));
    console.error(`merged ${shards.length} shard(s): ${scenarios} scenario(s) into ${out}`);
  } catch (e) {
    console.error(`reports merge: ${(e as Error).message}`);
    process.exit(1);
  }
  const status = writeReports(out, env, err);
  const v = verdict(path.join(out, 'messages.ndjson'), env.runtime);
  for (const line of v.lines) console.log(line);
  process.exitCode = status === 3 ? 1 : status || (v.failed ? 1 : 0);
} else {
  const status = writeReports(args[0] ?? process.env.RBEE_REPORTS_DIR ?? 'reports', env, err);
  process.exitCode = status === 3 ? 1 : status;
}
