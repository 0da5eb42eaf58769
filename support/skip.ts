// A fault the runtime cannot inject skips the scenario with the reason attached — never a pass.

import { FaultUnsupported } from '../lib/faults/unsupported.ts';
import type { RbeeWorld } from './world.ts';

export async function orSkip(world: RbeeWorld, fn: () => Promise<unknown>): Promise<'skipped' | undefined> {
  try {
    await fn();
    return undefined;
  } catch (e) {
    if (!(e instanceof FaultUnsupported)) throw e;
    world.attach(`skipped: ${e.message}`, 'text/plain');
    return 'skipped';
  }
}
