// The recorded history of a workload: one entry per job, written as the job progresses (submitted,
// answered, dispatched, each event, terminated). Checkers (lib/checks/history.ts) read it after the run,
// pictures are drawn from it, and it is saved as JSON next to the fault schedule, so an anomaly can be
// looked at job by job. Only what a client observed goes here; the services' own evidence comes apart.

import type { Job } from '../clients/job.ts';
import type { HttpResponse } from '../clients/http.ts';
import type { SseResult } from '../clients/sse.ts';

/**
 * How a job ended, as the client saw it:
 * - `end`: the stream carried an `end` event;
 * - `error`: the stream carried an `error` event (code + retryable);
 * - `cut`: the stream closed with neither (a silent truncation);
 * - `refused`: admission was not a stream (non-2xx answer, or no answer at all: status 0);
 * - `pending`: the job never terminated (the harness stopped waiting).
 */
export type JobOutcome = 'end' | 'error' | 'cut' | 'refused' | 'pending';
export const JOB_OUTCOMES: readonly JobOutcome[] = ['end', 'error', 'cut', 'refused', 'pending'];

/** The code recorded for a refusal that had no HTTP answer (connection refused, reset, timeout). */
export const NO_ANSWER_CODE = 'NO_ANSWER';

export interface JobRequestSummary {
  model: string;
  max_tokens: number;
  node?: string;
}

/** The queen's first answer to the submission. Times are ms since the job was submitted. */
export interface Admission {
  /** HTTP status; 0 when no answer came (transport error). */
  status: number;
  atMs: number;
  /** True when the answer started an event stream. */
  stream: boolean;
  correlationIdEcho?: string;
  /** From the error body, for refusals. */
  code?: string;
  message?: string;
  retryable?: boolean;
  /** `retry_after_ms` of the body, else the `Retry-After` header in ms. */
  retryAfterMs?: number;
  transportError?: string;
}

/** Where the queen's narration event says the job runs. */
export interface Dispatch {
  node_name?: string;
  worker_id?: string;
  job_id?: string;
  /** When the narration arrived, ms since submission. */
  atMs: number;
}

export interface RecordedEvent {
  /** ms since submission when the client received it. */
  atMs: number;
  type?: string;
  data: unknown;
}

export interface JobFailure {
  code: string;
  message?: string;
  retryable?: boolean;
}

export interface HistoryEntry {
  /** The harness's index of the job (0, 1, 2 … in submission order). */
  id: number;
  correlationId: string;
  request: JobRequestSummary;
  /** When the open loop meant to submit it, ms after the workload started (absent for ad-hoc jobs). */
  scheduledAtMs?: number;
  /** Epoch ms when the request was sent. */
  submittedAt: number;
  admission?: Admission;
  dispatch?: Dispatch;
  events: RecordedEvent[];
  outcome: JobOutcome;
  /** For `error` (the error event) and `refused` (the error body, or NO_ANSWER). */
  failure?: JobFailure;
  /** For `end`. */
  end?: { stopReason?: string; tokensOut?: number };
  /** How the stream itself ended (absent when there was none). */
  stream?: { done: boolean; malformed: string[]; transportError?: string };
  /** Epoch ms when the job terminated, or when the harness gave up on it. */
  finishedAt?: number;
  /** Why the harness stopped waiting for a job that stays `pending`. */
  abandoned?: string;
  durations: {
    /** Time to first byte: submission → the queen's answer (headers). */
    admissionMs?: number;
    firstTokenMs?: number;
    /** Submission → terminal event or end of the stream (or the refusal). */
    totalMs?: number;
  };
}

export interface HistoryJson {
  version: 1;
  entries: HistoryEntry[];
}

const round = (ms: number) => Math.round(ms * 1000) / 1000;

/** The queen's narration naming where the job runs (the same rule as Job.dispatch). */
export function isDispatchNarration(data: any): boolean {
  return data?.type === 'narration' && data.actor === 'queen-rbee';
}

/**
 * Every job of a workload, in submission order. The `record*` methods are called as the job progresses;
 * once a job has terminated (or was abandoned) later calls for it are ignored, so a stream aborted by
 * the harness cannot turn a `pending` job into a `cut` one.
 */
export class History {
  readonly entries: HistoryEntry[] = [];
  private readonly closed = new Set<number>();

  constructor(entries: HistoryEntry[] = []) {
    for (const e of entries) this.entries.push(e);
    for (const e of entries) if (e.outcome !== 'pending' || e.abandoned) this.closed.add(e.id);
  }

  /** A new entry for a job about to be sent (id = next index). */
  recordSubmitted(o: {
    correlationId: string;
    request: JobRequestSummary;
    submittedAt?: number;
    scheduledAtMs?: number;
  }): HistoryEntry {
    const entry: HistoryEntry = {
      id: this.entries.length,
      correlationId: o.correlationId,
      request: {
        model: o.request.model,
        max_tokens: o.request.max_tokens,
        ...(o.request.node !== undefined ? { node: o.request.node } : {}),
      },
      ...(o.scheduledAtMs !== undefined ? { scheduledAtMs: round(o.scheduledAtMs) } : {}),
      submittedAt: o.submittedAt ?? Date.now(),
      events: [],
      outcome: 'pending',
      durations: {},
    };
    this.entries.push(entry);
    return entry;
  }

  /** The queen answered: a stream started, or the job was refused (which terminates it). */
  recordAnswer(
    entry: HistoryEntry,
    answer: { status: number; headers: Record<string, string>; error?: HttpResponse },
    atMs: number,
  ): void {
    if (this.closed.has(entry.id)) return;
    const echo = answer.headers['x-correlation-id'];
    const admission: Admission = {
      status: answer.status,
      atMs: round(atMs),
      stream: !answer.error,
      ...(echo ? { correlationIdEcho: echo } : {}),
    };
    entry.admission = admission;
    entry.durations.admissionMs = round(atMs);
    if (!answer.error) return;
    const body = answer.error.json?.error;
    const code = typeof body?.code === 'string' ? body.code : `HTTP_${answer.status}`;
    admission.code = code;
    if (typeof body?.message === 'string') admission.message = body.message;
    if (typeof body?.retryable === 'boolean') admission.retryable = body.retryable;
    const header = answer.headers['retry-after'];
    if (typeof body?.retry_after_ms === 'number') admission.retryAfterMs = body.retry_after_ms;
    else if (header !== undefined && header.trim() !== '' && Number.isFinite(Number(header)))
      admission.retryAfterMs = Number(header) * 1000;
    entry.failure = {
      code,
      ...(admission.message !== undefined ? { message: admission.message } : {}),
      ...(admission.retryable !== undefined ? { retryable: admission.retryable } : {}),
    };
    this.terminate(entry, 'refused', atMs);
  }

  /** No answer at all (connection refused, reset, headers timeout): a refusal with status 0. */
  recordNoAnswer(entry: HistoryEntry, message: string, atMs: number): void {
    if (this.closed.has(entry.id)) return;
    entry.admission = { status: 0, atMs: round(atMs), stream: false, code: NO_ANSWER_CODE, transportError: message };
    entry.failure = { code: NO_ANSWER_CODE, message };
    this.terminate(entry, 'refused', atMs);
  }

  /** One SSE event as it arrives. */
  recordEvent(entry: HistoryEntry, data: unknown, atMs: number): void {
    if (this.closed.has(entry.id)) return;
    const type = typeof (data as any)?.type === 'string' ? ((data as any).type as string) : undefined;
    entry.events.push({ atMs: round(atMs), ...(type !== undefined ? { type } : {}), data });
    if (!entry.dispatch && isDispatchNarration(data)) {
      const d = data as any;
      entry.dispatch = {
        ...(typeof d.node_name === 'string' ? { node_name: d.node_name } : {}),
        ...(typeof d.worker_id === 'string' ? { worker_id: d.worker_id } : {}),
        ...(typeof d.job_id === 'string' ? { job_id: d.job_id } : {}),
        atMs: round(atMs),
      };
    }
    if (type === 'token' && entry.durations.firstTokenMs === undefined) entry.durations.firstTokenMs = round(atMs);
  }

  /** The stream ended (with [DONE], or not): the outcome follows from the events it carried. */
  recordStreamEnd(
    entry: HistoryEntry,
    result: Pick<SseResult, 'done' | 'malformed' | 'transportError'>,
    atMs: number,
  ): void {
    if (this.closed.has(entry.id)) return;
    entry.stream = {
      done: result.done,
      malformed: [...result.malformed],
      ...(result.transportError ? { transportError: result.transportError } : {}),
    };
    const end = entry.events.find((e) => e.type === 'end')?.data as any;
    const error = entry.events.find((e) => e.type === 'error')?.data as any;
    if (error) {
      entry.failure = {
        code: typeof error.code === 'string' ? error.code : 'UNKNOWN',
        ...(typeof error.message === 'string' ? { message: error.message } : {}),
        ...(typeof error.retryable === 'boolean' ? { retryable: error.retryable } : {}),
      };
      this.terminate(entry, 'error', atMs);
    } else if (end) {
      entry.end = {
        ...(typeof end.stop_reason === 'string' ? { stopReason: end.stop_reason } : {}),
        ...(typeof end.tokens_out === 'number' ? { tokensOut: end.tokens_out } : {}),
      };
      this.terminate(entry, 'end', atMs);
    } else {
      this.terminate(entry, 'cut', atMs);
    }
  }

  /** The harness stops waiting: the job stays `pending`, with the reason. */
  recordAbandoned(entry: HistoryEntry, reason: string, at = Date.now()): void {
    if (this.closed.has(entry.id)) return;
    entry.abandoned = reason;
    entry.finishedAt = at;
    this.closed.add(entry.id);
  }

  /**
   * Add a job driven with Job.begin/Job.submit (a step's own job) after the fact: its answer, events
   * and result as far as they go. A job whose stream has not ended yet is recorded `pending`.
   */
  recordJob(job: Job, o: { scheduledAtMs?: number } = {}): HistoryEntry {
    const entry = this.recordSubmitted({
      correlationId: job.correlationId ?? job.headers['x-correlation-id'] ?? '',
      request: {
        model: job.task.model,
        max_tokens: job.task.max_tokens,
        ...(job.task.node !== undefined ? { node: job.task.node } : {}),
      },
      submittedAt: job.submittedAt,
      ...(o.scheduledAtMs !== undefined ? { scheduledAtMs: o.scheduledAtMs } : {}),
    });
    if (!job.status) return entry;
    const firstEventMs = job.events[0]?.atMs;
    // The answer's own time is not kept by Job: the error's round trip, else the first event bounds it.
    this.recordAnswer(
      entry,
      { status: job.status, headers: job.headers, ...(job.error ? { error: job.error } : {}) },
      job.error?.ms ?? job.result?.firstByteMs ?? firstEventMs ?? 0,
    );
    for (const e of job.events) this.recordEvent(entry, e.data, e.atMs);
    if (job.result) this.recordStreamEnd(entry, job.result, job.result.endMs);
    return entry;
  }

  get(id: number): HistoryEntry | undefined {
    return this.entries[id];
  }

  /** Jobs not terminated (and not given up on) yet. */
  get open(): HistoryEntry[] {
    return this.entries.filter((e) => !this.closed.has(e.id));
  }

  countByOutcome(): Record<JobOutcome, number> {
    const out = Object.fromEntries(JOB_OUTCOMES.map((o) => [o, 0])) as Record<JobOutcome, number>;
    for (const e of this.entries) out[e.outcome]++;
    return out;
  }

  toJSON(): HistoryJson {
    return { version: 1, entries: this.entries };
  }

  static fromJSON(json: HistoryJson | string): History {
    const parsed = typeof json === 'string' ? (JSON.parse(json) as HistoryJson) : json;
    if (parsed?.version !== 1 || !Array.isArray(parsed.entries))
      throw new Error('not a history (expected {"version":1,"entries":[…]})');
    return new History(structuredClone(parsed.entries));
  }

  private terminate(entry: HistoryEntry, outcome: Exclude<JobOutcome, 'pending'>, atMs: number): void {
    entry.outcome = outcome;
    entry.durations.totalMs = round(atMs);
    entry.finishedAt = entry.submittedAt + Math.round(atMs);
    this.closed.add(entry.id);
  }
}

/** Epoch ms of a moment given as ms since the entry's submission. */
export function epochOf(entry: HistoryEntry, atMs: number): number {
  return entry.submittedAt + atMs;
}

/** The token events of an entry (data only), in arrival order. */
export function tokensOf(entry: HistoryEntry): any[] {
  return entry.events.filter((e) => e.type === 'token').map((e) => e.data);
}

/** One line naming a job: id, correlation id, where it ran. */
export function describeEntry(e: HistoryEntry): string {
  const where = e.dispatch?.worker_id ? ` on ${e.dispatch.worker_id}@${e.dispatch.node_name ?? '?'}` : '';
  return `job #${e.id} (${e.correlationId}${e.dispatch?.job_id ? `, ${e.dispatch.job_id}` : ''}${where})`;
}
