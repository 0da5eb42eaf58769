// Reading an SSE response the way a client would: events as they arrive, each with its arrival time,
// the `[DONE]` terminator, and whether the stream was cut off without it (silent truncation).

import { createParser, type EventSourceMessage } from 'eventsource-parser';

export interface SseEvent {
  /** Parsed JSON payload of the `data:` field, or undefined for `[DONE]` / non-JSON. */
  data: any;
  raw: string;
  /** ms since the request was sent. */
  atMs: number;
}

export interface SseResult {
  events: SseEvent[]; // JSON events, in order, without [DONE]
  done: boolean; // saw `data: [DONE]`
  /** Data after [DONE], or lines that were not JSON. */
  malformed: string[];
  /** Events that do not match the contract's schema of their route (lib/contract/sse.ts), each named. */
  violations?: string[];
  /** The transport ended with an error (reset, abort). */
  transportError?: string;
  /** ms from request to the first byte of the body, and to the end. */
  firstByteMs?: number;
  endMs: number;
}

/** Parse a whole SSE body chunk by chunk; `onEvent` sees each event as it arrives. */
export async function readSse(
  body: AsyncIterable<Uint8Array>,
  startedAt: number,
  onEvent?: (e: SseEvent) => void,
): Promise<SseResult> {
  const result: SseResult = { events: [], done: false, malformed: [], endMs: 0 };
  const parser = createParser({
    onEvent(msg: EventSourceMessage) {
      const atMs = performance.now() - startedAt;
      if (msg.data === '[DONE]') {
        if (result.done) result.malformed.push('[DONE] twice');
        result.done = true;
        return;
      }
      if (result.done) {
        result.malformed.push(`after [DONE]: ${msg.data}`);
        return;
      }
      let data: unknown;
      try {
        data = JSON.parse(msg.data);
      } catch {
        result.malformed.push(msg.data);
        return;
      }
      const ev = { data, raw: msg.data, atMs };
      result.events.push(ev);
      onEvent?.(ev);
    },
  });
  const decoder = new TextDecoder();
  try {
    for await (const chunk of body) {
      result.firstByteMs ??= performance.now() - startedAt;
      parser.feed(decoder.decode(chunk, { stream: true }));
    }
    parser.feed(decoder.decode());
  } catch (e) {
    result.transportError = (e as Error).message;
  }
  result.endMs = performance.now() - startedAt;
  return result;
}

/** Parse a complete SSE text (unit tests, logs). */
export async function parseSseText(text: string): Promise<SseResult> {
  async function* one() {
    yield new TextEncoder().encode(text);
  }
  return readSse(one(), performance.now());
}
