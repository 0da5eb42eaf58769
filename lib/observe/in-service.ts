// Observations made through the runtime rather than from the harness: a call made from inside a service
// (what that service sees when it calls another), the engine's record of an out-of-memory kill, the memory
// a service's container is charged. They inject nothing (the nemesis does that); a runtime that cannot
// make them throws FaultUnsupported, which the steps turn into a skip.

import type { CallResult, NetworkFaults } from '../stack/runtime.ts';
import type { Stack } from '../stack/stack.ts';
import type { FaultRecord, FaultTimeline } from '../faults/timeline.ts';
import { FaultUnsupported } from '../faults/unsupported.ts';

/** The runtime's control of the network and the engine, or FaultUnsupported naming what `kind` needed. */
export function runtimeControl(stack: Stack, kind: string): NetworkFaults {
  const n = stack.running.network;
  if (!n)
    throw new FaultUnsupported(
      `${kind}: ${stack.running.networkUnsupportedReason ?? `the ${stack.runtime} runtime cannot do it`}`,
    );
  return n;
}

/** A GET from inside `from` to `to`'s route: what that service would see calling the other. */
export function callFrom(stack: Stack, from: string, to: string, route: string, timeoutMs = 2000): Promise<CallResult> {
  return runtimeControl(stack, 'call from a service').callFrom(from, stack.service(to).internalUrl + route, timeoutMs);
}

/**
 * Wait for the engine's record of a kernel OOM kill in `service` since `since`; it goes on the fault
 * timeline (observed, not injected) so detection times and pictures count from it.
 */
export async function confirmOom(
  stack: Stack,
  timeline: FaultTimeline,
  service: string,
  since: number,
  withinMs: number,
): Promise<{ at: number; detail: string; record: FaultRecord }> {
  const oom = await runtimeControl(stack, 'OOM confirmation').waitForOom(service, withinMs, since);
  if (!oom) throw new Error(`the engine recorded no out-of-memory kill in ${service} within ${withinMs} ms`);
  const record = timeline.applied('oom-kill (observed)', service, undefined, oom.detail);
  record.appliedAt = oom.at;
  return { ...oom, record };
}

/** Memory the service's container is charged now (docker only). */
export function memoryUsage(stack: Stack, service: string): Promise<number> {
  return runtimeControl(stack, 'memory usage').memoryUsage(service);
}
