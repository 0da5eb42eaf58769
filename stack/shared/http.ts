// A very small HTTP service kit for the reference services: routing, the contract's cross-cutting rules
// (auth, correlation ids, JSON error bodies, body limit, request metrics) and an SSE writer.
// Each service builds on this so that the rules of contract §0 are implemented once.

import http from 'node:http';
import { randomUUID, timingSafeEqual } from 'node:crypto';
import client from 'prom-client';
import type { Logger } from './log.ts';

export const MAX_BODY_BYTES = 2 * 1024 * 1024;
const CORRELATION_RE = /^[A-Za-z0-9._:-]{1,128}$/;

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** 503 that may be retried: carries retry_after_ms in the body and Retry-After in the header. */
export function retryable(
  status: number,
  code: string,
  message: string,
  retryAfterMs: number,
  extra: Record<string, unknown> = {},
): HttpError {
  return new HttpError(
    status,
    code,
    message,
    { retryable: true, retry_after_ms: retryAfterMs, ...extra },
    { 'retry-after': String(Math.max(1, Math.ceil(retryAfterMs / 1000))) },
  );
}

export interface Identity {
  subject?: string;
  scope?: string;
}

export interface Ctx {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  method: string;
  path: string;
  query: URLSearchParams;
  params: Record<string, string>;
  correlationId: string;
  identity: Identity;
  log: Logger;
  /** Parsed JSON body (400 INVALID_JSON / 413 on failure). */
  json(): Promise<unknown>;
}

export type Handler = (ctx: Ctx) => Promise<unknown> | unknown;

interface Route {
  method: string;
  pattern: RegExp;
  keys: string[];
  template: string;
  handler: Handler;
  public: boolean;
}

export interface ServiceOptions {
  service: string; // e.g. "queen"
  metricPrefix: string; // e.g. "rbee_queen_"
  log: Logger;
  token?: string;
  /** Extra bearer verification (queen: JWTs). Return the identity or throw HttpError. */
  verifyBearer?: (bearer: string) => Promise<Identity>;
}

export class Service {
  readonly routes: Route[] = [];
  // prom-client keeps exemplars only in an OpenMetrics registry, so there is one registry and the classic
  // Prometheus text is derived from it (exemplars and the EOF marker removed).
  readonly registry = new client.Registry();
  readonly server: http.Server;
  private readonly requests: client.Counter<'route' | 'code'>;
  private readonly duration: client.Histogram<'route'>;
  private readonly sockets = new Set<import('node:net').Socket>();

  constructor(readonly opts: ServiceOptions) {
    this.registry.setContentType(client.Registry.OPENMETRICS_CONTENT_TYPE as never);
    this.requests = this.counter('requests_total', 'HTTP requests by route and status code', ['route', 'code']);
    this.duration = new client.Histogram({
      name: `${opts.metricPrefix}request_duration_seconds`,
      help: 'HTTP request duration (until the response ends)',
      labelNames: ['route'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      enableExemplars: true,
      registers: [this.registry],
    });
    if (!opts.token) opts.log.warn('auth disabled: LLORCH_API_TOKEN is not set', { event: 'auth.disabled' });
    this.server = http.createServer((req, res) => void this.dispatch(req, res));
    this.server.keepAliveTimeout = 5000;
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    this.route(
      'GET',
      '/metrics',
      async (ctx) => {
        const om = String(ctx.req.headers.accept ?? '').includes('application/openmetrics-text');
        const text = await this.registry.metrics();
        if (om) {
          ctx.res.writeHead(200, { 'content-type': this.registry.contentType });
          ctx.res.end(text);
        } else {
          ctx.res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
          ctx.res.end(toPrometheusText(text));
        }
        return undefined;
      },
      { public: true },
    );
  }

  counter<L extends string>(name: string, help: string, labelNames: L[] = []): client.Counter<L> {
    return new client.Counter({ name: this.opts.metricPrefix + name, help, labelNames, registers: [this.registry] });
  }

  gauge<L extends string>(
    name: string,
    help: string,
    labelNames: L[] = [],
    collect?: (this: client.Gauge<L>) => void,
  ): client.Gauge<L> {
    return new client.Gauge({
      name: this.opts.metricPrefix + name,
      help,
      labelNames,
      registers: [this.registry],
      ...(collect ? { collect } : {}),
    });
  }

  histogram<L extends string>(name: string, help: string, labelNames: L[], buckets: number[]): client.Histogram<L> {
    return new client.Histogram({
      name: this.opts.metricPrefix + name,
      help,
      labelNames,
      buckets,
      enableExemplars: true,
      registers: [this.registry],
    });
  }

  route(method: string, template: string, handler: Handler, o: { public?: boolean } = {}): void {
    const keys: string[] = [];
    const pattern = new RegExp('^' + template.replace(/\{(\w+)\}/g, (_, k: string) => (keys.push(k), '([^/]+)')) + '$');
    this.routes.push({ method, pattern, keys, template, handler, public: o.public ?? false });
  }

  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        const addr = this.server.address();
        resolve(typeof addr === 'object' && addr ? addr.port : port);
      });
    });
  }

  /** Stop accepting connections; idle keep-alive sockets are closed, active ones may finish. */
  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      // A connection busy now (e.g. the one carrying the answer to /v1/admin/shutdown) turns idle a moment
      // later and would then hold the server open until the client's keep-alive ran out: close idle ones
      // again until none is left.
      const sweep = setInterval(() => this.server.closeIdleConnections(), 25);
      this.server.close(() => {
        clearInterval(sweep);
        resolve();
      });
      this.server.closeIdleConnections();
    });
  }

  /** Destroy every open socket (used at the end of a grace period). */
  destroySockets(): void {
    for (const s of this.sockets) s.destroy();
  }

  private async dispatch(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    const url = new URL(req.url ?? '/', 'http://x');
    const rawCid = req.headers['x-correlation-id'];
    const correlationId = typeof rawCid === 'string' && CORRELATION_RE.test(rawCid) ? rawCid : randomUUID();
    res.setHeader('x-correlation-id', correlationId);
    let routeLabel = 'unmatched';
    const log = this.opts.log.child({ correlation_id: correlationId });
    res.on('finish', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      this.requests.inc({ route: routeLabel, code: String(res.statusCode) });
      this.duration.observe({
        labels: { route: routeLabel },
        value: seconds,
        exemplarLabels: exemplarLabels(correlationId) as never,
      });
    });
    try {
      const route = this.match(req.method ?? 'GET', url.pathname);
      if (!route) throw new HttpError(404, 'NOT_FOUND', `no route ${req.method} ${url.pathname}`);
      if ('methodNotAllowed' in route)
        throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${req.method} not allowed on ${url.pathname}`);
      routeLabel = route.route.template;
      const identity = route.route.public ? {} : await this.authenticate(req);
      let bodyPromise: Promise<unknown> | undefined;
      const ctx: Ctx = {
        req,
        res,
        log,
        correlationId,
        identity,
        method: req.method ?? 'GET',
        path: url.pathname,
        query: url.searchParams,
        params: route.params,
        json: () => (bodyPromise ??= readJson(req)),
      };
      const result = await route.route.handler(ctx);
      if (result !== undefined && !res.headersSent) sendJson(res, 200, result);
    } catch (err) {
      const e =
        err instanceof HttpError
          ? err
          : new HttpError(500, 'INTERNAL_ERROR', err instanceof Error ? err.message : String(err));
      if (e.status >= 500 && !(err instanceof HttpError))
        log.error('unhandled error', { err: String((err as Error)?.stack ?? err) });
      if (!res.headersSent) {
        sendJson(
          res,
          e.status,
          { error: { code: e.code, message: e.message, correlation_id: correlationId, ...e.extra } },
          e.headers,
        );
      } else if (!res.writableEnded) {
        res.end();
      }
    }
  }

  private match(
    method: string,
    path: string,
  ): { route: Route; params: Record<string, string> } | { methodNotAllowed: true } | undefined {
    let pathMatched = false;
    for (const route of this.routes) {
      const m = route.pattern.exec(path);
      if (!m) continue;
      pathMatched = true;
      if (route.method !== method) continue;
      const params: Record<string, string> = {};
      route.keys.forEach((k, i) => (params[k] = decodeURIComponent(m[i + 1] ?? '')));
      return { route, params };
    }
    return pathMatched ? { methodNotAllowed: true } : undefined;
  }

  private async authenticate(req: http.IncomingMessage): Promise<Identity> {
    const token = this.opts.token;
    const header = req.headers.authorization;
    const identityFromHeaders: Identity = {
      subject: str(req.headers['x-rbee-subject']),
      scope: str(req.headers['x-rbee-scope']),
    };
    if (!token) return identityFromHeaders;
    const challenge = { 'www-authenticate': 'Bearer' };
    const m = typeof header === 'string' ? /^Bearer ([^\s]+)$/.exec(header) : null;
    if (!m)
      throw new HttpError(401, 'MISSING_API_KEY', 'missing or malformed Authorization: Bearer header', {}, challenge);
    const bearer = m[1]!;
    if (safeEqual(bearer, token)) return identityFromHeaders;
    if (this.opts.verifyBearer && bearer.split('.').length === 3) {
      return this.opts.verifyBearer(bearer);
    }
    throw new HttpError(401, 'INVALID_API_KEY', 'invalid API token', {}, challenge);
  }
}

/**
 * Exemplar labels for a correlation id. OpenMetrics (and prom-client, which throws otherwise) caps an
 * exemplar's label names + values at 128 characters; longer ids (valid up to 128) get no exemplar.
 */
export function exemplarLabels(correlationId: string): { correlation_id?: string } {
  return 'correlation_id'.length + correlationId.length <= 128 ? { correlation_id: correlationId } : {};
}

/** OpenMetrics → classic Prometheus text: drop exemplars, `# UNIT` and `# EOF`; counter families get `_total`. */
export function toPrometheusText(om: string): string {
  const out: string[] = [];
  const lines = om.split('\n');
  // Collected first: OpenMetrics puts `# HELP` before `# TYPE`, and both must get the `_total` name.
  const counters = new Set<string>();
  for (const line of lines) {
    const t = /^# TYPE (\S+) counter$/.exec(line);
    if (t) counters.add(t[1]!);
  }
  for (const line of lines) {
    if (line === '# EOF' || line.startsWith('# UNIT')) continue;
    const meta = /^# (TYPE|HELP) (\S+)(.*)$/.exec(line);
    if (meta && counters.has(meta[2]!) && !meta[2]!.endsWith('_total')) {
      out.push(`# ${meta[1]} ${meta[2]}_total${meta[3]}`);
      continue;
    }
    out.push(line.replace(/ # \{.*$/, ''));
  }
  return out.join('\n');
}

function str(v: string | string[] | undefined): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

export function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  // Compare equal-length buffers so the time does not depend on where they differ.
  const len = Math.max(ab.length, bb.length);
  const pa = Buffer.alloc(len);
  const pb = Buffer.alloc(len);
  ab.copy(pa);
  bb.copy(pb);
  return timingSafeEqual(pa, pb) && ab.length === bb.length;
}

export function sendJson(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, 'PAYLOAD_TOO_LARGE', `body exceeds ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, 'INVALID_JSON', `malformed JSON body: ${(e as Error).message}`);
  }
}

/** An SSE response: `data:`-only JSON events, ending with `data: [DONE]`. */
export class SseWriter {
  private ended = false;
  closedByClient = false;
  constructor(
    private readonly res: http.ServerResponse,
    headers: Record<string, string> = {},
  ) {
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      ...headers,
    });
    res.flushHeaders();
    res.on('close', () => {
      if (!this.ended) this.closedByClient = true;
    });
  }
  get open(): boolean {
    return !this.ended && !this.closedByClient;
  }
  send(event: unknown): void {
    if (!this.open) return;
    this.res.write(`data: ${JSON.stringify(event)}\n\n`);
  }
  /** Write a raw, already-framed chunk (used by the queen's relay). */
  raw(chunk: string | Buffer): void {
    if (!this.open) return;
    this.res.write(chunk);
  }
  done(): void {
    if (this.ended) return;
    if (!this.closedByClient) this.res.write('data: [DONE]\n\n');
    this.ended = true;
    this.res.end();
  }
  onClose(fn: () => void): void {
    this.res.on('close', fn);
  }
}
