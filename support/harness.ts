// Process-wide harness state for one cucumber worker: configuration, the chosen runtime and the
// stacks that are up (so Ctrl-C or SIGTERM of the runner can tear them down).

import type { HarnessConfig } from '../lib/config.ts';
import type { Runtime } from '../lib/stack/runtime.ts';
import type { Stack } from '../lib/stack/stack.ts';

export interface Harness {
  config: HarnessConfig;
  runtime: Runtime;
  live: Set<Stack>;
}

let current: Harness | undefined;

export function setHarness(h: Harness): void {
  current = h;
}

export function harness(): Harness {
  if (!current) throw new Error('the harness is not initialised (BeforeAll did not run)');
  return current;
}
