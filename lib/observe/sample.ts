// Sampling a probe at a steady pace in the background while a workload runs (a worker's memory, how long
// /health takes to answer), so a scenario can judge the series afterwards. This is observation over time,
// not a wait for a state: the loop is bounded by its own maximum duration and by stop().

import { delay } from './eventually.ts';

export interface ProbeSample<T> {
  /** Epoch ms when the probe was called. */
  at: number;
  /** How long the probe took (ms). */
  ms: number;
  value?: T;
  /** The probe threw (or did not answer within its bound): what it said. */
  error?: string;
}

export interface Sampler<T> {
  /** Filled in while the sampler runs. */
  readonly samples: ProbeSample<T>[];
  /** Stop sampling; resolves with every sample once the probe in flight (if any) has answered. */
  stop(): Promise<ProbeSample<T>[]>;
}

export interface SamplerOptions {
  /** One probe every this many ms (start to start; a slow probe delays the next, never overlaps it). */
  everyMs: number;
  /** The loop ends by itself after this long, stopped or not. */
  maxMs: number;
  /** Bound on one probe (default: everyMs × 10); longer counts as an error sample. */
  probeTimeoutMs?: number;
}

/** Start calling `probe` every `everyMs` until stop() or `maxMs`. */
export function startSampling<T>(probe: () => Promise<T>, o: SamplerOptions): Sampler<T> {
  if (!(o.everyMs > 0)) throw new Error(`sampler: everyMs must be positive, got ${o.everyMs}`);
  const samples: ProbeSample<T>[] = [];
  let stopped = false;
  let wake = () => {};
  const bound = o.probeTimeoutMs ?? o.everyMs * 10;
  const loop = (async () => {
    const end = Date.now() + o.maxMs;
    while (!stopped && Date.now() < end) {
      const at = Date.now();
      const t0 = performance.now();
      let timer: NodeJS.Timeout | undefined;
      try {
        const value = await Promise.race([
          probe(),
          new Promise<never>(
            (_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${bound} ms`)), bound)),
          ),
        ]);
        samples.push({ at, ms: performance.now() - t0, value });
      } catch (e) {
        samples.push({ at, ms: performance.now() - t0, error: (e as Error).message });
      } finally {
        clearTimeout(timer);
      }
      const left = o.everyMs - (performance.now() - t0);
      if (left > 0 && !stopped) await Promise.race([delay(left), new Promise<void>((r) => (wake = r))]);
    }
  })();
  return {
    samples,
    stop: async () => {
      stopped = true;
      wake();
      await loop;
      return samples;
    },
  };
}

/** The samples that have a value, as {at, value}. */
export function valuesOf<T>(samples: readonly ProbeSample<T>[]): Array<{ at: number; value: T }> {
  return samples.filter((s) => s.error === undefined).map((s) => ({ at: s.at, value: s.value as T }));
}

/** The failed samples, one line each ("+1.2 s: message"), at most `max` of them. */
export function sampleErrors(samples: readonly ProbeSample<unknown>[], max = 10): string[] {
  const t0 = samples[0]?.at ?? 0;
  const bad = samples.filter((s) => s.error !== undefined);
  const lines = bad.slice(0, max).map((s) => `+${((s.at - t0) / 1000).toFixed(1)} s: ${s.error}`);
  if (bad.length > max) lines.push(`… ${bad.length - max} more`);
  return lines;
}
