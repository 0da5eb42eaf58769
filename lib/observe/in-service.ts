// Observations made through the runtime rather than from the harness: a call made from inside a service
// (what that service sees when it calls another), the engine's record of an out-of-memory kill, the memory
// a service's container is charged. They inject nothing (the nemesis does that); a runtime that cannot
// make them throws FaultUnsupported, which the steps turn into a skip.

import type { CallResult, LinkFaults, MemoryControl } from '../stack/runtime.ts';
import type { Stack } from '../stack/stack.ts';
import type { FaultRecord, FaultTimeline } from '../faults/timeline.ts';
import { FaultUnsupported } from '../faults/unsupported.ts';

/**
 * The runtime's control of the links between services, or FaultUnsupported naming what `kind` needed (the
 * one place an absent capability becomes the error that support/skip.ts turns into a skip).
 */
export function linkControl(stack: Stack, kind: string): LinkFaults {
  return stack.running.linkFaults ?? unsupported(stack, kind, stack.running.unsupported?.linkFaults);
}

/** The runtime's confinement of memory (limits, charged memory, OOM kills), or FaultUnsupported. */
export function memoryControl(stack: Stack, kind: string): MemoryControl {
  return stack.running.memory ?? unsupported(stack, kind, stack.running.unsupported?.memory);
}

function unsupported(stack: Stack, kind: string, why: string | undefined): never {
  throw new FaultUnsupported(`${kind}: ${why ?? `the ${stack.runtime} runtime cannot do it`}`);
}

/** A GET from inside `from` to `to`'s route: what that service would see calling the other. */
export function callFrom(stack: Stack, from: string, to: string, route: string, timeoutMs = 2000): Promise<CallResult> {
  return linkControl(stack, 'call from a service').callFrom(from, stack.service(to).internalUrl + route, timeoutMs);
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
  const oom = await memoryControl(stack, 'OOM confirmation').waitForOom(service, withinMs, since);
  if (!oom) throw new Error(`the engine recorded no out-of-memory kill in ${service} within ${withinMs} ms`);
  const record = timeline.applied('oom-kill (observed)', service, undefined, oom.detail);
  record.appliedAt = oom.at;
  return { ...oom, record };
}

/** Memory the service's container is charged now (docker only). */
export function memoryUsage(stack: Stack, service: string): Promise<number> {
  return memoryControl(stack, 'memory usage').memoryUsage(service);
}
