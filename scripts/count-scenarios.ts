// How many scenarios a run selects (profile, tags, name, paths), asked of cucumber itself before anything
// is built or started: a selection of none fails at once with one line, and the run never starts more
// parallel workers than it has scenarios.
// Usage: node --import tsx scripts/count-scenarios.ts --profile P [--tags EXPR] [--name RE] [paths…]
// Prints the count; exit 2 (with one line) when it is 0.

import { loadConfiguration, loadSources } from '@cucumber/cucumber/api';

const args = process.argv.slice(2);
const provided: { tags?: string; name?: string[]; paths?: string[] } = {};
let profile = 'default';
const paths: string[] = [];
for (let i = 0; i < args.length; i++) {
  const a = args[i]!;
  if (a === '--profile') profile = args[++i] ?? profile;
  else if (a === '--tags') provided.tags = args[++i] ?? '';
  else if (a === '--name') provided.name = [args[++i] ?? ''];
  else paths.push(a);
}
if (paths.length) provided.paths = paths;

const { runConfiguration } = await loadConfiguration({ profiles: [profile], provided });
const { plan, errors } = await loadSources(runConfiguration.sources);
if (errors.length) {
  console.error(`error: a feature file does not parse: ${errors.map((e) => `${e.uri ?? ''} ${e.message}`.trim())[0]}`);
  process.exit(2);
}
if (!plan.length) {
  const what = [
    `profile ${profile}`,
    provided.tags && `tags ${provided.tags}`,
    provided.name && `name /${provided.name[0]}/`,
    paths.length && `paths ${paths.join(' ')}`,
  ]
    .filter(Boolean)
    .join(', ');
  console.error(
    `error: no scenario matched (${what}); list the tags with: grep -rho '@[A-Za-z0-9-]*' features | sort -u`,
  );
  process.exit(2);
}
console.log(plan.length);
