// Which hive gets a job (contract §1): the named node if any, else the available hive with the fewest busy
// workers, ties broken by name; hives whose circuit is open are skipped. Pure, so the rule is testable.

import type { CircuitState } from './circuit.ts';

export interface HiveCandidate {
  node_name: string;
  available: boolean;
  circuit: CircuitState;
  busy: number;
}

/** Usable hives, best first. */
export function rankHives<T extends HiveCandidate>(hives: readonly T[]): T[] {
  return hives
    .filter((h) => h.available && h.circuit !== 'open')
    .sort((a, b) => a.busy - b.busy || (a.node_name < b.node_name ? -1 : a.node_name > b.node_name ? 1 : 0));
}

export function chooseHive<T extends HiveCandidate>(hives: readonly T[]): T | undefined {
  return rankHives(hives)[0];
}
