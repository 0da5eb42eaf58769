// Multi-stage replies (start → progress → completed): does a sequence of stage names follow a pattern
// such as "started, downloading+, complete" ("+" = one or more)? Returns the problems, if any.

export function checkStageOrder(stages: string[], pattern: string): string[] {
  const parts = pattern
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  const re = new RegExp(
    '^' + parts.map((p) => (p.endsWith('+') ? `(?:${escape(p.slice(0, -1))};)+` : `${escape(p)};`)).join('') + '$',
  );
  const seq = stages.map((s) => `${s};`).join('');
  return re.test(seq) ? [] : [`stages were ${compress(stages)}, expected ${pattern}`];
}

/** Values must strictly increase and the last one must equal `end`. */
export function checkStrictlyIncreasing(values: number[], end: number, what: string): string[] {
  const problems: string[] = [];
  if (!values.length) return [`no ${what} values`];
  values.forEach((v, i) => {
    if (i > 0 && !(v > values[i - 1]!))
      problems.push(`${what} went from ${values[i - 1]} to ${v} (must strictly increase)`);
  });
  if (Math.abs(values.at(-1)! - end) > 1e-9) problems.push(`${what} ended at ${values.at(-1)}, expected ${end}`);
  return problems;
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function compress(stages: string[]): string {
  const out: string[] = [];
  for (const s of stages) {
    const last = out.at(-1);
    if (last === s || last === `${s}+`) out[out.length - 1] = `${s}+`;
    else out.push(s);
  }
  return out.join(', ') || '(none)';
}
