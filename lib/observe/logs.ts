// Reading the services' JSON log lines: tails for error messages, the lines a scenario produced
// (from a byte offset taken when it started), lookups by event or correlation id, and one ordered
// timeline across services.

import fs from 'node:fs';

export interface LogLine {
  ts: string;
  level: string;
  service: string;
  msg: string;
  event?: string;
  correlation_id?: string;
  job_id?: string;
  worker_id?: string;
  [k: string]: unknown;
}

/** The last `n` lines of a file squashed into one line (error messages stay one line). */
export function logTail(file: string, n = 8, maxBytes = 16_384): string {
  const size = fileSize(file);
  const text = readFrom(file, Math.max(0, size - maxBytes)).trimEnd();
  if (!text) return size || fs.existsSync(file) ? '(log is empty)' : '(no log)';
  return text.split('\n').slice(-n).join(' ⏎ ');
}

export function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

/** Raw text of a file from a byte offset (the part of a log written during a scenario). */
export function readFrom(file: string, offset: number): string {
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const buf = Buffer.alloc(Math.max(0, size - offset));
      fs.readSync(fd, buf, 0, buf.length, offset);
      return buf.toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return '';
  }
}

/** Parsed JSON lines of a log (from an offset); lines that are not JSON are skipped. */
export function readLogLines(file: string, offset = 0): LogLine[] {
  const out: LogLine[] = [];
  for (const line of readFrom(file, offset).split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as LogLine);
    } catch {
      /* a partial last line */
    }
  }
  return out;
}

/** One ordered timeline of many services' lines (stable by timestamp). */
export function mergeTimeline(lines: LogLine[]): LogLine[] {
  return [...lines].sort((a, b) => a.ts.localeCompare(b.ts));
}

export function formatTimeline(lines: LogLine[]): string {
  return lines
    .map(
      (l) =>
        `${l.ts} ${l.service.padEnd(7)} ${(l.event ?? '').padEnd(22)} ${l.msg}${l.worker_id ? ` worker=${l.worker_id}` : ''}${l.job_id ? ` job=${l.job_id}` : ''}`,
    )
    .join('\n');
}
