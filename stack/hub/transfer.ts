// Writing a file body to a download client: in chunks, paced to a bandwidth limit, respecting the
// socket's backpressure, and able to cut the connection after N bytes (the "fail mid-transfer" fault).

import type http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

export interface TransferOptions {
  /** Bytes per second for this response; 0 = as fast as the socket takes them. */
  bandwidthBps: number;
  /** Destroy the socket once this many body bytes were written (fault injection). */
  failAfterBytes?: number;
  /** Called with the size of every chunk handed to the socket (for /_stats). */
  onBytes?: (n: number) => void;
}

export type TransferOutcome = 'complete' | 'cut' | 'client_gone';

const MAX_CHUNK = 64 * 1024;

/** About 20 writes a second at low rates so progress is smooth; 64 KiB chunks otherwise. */
export function chunkSize(bandwidthBps: number): number {
  if (bandwidthBps <= 0) return MAX_CHUNK;
  return Math.max(1, Math.min(MAX_CHUNK, Math.floor(bandwidthBps / 20)));
}

/** Flip one byte every 64 KiB after the header, so the sha256 mismatches but the header still parses. */
export function corruptCopy(buf: Buffer, headerBytes = 4096): Buffer {
  const out = Buffer.from(buf);
  const first = Math.min(headerBytes, out.length - 1);
  for (let i = first; i < out.length; i += 64 * 1024) out[i] = out[i]! ^ 0xff;
  return out;
}

/** Write `body` (headers already set, not yet sent) and end the response. */
export async function sendBody(res: http.ServerResponse, body: Buffer, o: TransferOptions): Promise<TransferOutcome> {
  let gone = false;
  res.once('close', () => (gone = true));
  const limit = o.failAfterBytes === undefined ? body.length : Math.min(o.failAfterBytes, body.length);
  const step = chunkSize(o.bandwidthBps);
  const t0 = performance.now();
  let sent = 0;
  res.flushHeaders();
  while (sent < limit) {
    if (gone) return 'client_gone';
    const n = Math.min(step, limit - sent);
    if (o.bandwidthBps > 0) {
      // Pace by absolute schedule (not per-chunk sleeps) so timer lateness does not accumulate:
      // the chunk ending at byte `sent + n` goes out at t0 + (sent + n) / rate.
      const due = t0 + ((sent + n) * 1000) / o.bandwidthBps;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      if (gone) return 'client_gone';
    }
    const chunk = body.subarray(sent, sent + n);
    sent += n;
    o.onBytes?.(n);
    if (sent === limit && limit < body.length) {
      // Last bytes before the cut: wait until they are handed to the kernel so the client gets them.
      await new Promise<void>((resolve) => res.write(chunk, () => resolve()));
    } else if (!res.write(chunk)) {
      await untilEvent(res, 'drain');
    }
  }
  if (gone) return 'client_gone';
  if (limit < body.length) {
    res.socket?.destroy();
    return 'cut';
  }
  res.end();
  await untilEvent(res, 'finish');
  return res.writableFinished ? 'complete' : 'client_gone';
}

/** Resolves on `event` or when the response closes, whichever comes first. */
function untilEvent(res: http.ServerResponse, event: 'drain' | 'finish'): Promise<void> {
  return new Promise((resolve) => {
    if (res.destroyed || (event === 'finish' && res.writableFinished)) return resolve();
    const done = () => {
      res.off(event, done);
      res.off('close', done);
      resolve();
    };
    res.on(event, done);
    res.on('close', done);
  });
}
