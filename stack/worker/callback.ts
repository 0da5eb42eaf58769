// Talking to the hive: the ready callback after loading (retried, because the hive may be busy or briefly
// unreachable) and the periodic heartbeat. Both carry the service token.

import { setTimeout as sleep } from 'node:timers/promises';
import { callJson, DownstreamError } from '../shared/downstream.ts';
import type { Logger } from '../shared/log.ts';

export interface ReadyBody {
  worker_id: string;
  url: string;
  model_ref: string;
  backend: string;
  device: number;
}

/**
 * A 4xx answer is final (the hive rejected us), except 404/409 (the hive may not have recorded the spawn
 * yet, or is mid-transition) and 408/429 (explicitly "try again").
 */
export function isFinalRejection(e: unknown): boolean {
  if (!(e instanceof DownstreamError)) return false;
  return e.status >= 400 && e.status < 500 && ![404, 408, 409, 429].includes(e.status);
}

/** POST the ready callback until accepted; throws the last error when rejected or after `retryForMs`. */
export async function sendReadyCallback(
  url: string,
  body: ReadyBody,
  o: { token?: string; retryForMs: number; log: Logger },
): Promise<void> {
  const deadline = Date.now() + o.retryForMs;
  let backoff = 100;
  for (let attempt = 1; ; attempt++) {
    try {
      const remaining = Math.max(500, deadline - Date.now());
      await callJson('POST', url, body, { token: o.token, timeoutMs: Math.min(5000, remaining) });
      return;
    } catch (e) {
      const last = isFinalRejection(e) || Date.now() + backoff > deadline;
      o.log.warn(`ready callback attempt ${attempt} failed: ${(e as Error).message}`, {
        event: 'worker.ready_callback_retry',
        status: e instanceof DownstreamError ? e.status : undefined,
        final: last,
      });
      if (last) throw e;
      await sleep(backoff);
      backoff = Math.min(backoff * 2, 2000);
    }
  }
}

/** `{origin of the callback URL}/v1/heartbeat` — the hive's heartbeat route, wherever its ready route is. */
export function heartbeatUrl(callbackUrl: string): string {
  return new URL(callbackUrl).origin + '/v1/heartbeat';
}

/** Heartbeat every `intervalMs`; failures are logged at debug and simply retried on the next tick. */
export function startHeartbeats(
  url: string,
  workerId: string,
  intervalMs: number,
  o: { token?: string; log: Logger },
): () => void {
  let inFlight = false;
  const beat = async () => {
    if (inFlight) return; // a slow hive must not pile up requests
    inFlight = true;
    try {
      await callJson(
        'POST',
        url,
        { worker_id: workerId, timestamp: new Date().toISOString(), health_status: 'healthy' },
        {
          token: o.token,
          timeoutMs: Math.max(500, Math.min(5000, intervalMs)),
        },
      );
    } catch (e) {
      o.log.debug(`heartbeat failed: ${(e as Error).message}`, { event: 'worker.heartbeat_failed' });
    } finally {
      inFlight = false;
    }
  };
  const timer = setInterval(() => void beat(), intervalMs);
  return () => clearInterval(timer);
}
