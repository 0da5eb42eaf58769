// The step catalogue for people writing scenarios (docs/steps.md, `npm run steps`), made from the step
// definitions themselves: every step grouped by domain (its steps/<domain>.steps.ts file), with its
// parameters, one real line from the features that uses it, and how often it is used. `--check` (the lint
// profile runs it) fails on a step no feature uses and on near-duplicates: two steps whose words, with their
// parameters and articles taken out, are the same sentence — one of them should go, or say what differs.
//   node --import tsx scripts/step-catalogue.ts [--check]

import fs from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { loadConfiguration, loadSupport, runCucumber } from '@cucumber/cucumber/api';
import { catalogue, nearDuplicates, type Step } from '../lib/report/step-catalogue.ts';

const root = path.resolve(import.meta.dirname, '..');
const { runConfiguration } = await loadConfiguration({ profiles: ['lint'] });
const support = await loadSupport(runConfiguration);

const steps: Step[] = support.stepDefinitions.map((d) => ({
  pattern: String(d.pattern),
  file: path.relative(root, d.uri),
  line: d.line,
  params: [...String(d.pattern).matchAll(/\{(\w*)\}/g)].map((m) => m[1] || 'anonymous'),
  uses: 0,
}));

// Every pickle step of every feature (all tags: @nightly included), from a dry run with the support code
// already loaded, each matched to its definition.
const texts: Array<{ uri: string; text: string }> = [];
await runCucumber(
  {
    ...runConfiguration,
    support,
    sources: { ...runConfiguration.sources, tagExpression: '' },
    plugins: undefined,
  } as never,
  { stdout: new PassThrough(), stderr: new PassThrough() },
  (e) => {
    if (e.pickle) for (const s of e.pickle.steps) texts.push({ uri: e.pickle.uri, text: s.text });
  },
);
const docs = new Map<string, string[]>();
for (const { uri, text } of texts) {
  const lines = docs.get(uri) ?? fs.readFileSync(path.join(root, uri), 'utf8').split('\n');
  docs.set(uri, lines);
  const i = support.stepDefinitions.findIndex((d) => d.matchesStepName(text));
  if (i < 0) continue;
  const st = steps[i]!;
  st.uses++;
  st.example ??= lines.find((l) => l.includes(text))?.trim() ?? text;
}

const unused = steps.filter((s) => s.uses === 0);
const dupes = nearDuplicates(steps);

if (process.argv.includes('--check')) {
  for (const s of unused)
    console.error(`unused step: "${s.pattern}" (${s.file}:${s.line}): no feature uses it; remove it`);
  for (const [a, b] of dupes)
    console.error(`near-duplicate steps: "${a}" ~ "${b}": keep one, or make the words say what differs`);
  const page = path.join(root, 'docs', 'steps.md');
  const stale = !fs.existsSync(page) || fs.readFileSync(page, 'utf8') !== catalogue(steps);
  if (stale) console.error('docs/steps.md is stale: run npm run steps');
  console.error(`${steps.length} steps: ${unused.length} unused, ${dupes.length} near-duplicate pair(s)`);
  process.exit(unused.length || dupes.length || stale ? 1 : 0);
}

const out = catalogue(steps);
fs.mkdirSync(path.join(root, 'docs'), { recursive: true });
fs.writeFileSync(path.join(root, 'docs', 'steps.md'), out);
console.error(`wrote docs/steps.md: ${steps.length} steps`);
