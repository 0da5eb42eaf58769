// Helpers for the worker/hub/shared-kit tests (test/stack/{worker,hub,shared}.test.ts): a recording
// logger, an SSE body parser, child processes that announce their port with the `service.listening` log
// line, and a fake hive for worker callbacks. (test/stack/helpers.ts belongs to the hive/queen tests.)

import http from 'node:http';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import assert from 'node:assert/strict';
import { HttpError } from '../../stack/shared/http.ts';
import type { Logger, LogFields } from '../../stack/shared/log.ts';

export interface CapturedLog {
  level: string;
  msg: string;
  fields: LogFields;
}

/** A logger that records instead of printing (tests assert on events, output stays clean). */
export function memoryLogger(sink: CapturedLog[] = [], base: LogFields = {}): Logger & { records: CapturedLog[] } {
  const rec =
    (level: string) =>
    (msg: string, fields: LogFields = {}) =>
      void sink.push({ level, msg, fields: { ...base, ...fields } });
  return {
    records: sink,
    info: rec('info'),
    warn: rec('warn'),
    error: rec('error'),
    debug: rec('debug'),
    child: (f) => memoryLogger(sink, { ...base, ...f }),
  };
}

/** Parse `data:`-only SSE text into JSON events; `[DONE]` is returned as the string '[DONE]'. */
export function parseSse(text: string): unknown[] {
  return text
    .split('\n\n')
    .map((block) =>
      block
        .split('\n')
        .filter((l) => l.startsWith('data:'))
        .map((l) => l.slice(5).trimStart())
        .join('\n'),
    )
    .filter((d) => d !== '')
    .map((d) => (d === '[DONE]' ? '[DONE]' : JSON.parse(d)));
}

export interface Child {
  proc: ChildProcess;
  /** Every stdout line parsed as JSON (non-JSON lines are kept as {raw}). */
  lines: Array<Record<string, unknown>>;
  stderr: () => string;
  /** Resolves with the first log line matching `pred` (already seen or future). */
  waitFor(pred: (l: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Start `node --import tsx <entry> …args` from the project root. */
export function startTs(entry: string, args: string[], env: Record<string, string>): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', entry, ...args], {
    cwd: new URL('../../', import.meta.url).pathname,
    env: { ...process.env, RBEE_LOG_FORMAT: 'json', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Array<Record<string, unknown>> = [];
  const waiters: Array<{
    pred: (l: Record<string, unknown>) => boolean;
    resolve: (l: Record<string, unknown>) => void;
  }> = [];
  let err = '';
  let buf = '';
  proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const raw = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let line: Record<string, unknown>;
      try {
        line = JSON.parse(raw);
      } catch {
        line = { raw };
      }
      lines.push(line);
      for (const w of [...waiters]) {
        if (w.pred(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  });
  proc.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
  const exit = once(proc, 'exit').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));
  return {
    proc,
    lines,
    stderr: () => err,
    exit,
    waitFor(pred, timeoutMs = 15_000) {
      const seen = lines.find(pred);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const t = setTimeout(
          () =>
            reject(
              new Error(`timed out waiting for a log line; stderr: ${err}; stdout: ${JSON.stringify(lines.slice(-5))}`),
            ),
          timeoutMs,
        );
        waiters.push({ pred, resolve: (l) => (clearTimeout(t), resolve(l)) });
        void exit.then(() =>
          setTimeout(
            () => (clearTimeout(t), reject(new Error(`process exited before the log line; stderr: ${err}`))),
            50,
          ),
        );
      });
    },
  };
}

export interface FakeHive {
  url: string;
  requests: Array<{ method: string; path: string; auth?: string; body: any; at: number }>;
  /** Status the ready route answers with (default 200). */
  readyStatus: number;
  close(): Promise<void>;
}

/** A stand-in hive: records ready callbacks and heartbeats, answers with `readyStatus` / 200. */
export async function startFakeHive(): Promise<FakeHive> {
  const hive: FakeHive = { url: '', requests: [], readyStatus: 200, close: async () => {} };
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      let parsed: unknown;
      try {
        parsed = body ? JSON.parse(body) : undefined;
      } catch {
        parsed = body;
      }
      hive.requests.push({
        method: req.method ?? '',
        path: req.url ?? '',
        auth: req.headers.authorization,
        body: parsed,
        at: Date.now(),
      });
      const status = req.url === '/v1/workers/ready' ? hive.readyStatus : 200;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(status < 300 ? '{}' : JSON.stringify({ error: { code: 'REJECTED', message: 'test says no' } }));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const addr = server.address() as import('node:net').AddressInfo;
  hive.url = `http://127.0.0.1:${addr.port}`;
  hive.close = () =>
    new Promise((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return hive;
}

export async function until(
  pred: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The HttpError a validation call throws (fails the test when it does not throw one). */
export function thrownHttpError(fn: () => unknown): HttpError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof HttpError, `expected HttpError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected a throw');
}
