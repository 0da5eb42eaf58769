// Contract violations seen while a scenario ran, where no caller was there to throw to: an SSE event that
// does not match its schema is read in the background, and the stream goes on (its tokens still count).
// The scenario's end takes them (support/hooks.ts) and fails a scenario that passed, naming each. One
// witness per process: a cucumber worker runs one scenario at a time.

import type { ContractViolation } from './http.ts';

const seen: ContractViolation[] = [];

export function witness(v: ContractViolation): void {
  if (seen.length < 100) seen.push(v);
}

/** The violations since the last call, and forget them. */
export function takeWitnessed(): ContractViolation[] {
  return seen.splice(0, seen.length);
}
