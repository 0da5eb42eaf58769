// Service-to-service calls: always carry the service token, the correlation id and (when known) the
// client's identity, as contract §0 requires. Errors keep the remote error code so callers can map them.

import { request, Agent } from 'undici';
import type { Identity } from './http.ts';

// One agent per process; short keep-alive so a partitioned peer does not hold sockets for long.
const agent = new Agent({ keepAliveTimeout: 4000, connect: { timeout: 2000 } });

export interface CallOptions {
  token?: string;
  correlationId?: string;
  identity?: Identity;
  headers?: Record<string, string>;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export class DownstreamError extends Error {
  constructor(
    readonly status: number, // 0 = no HTTP answer (connection refused, timeout…)
    readonly code: string,
    message: string,
    readonly body?: unknown,
  ) {
    super(message);
  }
}

export function downstreamHeaders(o: CallOptions): Record<string, string> {
  const h: Record<string, string> = { ...(o.headers ?? {}) };
  if (o.token) h.authorization = `Bearer ${o.token}`;
  if (o.correlationId) h['x-correlation-id'] = o.correlationId;
  if (o.identity?.subject) h['x-rbee-subject'] = o.identity.subject;
  if (o.identity?.scope) h['x-rbee-scope'] = o.identity.scope;
  return h;
}

/** JSON call; resolves the parsed body of a 2xx, throws DownstreamError otherwise. */
export async function callJson<T = any>(method: string, url: string, body: unknown, o: CallOptions = {}): Promise<T> {
  const headers = downstreamHeaders(o);
  if (body !== undefined) headers['content-type'] = 'application/json';
  const timeout = o.timeoutMs ?? 10_000;
  const signal = o.signal ?? AbortSignal.timeout(timeout);
  let res;
  try {
    const call = request(url, {
      method: method as never,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      dispatcher: agent,
      headersTimeout: timeout,
      bodyTimeout: timeout,
      signal,
    });
    // undici settles an aborted request only once a connect in progress ends (up to the agent's connect
    // timeout, 2 s): to a peer whose packets are dropped that is twice a 1-s probe's bound. The caller's
    // bound is kept by racing the signal; the call itself ends (and is ignored) when undici gets to it.
    call.catch(() => {});
    res = await Promise.race([call, abortOf(signal)]);
  } catch (e) {
    throw new DownstreamError(0, 'UNREACHABLE', `${method} ${url}: ${(e as Error).message}`);
  }
  const text = await res.body.text().catch(() => '');
  let parsed: any = undefined;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    /* non-JSON body */
  }
  if (res.statusCode >= 200 && res.statusCode < 300) return parsed as T;
  const code = parsed?.error?.code ?? `HTTP_${res.statusCode}`;
  throw new DownstreamError(res.statusCode, code, parsed?.error?.message ?? text.slice(0, 200), parsed);
}

/** Rejects with the signal's reason once it aborts. */
function abortOf(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    else signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

/** Streaming call (SSE relay): returns the undici response with its body unread. */
export async function callStream(method: string, url: string, body: unknown, o: CallOptions = {}) {
  const headers = downstreamHeaders(o);
  headers['content-type'] = 'application/json';
  headers.accept = 'text/event-stream';
  try {
    return await request(url, {
      method: method as never,
      headers,
      body: JSON.stringify(body),
      dispatcher: agent,
      headersTimeout: o.timeoutMs ?? 10_000,
      bodyTimeout: 0,
      signal: o.signal,
    });
  } catch (e) {
    throw new DownstreamError(0, 'UNREACHABLE', `${method} ${url}: ${(e as Error).message}`);
  }
}
