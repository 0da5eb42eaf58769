// The step catalogue's pure part (scripts/step-catalogue.ts loads the definitions and features through
// cucumber): which steps are near-duplicates, and the page people read (docs/steps.md).

import path from 'node:path';

export interface Step {
  pattern: string;
  /** The steps file that defines it (its domain). */
  file: string;
  line: number;
  params: string[];
  /** How many scenario lines of the features use it. */
  uses: number;
  /** One real line of a feature that uses it. */
  example?: string;
}

/** A step's sentence shape: its words without articles, every parameter or alternative one placeholder. */
function shape(pattern: string): string {
  return pattern
    .toLowerCase()
    .replace(/\{\w*\}|\([^)]*\)|"[^"]*"/g, ' {} ')
    .replace(/[^a-z0-9'{} ]+/g, ' ')
    .split(/\s+/)
    .filter((w) => w && !['a', 'an', 'the'].includes(w))
    .join(' ');
}

/** Pairs of steps with the same sentence shape: a scenario line could be written for either. */
export function nearDuplicates(list: Pick<Step, 'pattern'>[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i < list.length; i++)
    for (let j = i + 1; j < list.length; j++)
      if (shape(list[i]!.pattern) === shape(list[j]!.pattern)) out.push([list[i]!.pattern, list[j]!.pattern]);
  return out;
}

/** docs/steps.md: every step grouped by domain, with its parameters, an example and its use count. */
export function catalogue(steps: Step[]): string {
  const byDomain = new Map<string, Step[]>();
  for (const s of steps) byDomain.set(s.file, [...(byDomain.get(s.file) ?? []), s]);
  const out = [
    '# Step catalogue',
    '',
    'Generated from the step definitions by `npm run steps`; do not edit by hand. Every step, grouped by the',
    'domain file that defines it, with its parameters, one real line from the features and how often the',
    'features use it. Before writing a new step, look for one here; `--profile lint` fails on unused and',
    'near-duplicate steps.',
    '',
  ];
  for (const [file, list] of [...byDomain].sort(([a], [b]) => a.localeCompare(b))) {
    out.push(
      `## ${path.basename(file, '.steps.ts')} (\`${file}\`)`,
      '',
      '| step | parameters | example | uses |',
      '|---|---|---|---|',
    );
    for (const s of list)
      out.push(
        `| \`${s.pattern.replace(/\|/g, '\\|')}\` | ${s.params.join(', ') || '–'} | ${s.example ? `\`${s.example.replace(/\|/g, '\\|')}\`` : '–'} | ${s.uses} |`,
      );
    out.push('');
  }
  return out.join('\n');
}
