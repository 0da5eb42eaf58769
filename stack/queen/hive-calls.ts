// Calls from the queen to a hive, through that hive's circuit breaker. A call that gets no HTTP answer (or
// a 500) counts as a failure; any other answer proves the hive is there and counts as a success. When the
// circuit is open the call fails fast with 503 HIVE_UNAVAILABLE.

import { callJson, DownstreamError, type CallOptions } from '../shared/downstream.ts';
import { HttpError, retryable } from '../shared/http.ts';
import type { HiveRecord, HiveRegistry } from './registry.ts';

export class HiveCalls {
  constructor(
    private readonly registry: HiveRegistry,
    private readonly token: string | undefined,
    readonly defaultTimeoutMs: number,
  ) {}

  async call<T>(h: HiveRecord, method: string, path: string, body: unknown, o: CallOptions = {}): Promise<T> {
    if (!h.circuit.tryAcquire()) {
      this.registry.reportTransitions(h);
      throw hiveUnavailable(
        h,
        `the circuit to hive '${h.node_name}' is open after repeated failures`,
        h.circuit.retryAfterMs(),
      );
    }
    try {
      const r = await callJson<T>(method, `${h.url}${path}`, body, {
        timeoutMs: this.defaultTimeoutMs,
        ...o,
        token: this.token,
      });
      h.circuit.success();
      return r;
    } catch (e) {
      if (e instanceof DownstreamError && (e.status === 0 || e.status === 500)) h.circuit.failure();
      else h.circuit.success();
      throw e;
    } finally {
      this.registry.reportTransitions(h);
    }
  }
}

export function hiveUnavailable(h: HiveRecord, message: string, retryAfterMs = 1000): HttpError {
  return retryable(503, 'HIVE_UNAVAILABLE', message, Math.max(retryAfterMs, 100), { node_name: h.node_name });
}

/** Did the hive not answer at all (as opposed to answering with an error)? */
export function isUnreachable(e: unknown): boolean {
  return (
    (e instanceof DownstreamError && (e.status === 0 || e.status === 500)) ||
    (e instanceof HttpError && e.code === 'HIVE_UNAVAILABLE')
  );
}
