// One container of a stack network ends at a time. Docker 20.10's libnetwork deadlocks when one container
// leaves a network while the engine is still processing another endpoint's deletion on that same network
// (moby/moby#46661: processEndpointDelete holds the controller lock and wants the network's, while the
// leaving container's sbLeave holds the network's and wants the controller's); from then on every API call
// hangs. The fix (libnetwork#2679) came in 20.10.27, after Debian's 20.10.24, and tearing a stack down by
// killing all its containers at once, or a hive crash beside a worker crash, hit it here (the whole
// docker suite timed out). So every end the harness causes — a kill, a stop, a removal — waits its turn on
// its network, lasts until the container is gone from it, and leaves the engine a moment to finish the
// bookkeeping it does after the API answered. A container that dies by itself (an OOM kill) is not gated.

import { delay, withDeadline } from '../observe/eventually.ts';

/** After an end, the engine's watch loop processes the endpoint's deletion: well under this. */
const SETTLE_MS = 30;
/** An end that takes longer than this no longer holds the others back (the engine is slow, not stuck). */
const END_BOUND_MS = 15_000;

const tails = new Map<string, Promise<void>>();

/**
 * Run `end` (kill, stop or remove a container of `network`) when no other end on that network is under
 * way; `gone` resolves once the container has left the network (its exit, or nothing after a removal).
 */
export async function endOnNetwork<T>(
  network: string,
  end: () => Promise<T>,
  gone?: () => Promise<unknown>,
): Promise<T> {
  const before = tails.get(network) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((r) => (release = r));
  const tail = before.then(() => mine);
  tails.set(network, tail);
  await before;
  try {
    const result = await end();
    if (gone) await withDeadline(gone(), END_BOUND_MS, () => 'not gone').catch(() => undefined);
    return result;
  } finally {
    await delay(SETTLE_MS);
    release();
    if (tails.get(network) === tail) tails.delete(network);
  }
}
