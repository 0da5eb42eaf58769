// A thin HTTP client over undici that never throws on an HTTP status: it returns what the service
// answered (status, headers, body, time), because the assertions are about exactly that.

import { Agent, request } from 'undici';
import { readSse, type SseEvent, type SseResult } from './sse.ts';
import type { z } from 'zod';
import { conform, ContractViolation, ErrorBodySchema } from '../contract/http.ts';
import { witness } from '../contract/witness.ts';

export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  text: string;
  /** Parsed JSON body, or undefined when the body is not JSON. */
  json: any;
  ms: number;
}

export interface CallOptions {
  /** Bearer to send; `null` sends no Authorization header; undefined uses the client's default. */
  bearer?: string | null;
  headers?: Record<string, string>;
  timeoutMs?: number;
  /** Raw body text (for malformed-JSON tests); otherwise `body` is JSON-encoded. */
  rawBody?: string;
}

export interface StreamResponse {
  status: number;
  headers: Record<string, string>;
  /** Set when the answer is not an event stream (an error before the stream started). */
  error?: HttpResponse;
  /** Resolves when the stream ends. */
  result: Promise<SseResult>;
  /** Abort the request (client disconnect). */
  abort(): void;
}

const agent = new Agent({ keepAliveTimeout: 2000, connect: { timeout: 3000 } });

export class HttpClient {
  constructor(
    readonly baseUrl: string,
    private readonly defaultBearer?: string,
  ) {}

  get(path: string, o: CallOptions = {}): Promise<HttpResponse> {
    return this.call('GET', path, undefined, o);
  }
  post(path: string, body: unknown, o: CallOptions = {}): Promise<HttpResponse> {
    return this.call('POST', path, body, o);
  }
  delete(path: string, o: CallOptions = {}): Promise<HttpResponse> {
    return this.call('DELETE', path, undefined, o);
  }

  async call(method: string, path: string, body: unknown, o: CallOptions = {}): Promise<HttpResponse> {
    const t0 = performance.now();
    const timeout = o.timeoutMs ?? 10_000;
    const res = await request(this.baseUrl + path, {
      method: method as never,
      headers: this.headers(o, body !== undefined || o.rawBody !== undefined),
      body: o.rawBody ?? (body === undefined ? undefined : JSON.stringify(body)),
      dispatcher: agent,
      headersTimeout: timeout,
      bodyTimeout: timeout,
      signal: AbortSignal.timeout(timeout),
    }).catch((e: Error) => {
      throw new Error(`${method} ${this.baseUrl}${path} failed: ${e.message}`);
    });
    const text = await res.body.text();
    const json = tryJson(text);
    // Contract §0: every non-2xx body is the error body (code, message, correlation id). Anything else is a
    // violation of its own, whatever status the step expected.
    if (res.statusCode >= 400) conform(`${method} ${this.baseUrl}${path} → ${res.statusCode}`, ErrorBodySchema, json);
    return {
      status: res.statusCode,
      headers: flatHeaders(res.headers),
      text,
      json,
      ms: performance.now() - t0,
    };
  }

  /** Request expecting an SSE stream (POST with a body, or GET); events are read in the background. */
  async stream(
    path: string,
    body: unknown,
    o: CallOptions & { onEvent?: (e: SseEvent) => void } = {},
    /** The contract's schema of this route's events: each event that does not match is a violation. */
    events?: z.ZodTypeAny,
  ): Promise<StreamResponse> {
    const t0 = performance.now();
    const controller = new AbortController();
    const hasBody = body !== undefined || o.rawBody !== undefined;
    const res = await request(this.baseUrl + path, {
      method: hasBody ? 'POST' : 'GET',
      headers: { ...this.headers(o, hasBody), accept: 'text/event-stream' },
      body: o.rawBody ?? (hasBody ? JSON.stringify(body) : undefined),
      dispatcher: agent,
      headersTimeout: o.timeoutMs ?? 30_000,
      bodyTimeout: o.timeoutMs ?? 60_000,
      signal: controller.signal,
    }).catch((e: Error) => {
      throw new Error(`${this.baseUrl}${path} (stream) failed: ${e.message}`);
    });
    const headers = flatHeaders(res.headers);
    if (!String(headers['content-type'] ?? '').startsWith('text/event-stream')) {
      const text = await res.body.text();
      const error = { status: res.statusCode, headers, text, json: tryJson(text), ms: performance.now() - t0 };
      if (res.statusCode >= 400)
        conform(`${this.baseUrl}${path} (stream) → ${res.statusCode}`, ErrorBodySchema, error.json);
      return {
        status: res.statusCode,
        headers,
        error,
        result: Promise.resolve({ events: [], done: false, malformed: [], endMs: error.ms }),
        abort: () => {},
      };
    }
    const violations: string[] = [];
    let index = 0;
    const onEvent = (e: SseEvent) => {
      const at = index++;
      try {
        if (events) conform(`${this.baseUrl}${path} (event #${at})`, events, e.data);
      } catch (v) {
        if (!(v instanceof ContractViolation)) throw v;
        violations.push(v.message);
        witness(v); // read in the background: the scenario's end fails on it
      }
      o.onEvent?.(e);
    };
    return {
      status: res.statusCode,
      headers,
      result: readSse(res.body, t0, onEvent).then((r) => (violations.length ? { ...r, violations } : r)),
      abort: () => controller.abort(),
    };
  }

  private headers(o: CallOptions, hasBody: boolean): Record<string, string> {
    const h: Record<string, string> = { ...(o.headers ?? {}) };
    const bearer = o.bearer === undefined ? this.defaultBearer : o.bearer;
    if (bearer) h.authorization = `Bearer ${bearer}`;
    if (hasBody) h['content-type'] ??= 'application/json';
    return h;
  }
}

function flatHeaders(h: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

function tryJson(text: string): any {
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The answer to a request expected to be refused: its error, or — when the service started a stream
 * instead — the stream is closed and the answer says so (so an assertion on the error fails clearly).
 */
export function refusalOf(r: {
  status: number;
  headers: Record<string, string>;
  error?: HttpResponse;
  abort(): void;
}): HttpResponse {
  if (r.error) return r.error;
  r.abort();
  return {
    status: r.status,
    headers: r.headers,
    text: '(an event stream: the request was not refused)',
    json: undefined,
    ms: 0,
  };
}
