// Deterministic "generation": token i is a word picked by a sha256 hash chain seeded with (seed, prompt).
// Same prompt and seed → same tokens on every worker and every run, so tests can compare outputs across
// workers, retries and restarts.

import { createHash } from 'node:crypto';

// Fixed vocabulary: changing it changes every expected output, so it is append-only.
export const WORDS: readonly string[] = [
  'the',
  'a',
  'bee',
  'hive',
  'queen',
  'worker',
  'honey',
  'flower',
  'garden',
  'sun',
  'light',
  'model',
  'token',
  'stream',
  'river',
  'stone',
  'cloud',
  'rain',
  'wind',
  'tree',
  'leaf',
  'root',
  'seed',
  'field',
  'path',
  'road',
  'city',
  'house',
  'door',
  'window',
  'book',
  'word',
  'line',
  'page',
  'story',
  'song',
  'voice',
  'sound',
  'quiet',
  'bright',
  'dark',
  'warm',
  'cold',
  'swift',
  'slow',
  'gentle',
  'busy',
  'small',
  'large',
  'green',
  'blue',
  'golden',
  'and',
  'of',
  'to',
  'in',
  'with',
  'over',
  'under',
  'near',
  'flies',
  'builds',
  'sings',
  'waits',
  'turns',
  'runs',
  'grows',
  'finds',
  'keeps',
  'makes',
];

/** Infinite deterministic token sequence for (prompt, seed); each token is `" word"`. */
export function* tokenStream(prompt: string, seed: number): Generator<string, never> {
  let state = createHash('sha256').update(`rbee-mock:${seed}\0${prompt}`).digest();
  for (;;) {
    state = createHash('sha256').update(state).digest();
    yield ' ' + WORDS[state.readUInt32BE(0) % WORDS.length]!;
  }
}

/** The first `n` tokens for (prompt, seed). */
export function generateTokens(prompt: string, seed: number, n: number): string[] {
  const out: string[] = [];
  const it = tokenStream(prompt, seed);
  for (let i = 0; i < n; i++) out.push(it.next().value);
  return out;
}

/** The stop sequence the generated text now ends with, if any (the stream then ends with STOP_SEQUENCE). */
export function matchedStop(text: string, stop: readonly string[]): string | undefined {
  return stop.find((s) => s.length > 0 && text.endsWith(s));
}
