// Helpers shared by the hive and queen unit tests: a logger that records instead of printing, a tiny
// model hub, and small HTTP/SSE clients.

import http from 'node:http';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Logger, LogFields } from '../../stack/shared/log.ts';

export type LogRecord = LogFields & { level: string; msg: string };

export function captureLog(records: LogRecord[] = []): { log: Logger; records: LogRecord[] } {
  const make = (base: LogFields): Logger => {
    const write =
      (level: string) =>
      (msg: string, f: LogFields = {}) =>
        void records.push({ level, msg, ...base, ...f });
    return {
      info: write('info'),
      warn: write('warn'),
      error: write('error'),
      debug: write('debug'),
      child: (f) => make({ ...base, ...f }),
    };
  };
  return { log: make({}), records };
}

export interface TestModel {
  model_ref: string;
  aliases: string[];
  file: string;
  bytes: Buffer;
  /** What the hub claims; defaults to the real sha256 of `bytes`. */
  sha256?: string;
}

export interface TinyHub {
  url: string;
  gets: Map<string, number>;
  close(): Promise<void>;
}

/** A model hub serving `models`, each file in small chunks with a pause between them (so progress shows). */
export async function startTinyHub(
  models: TestModel[],
  o: { chunk?: number; pauseMs?: number } = {},
): Promise<TinyHub> {
  const gets = new Map<string, number>();
  const chunk = o.chunk ?? 16 * 1024;
  const server = http.createServer(async (req, res) => {
    const url = req.url ?? '/';
    if (url === '/api/models') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          models: models.map((m) => ({
            model_ref: m.model_ref,
            aliases: m.aliases,
            file: m.file,
            size_bytes: m.bytes.length,
            sha256: m.sha256 ?? createHash('sha256').update(m.bytes).digest('hex'),
            vram_bytes: 1024,
            layers: 4,
          })),
        }),
      );
      return;
    }
    const m = models.find((x) => url === `/${x.model_ref.slice(x.model_ref.indexOf(':') + 1)}/resolve/main/${x.file}`);
    if (!m) {
      res.writeHead(404).end();
      return;
    }
    gets.set(m.file, (gets.get(m.file) ?? 0) + 1);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': m.bytes.length });
    for (let off = 0; off < m.bytes.length; off += chunk) {
      res.write(m.bytes.subarray(off, off + chunk));
      await new Promise((r) => setTimeout(r, o.pauseMs ?? 5));
    }
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    gets,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export interface Res {
  status: number;
  headers: Headers;
  body: any;
}

export async function req(
  method: string,
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Res> {
  const r = await fetch(url, {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await r.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* keep text */
  }
  return { status: r.status, headers: r.headers, body: parsed };
}

/** Read a whole SSE response: the JSON events, and whether `[DONE]` ended it. */
export async function sse(
  method: string,
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; events: any[]; done: boolean; headers: Headers; raw: string }> {
  const r = await fetch(url, {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const raw = await r.text();
  const events: any[] = [];
  let done = false;
  for (const block of raw.split(/\n\n/)) {
    const data = block
      .split('\n')
      .filter((l) => l.startsWith('data:'))
      .map((l) => l.slice(5).trim())
      .join('\n');
    if (!data) continue;
    if (data === '[DONE]') done = true;
    else events.push(JSON.parse(data));
  }
  return { status: r.status, events, done, headers: r.headers, raw };
}

export async function eventually<T>(
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  within = 5000,
  what = 'condition',
): Promise<T> {
  const until = Date.now() + within;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v as T;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > until) throw new Error(`${what} not reached within ${within} ms (last: ${String(last)})`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export interface ServiceProcess {
  proc: import('node:child_process').ChildProcess;
  port: number;
  lines: Record<string, any>[];
  exited: Promise<{ code: number | null; signal: string | null }>;
}

/** Start a stack service (`stack/<name>/main.ts`) as a child process; resolves once it logged its port. */
export async function startService(
  entry: string,
  env: Record<string, string>,
  timeoutMs = 20_000,
): Promise<ServiceProcess> {
  const { spawn } = await import('node:child_process');
  const root = new URL('../../', import.meta.url).pathname;
  const proc = spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd: root,
    env: { ...process.env, RBEE_LOG_FORMAT: 'json', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Record<string, any>[] = [];
  let stderr = '';
  const exited = new Promise<{ code: number | null; signal: string | null }>((r) =>
    proc.once('exit', (code, signal) => r({ code, signal })),
  );
  let buf = '';
  let onLine: (l: Record<string, any>) => void = () => {};
  proc.stdout!.setEncoding('utf8').on('data', (c: string) => {
    buf += c;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const raw = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        const l = JSON.parse(raw);
        lines.push(l);
        onLine(l);
      } catch {
        lines.push({ raw });
      }
    }
  });
  proc.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const port = await new Promise<number>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${entry} did not start: ${stderr}`)), timeoutMs);
    // The service's own line, not one of its children's (a hive relays its workers' lines).
    onLine = (l) => {
      if (l.event === 'service.listening' && l.service !== 'worker') {
        clearTimeout(t);
        resolve(l.port);
      }
    };
    void exited.then(() => reject(new Error(`${entry} exited during start: ${stderr}`)));
  });
  return { proc, port, lines, exited };
}
