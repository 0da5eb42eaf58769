// Checkers for inference streams (in the Jepsen sense: they read a finished observation and list
// every way it breaks the contract). An empty list means the stream is well-formed.

import type { SseResult } from '../clients/sse.ts';

export interface JobStreamShape {
  narration: any[];
  started?: any;
  tokens: any[];
  end?: any;
  error?: any;
}

/** Split a stream's events by type, in arrival order. */
export function shapeOf(result: SseResult): JobStreamShape {
  const events = result.events.map((e) => e.data);
  return {
    narration: events.filter((e) => e?.type === 'narration'),
    started: events.find((e) => e?.type === 'started'),
    tokens: events.filter((e) => e?.type === 'token'),
    end: events.find((e) => e?.type === 'end'),
    error: events.find((e) => e?.type === 'error'),
  };
}

/**
 * A completed job stream: narration(s) → started → tokens i = 0,1,2… → end (tokens_out = count,
 * and = expected when given, unless EOS/STOP_SEQUENCE ended it early) → [DONE], nothing malformed.
 */
export function checkCompletedStream(result: SseResult, expectedTokens?: number): string[] {
  const problems: string[] = [];
  const types = result.events.map((e) => e.data?.type ?? '?');
  if (result.transportError) problems.push(`the stream broke: ${result.transportError}`);
  if (result.malformed.length) problems.push(`malformed or late events: ${result.malformed.slice(0, 3).join(' | ')}`);
  problems.push(...(result.violations ?? []).slice(0, 3));
  if (!result.done)
    problems.push(`the stream ended without [DONE] (silently truncated); event types were: ${summarizeTypes(types)}`);
  const firstNonNarration = types.findIndex((t) => t !== 'narration');
  if (firstNonNarration <= 0) problems.push(`the stream does not open with narration events: ${summarizeTypes(types)}`);
  const expectedOrder = ['started', ...Array(types.filter((t) => t === 'token').length).fill('token'), 'end'];
  const rest = types.slice(Math.max(firstNonNarration, 0));
  if (rest.join(',') !== expectedOrder.join(','))
    problems.push(`events out of order: expected narration…, started, token×N, end but got ${summarizeTypes(types)}`);
  const s = shapeOf(result);
  if (s.error) problems.push(`the stream carries an error event: ${JSON.stringify(s.error)}`);
  s.tokens.forEach((t, idx) => {
    if (t.i !== idx) problems.push(`token #${idx} has index i=${t.i} (tokens out of order or missing)`);
    if (typeof t.t !== 'string') problems.push(`token #${idx} has no text`);
  });
  if (s.end) {
    if (s.end.tokens_out !== s.tokens.length)
      problems.push(`end.tokens_out=${s.end.tokens_out} but ${s.tokens.length} token events arrived`);
    const early = s.end.stop_reason === 'EOS' || s.end.stop_reason === 'STOP_SEQUENCE';
    if (expectedTokens !== undefined && !early && s.tokens.length !== expectedTokens) {
      problems.push(`expected ${expectedTokens} tokens (stop_reason ${s.end.stop_reason}) but got ${s.tokens.length}`);
    }
    if (expectedTokens !== undefined && !early && s.end.stop_reason !== 'MAX_TOKENS')
      problems.push(`stop_reason is ${s.end.stop_reason}, expected MAX_TOKENS`);
    // An early stop is one only if it came before the limit: EOS or a stop string with the full count is a
    // worker that ran to max_tokens and named the wrong reason.
    if (expectedTokens !== undefined && early && s.tokens.length >= expectedTokens)
      problems.push(
        `stop_reason ${s.end.stop_reason} but ${s.tokens.length} tokens arrived (the limit was ${expectedTokens}): that is MAX_TOKENS`,
      );
  }
  if (
    s.started &&
    s.tokens.length &&
    result.events.indexOf(result.events.find((e) => e.data === s.started)!) >
      result.events.findIndex((e) => e.data?.type === 'token')
  ) {
    problems.push('tokens arrived before the started event');
  }
  return [...new Set(problems)];
}

/** A stream cut by a failure: it must end with a retryable error event and [DONE], never silently. */
export function checkFailedStream(result: SseResult, expectCodes: string[] = []): string[] {
  const problems: string[] = [];
  const s = shapeOf(result);
  if (!s.error) {
    problems.push(
      `expected an error event, but the stream had ${summarizeTypes(result.events.map((e) => e.data?.type))}${result.done ? ' and [DONE]' : ' and no [DONE] (silently truncated)'}`,
    );
    return problems;
  }
  problems.push(...(result.violations ?? []).slice(0, 3));
  if (s.error.retryable !== true) problems.push(`the error event is not retryable: ${JSON.stringify(s.error)}`);
  if (expectCodes.length && !expectCodes.includes(s.error.code))
    problems.push(`error code ${s.error.code}, expected one of ${expectCodes.join(', ')}`);
  if (!result.done) problems.push('the error event was not followed by [DONE]');
  const last = result.events.at(-1)?.data;
  if (last !== s.error) problems.push(`events after the error event: ${JSON.stringify(last)}`);
  return problems;
}

export function summarizeTypes(types: string[]): string {
  const out: string[] = [];
  for (const t of types) {
    const prev = out.at(-1);
    const m = prev ? /^(.*)×(\d+)$/.exec(prev) : null;
    if (m && m[1] === t) out[out.length - 1] = `${t}×${Number(m[2]) + 1}`;
    else if (prev === t) out[out.length - 1] = `${t}×2`;
    else out.push(t);
  }
  return out.join(', ') || '(no events)';
}

/**
 * A download progress stream: started → downloading (fraction strictly increasing in (0,1]) →
 * complete (or error) → [DONE]; every event for one download.
 */
export function checkProgressStream(result: SseResult, terminal: 'complete' | 'error' = 'complete'): string[] {
  const problems: string[] = [];
  const ev = result.events.map((e) => e.data);
  const stages = ev.map((e) => e?.stage);
  problems.push(...(result.violations ?? []).slice(0, 3));
  if (stages[0] !== 'started') problems.push(`first stage is ${stages[0]}, expected started`);
  if (stages.at(-1) !== terminal) {
    const last = ev.at(-1);
    const why = last?.stage === 'error' ? ` (${[last.code, last.message].filter(Boolean).join(': ')})` : '';
    problems.push(`last stage is ${stages.at(-1)}${why}, expected ${terminal}`);
  }
  const middle = stages.slice(1, -1);
  if (terminal === 'complete' && (middle.length === 0 || middle.some((s) => s !== 'downloading'))) {
    problems.push(
      `between started and complete expected one or more downloading events, got: ${summarizeTypes(middle)}`,
    );
  }
  let prev = 0;
  for (const e of ev.filter((x) => x?.stage === 'downloading')) {
    const f = e.fraction;
    if (typeof f !== 'number' || !(f > 0 && f <= 1)) problems.push(`fraction ${f} is outside (0,1]`);
    else if (f <= prev) problems.push(`fraction went from ${prev} to ${f} (must strictly increase)`);
    if (typeof f === 'number') prev = f;
  }
  if (!result.done) problems.push('the progress stream did not end with [DONE]');
  return problems;
}

/**
 * The words a step names for how a stream ends ("end", then "[DONE]"), checked rather than decorative:
 * `last` is the type of the last JSON event, `terminator` the line after it ("[DONE]" is the only one the
 * contract has).
 */
export function streamEndingProblems(
  result: { events: Array<{ data?: { type?: string } }>; done: boolean },
  last: string | undefined,
  terminator: string,
): string[] {
  const problems: string[] = [];
  const lastType = result.events.at(-1)?.data?.type;
  if (last !== undefined && lastType !== last) problems.push(`the last event is "${lastType}", not "${last}"`);
  if (terminator !== '[DONE]') problems.push(`"${terminator}" is not a terminator the contract knows (only "[DONE]")`);
  else if (!result.done) problems.push('no [DONE] after the last event');
  return problems;
}
