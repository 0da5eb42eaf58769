// Checkers return lists of problems; a step fails with all of them spelled out, one per line
// (chai would print a long list as "[ Array(3) ]"). The first line names the first problem too, because
// the run's closing summary shows only the first line of each failure.

export function expectNoProblems(problems: string[], what: string): void {
  if (problems.length) {
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
    throw new Error(`${what}: ${problems[0]}${more}\n  - ${problems.join('\n  - ')}`);
  }
}
