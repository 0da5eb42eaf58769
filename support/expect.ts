// Checkers return lists of problems; a step fails with all of them spelled out, one per line
// (chai would print a long list as "[ Array(3) ]").

export function expectNoProblems(problems: string[], what: string): void {
  if (problems.length) throw new Error(`${what}:\n  - ${problems.join('\n  - ')}`);
}
