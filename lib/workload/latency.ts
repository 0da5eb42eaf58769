// Latency distributions of a workload as HDR histograms (hdr-histogram-js, pure-JS build): admission
// (time to first byte), time to first token and total time per job. HDR keeps every percentile within
// 0.1% however many jobs ran, so a ten-minute nightly run and a ten-second PR run summarise alike, and
// the compressed form can be kept across runs for trends.

import { build, decodeFromCompressedBase64, encodeIntoCompressedBase64, type Histogram } from 'hdr-histogram-js';
import type { History, HistoryEntry } from './history.ts';

/** A distribution in milliseconds (values are kept in microseconds inside). */
export interface LatencySummary {
  count: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

const US_PER_MS = 1000;
const r3 = (v: number) => Math.round(v * 1000) / 1000;

export class LatencyHistogram {
  private readonly h: Histogram;

  constructor(
    readonly name: string,
    encoded?: string,
  ) {
    // Pure JS (no WebAssembly), 3 significant digits, resizing as values grow.
    this.h = encoded
      ? decodeFromCompressedBase64(encoded, 32, false)
      : build({ bitBucketSize: 32, numberOfSignificantValueDigits: 3, useWebAssembly: false });
  }

  /** Record one duration in ms (negative or non-finite values are ignored). */
  record(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    this.h.recordValue(Math.max(1, Math.round(ms * US_PER_MS)));
  }

  get count(): number {
    return this.h.totalCount;
  }

  /** Value at a percentile (0–100), in ms; NaN when empty. */
  percentile(p: number): number {
    return this.count ? r3(this.h.getValueAtPercentile(p) / US_PER_MS) : NaN;
  }

  summary(): LatencySummary {
    if (!this.count) return { count: 0, mean: NaN, p50: NaN, p90: NaN, p99: NaN, max: NaN };
    return {
      count: this.count,
      mean: r3(this.h.mean / US_PER_MS),
      p50: this.percentile(50),
      p90: this.percentile(90),
      p99: this.percentile(99),
      max: r3(this.h.maxValue / US_PER_MS),
    };
  }

  /** Compressed base64 (HdrHistogram's own format) for keeping across runs. */
  encode(): string {
    return encodeIntoCompressedBase64(this.h);
  }
}

export interface WorkloadLatencies {
  admission: LatencyHistogram;
  firstToken: LatencyHistogram;
  total: LatencyHistogram;
}

/**
 * The three histograms of a history. Admission counts every job the queen answered (refusals included:
 * their answer is the admission); first token and total count only jobs whose stream reached a terminal
 * event (`end` or `error`) — a refusal's total is its admission, a cut stream has no honest total.
 */
export function latenciesOf(history: History | readonly HistoryEntry[]): WorkloadLatencies {
  const entries = Array.isArray(history) ? history : (history as History).entries;
  const out: WorkloadLatencies = {
    admission: new LatencyHistogram('admission (time to first byte)'),
    firstToken: new LatencyHistogram('time to first token'),
    total: new LatencyHistogram('total job time'),
  };
  for (const e of entries as readonly HistoryEntry[]) {
    if (e.admission && e.admission.status !== 0 && e.durations.admissionMs !== undefined)
      out.admission.record(e.durations.admissionMs);
    if (e.outcome !== 'end' && e.outcome !== 'error') continue;
    if (e.durations.firstTokenMs !== undefined) out.firstToken.record(e.durations.firstTokenMs);
    if (e.durations.totalMs !== undefined) out.total.record(e.durations.totalMs);
  }
  return out;
}

const fmt = (v: number) => (Number.isNaN(v) ? '–' : `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ms`);

/** "name: n=…, mean …, p50 …, p90 …, p99 …, max …" */
export function formatLatency(name: string, s: LatencySummary): string {
  if (!s.count) return `${name}: no samples`;
  return `${name}: n=${s.count}, mean ${fmt(s.mean)}, p50 ${fmt(s.p50)}, p90 ${fmt(s.p90)}, p99 ${fmt(s.p99)}, max ${fmt(s.max)}`;
}

/** All three summaries, one line each. */
export function formatLatencies(l: WorkloadLatencies): string {
  return [l.admission, l.firstToken, l.total].map((h) => formatLatency(h.name, h.summary())).join('\n');
}
