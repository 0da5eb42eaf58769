// Checkers return lists of problems; a step fails with all of them spelled out, one per line
// (chai would print a long list as "[ Array(3) ]"). The first line names the first problem too, because
// the run's closing summary shows only the first line of each failure.

export function expectNoProblems(problems: string[], what: string): void {
  if (problems.length) {
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
    throw new Error(`${what}: ${problems[0]}${more}\n  - ${problems.join('\n  - ')}`);
  }
}

/**
 * The words a step names for how a stream ends ("end", then "[DONE]"), checked rather than decorative:
 * `last` is the type of the last JSON event, `terminator` the line after it ("[DONE]" is the only one the
 * contract has).
 */
export function streamEndingProblems(
  result: { events: Array<{ data?: { type?: string } }>; done: boolean },
  last: string | undefined,
  terminator: string,
): string[] {
  const problems: string[] = [];
  const lastType = result.events.at(-1)?.data?.type;
  if (last !== undefined && lastType !== last) problems.push(`the last event is "${lastType}", not "${last}"`);
  if (terminator !== '[DONE]') problems.push(`"${terminator}" is not a terminator the contract knows (only "[DONE]")`);
  else if (!result.done) problems.push('no [DONE] after the last event');
  return problems;
}
