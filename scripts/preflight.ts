// Checks a run's inputs before cucumber starts, so a bad tag expression, a missing feature path, a
// bad setting or a missing engine fails in a second with one line saying what to do.
// Usage: node --import tsx scripts/preflight.ts --tags EXPR --runtime R [--down] [paths…]
// Prints the resolved runtime name on success (the last line of stdout).

import fs from 'node:fs';
import parseTagExpression from '@cucumber/tag-expressions';
import { loadConfig } from '../lib/config.ts';
import { selectRuntime, sweepAll } from '../lib/stack/runtimes.ts';

function fail(message: string): never {
  console.error(`error: ${message}`);
  process.exit(2);
}

const args = process.argv.slice(2);
let tags = '';
let runtime = 'auto';
let down = false;
const paths: string[] = [];
for (let i = 0; i < args.length; i++) {
  const a = args[i]!;
  if (a === '--tags') tags = args[++i] ?? '';
  else if (a === '--runtime') runtime = args[++i] ?? '';
  else if (a === '--down') down = true;
  else paths.push(a);
}

if (tags) {
  try {
    parseTagExpression(tags);
  } catch (e) {
    fail(
      `bad tag expression "${tags}": ${(e as Error).message.split('\n')[0]} (example: --tags '@FULL-001 or (@integration and not @nightly)')`,
    );
  }
}
for (const p of paths) {
  const file = p.replace(/:\d+(:\d+)*$/, '');
  if (!fs.existsSync(file))
    fail(
      `feature path "${p}" does not exist (paths are relative to the project root, e.g. features/full-stack/inference.feature)`,
    );
}
if (!['auto', 'process', 'docker'].includes(runtime)) fail(`unknown runtime "${runtime}": use process, docker or auto`);

try {
  loadConfig({ ...process.env, RBEE_RUNTIME: runtime });
} catch (e) {
  fail((e as Error).message);
}

if (down) {
  const removed = await sweepAll(true);
  console.log(removed.length ? `removed:\n  ${removed.join('\n  ')}` : 'nothing to remove');
  process.exit(0);
}

// Leftovers of runs whose runner died (SIGKILL, machine reboot) go before anything new starts.
const removed = await sweepAll(false);
if (removed.length) console.error(`swept ${removed.length} leftover(s) of dead runs`);
try {
  console.log((await selectRuntime(runtime as 'auto' | 'process' | 'docker')).name);
} catch (e) {
  fail((e as Error).message);
}
