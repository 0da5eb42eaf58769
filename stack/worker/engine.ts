// The inference engine: slots, the token loop and every way a job can end (max tokens, stop sequence,
// cancel, client gone, deadline, out of memory). It writes events to a sink rather than to HTTP so the
// stream order can be unit-tested without a server.

import type { Logger } from '../shared/log.ts';
import { HttpError, retryable, exemplarLabels } from '../shared/http.ts';
import { matchedStop, tokenStream } from './generate.ts';
import { allocateTouched } from './memory.ts';
import type { JobOutcome, WorkerMetrics } from './metrics.ts';
import type { InferenceRequest } from './validate.ts';

export type StopReason = 'MAX_TOKENS' | 'EOS' | 'STOP_SEQUENCE' | 'CANCELLED';
export type CancelReason = 'client_request' | 'client_disconnected' | 'shutdown';

/** Where a job's events go (an SseWriter in production). */
export interface EventSink {
  send(event: Record<string, unknown>): void;
  /** Write the terminator and close. */
  done(): void;
}

export interface EngineOptions {
  slots: number;
  tokenDelayMs: number;
  kvBytesPerToken: number;
  modelRef: string;
  log: Logger;
  metrics?: WorkerMetrics;
}

export interface JobContext {
  correlationId: string;
  subject?: string;
  /** Absolute epoch ms (x-deadline); past it the job ends with DEADLINE_EXCEEDED. */
  deadlineMs?: number;
}

export interface JobResult {
  outcome: JobOutcome;
  tokensOut: number;
  stopReason?: StopReason;
  errorCode?: string;
}

class Job {
  cancelReason?: CancelReason;
  deadlineHit = false;
  tokensOut = 0;
  private wake?: () => void;
  constructor(readonly req: InferenceRequest) {}

  /** Sleep that a cancel or the deadline cuts short. */
  pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(finish, ms);
      this.wake = finish;
    });
  }
  interrupt(): void {
    this.wake?.();
  }
}

export class InferenceEngine {
  private readonly jobs = new Map<string, Job>();
  private idleWaiters: Array<() => void> = [];
  private highWater = 0;

  constructor(private readonly o: EngineOptions) {}

  get slotsTotal(): number {
    return this.o.slots;
  }
  get slotsBusy(): number {
    return this.jobs.size;
  }
  get slotsBusyMax(): number {
    return this.highWater;
  }

  /**
   * Take a slot for the job or throw (503 ALL_SLOTS_BUSY, 409 for a job id already running). Synchronous,
   * so two requests can never both take the last slot.
   */
  admit(req: InferenceRequest): Job {
    if (this.jobs.has(req.job_id))
      throw new HttpError(409, 'JOB_ALREADY_RUNNING', `job ${req.job_id} is already running on this worker`);
    if (this.jobs.size >= this.o.slots) {
      throw retryable(503, 'ALL_SLOTS_BUSY', `all ${this.o.slots} slot(s) are busy`, this.retryAfterMs(), {
        slots_total: this.o.slots,
        slots_busy: this.jobs.size,
      });
    }
    const job = new Job(req);
    this.jobs.set(req.job_id, job);
    this.highWater = Math.max(this.highWater, this.jobs.size);
    this.o.metrics?.slotsBusy.set(this.jobs.size);
    this.o.metrics?.slotsBusyMax.set(this.highWater);
    return job;
  }

  /** Cancel a running job; false if no such job (cancel is idempotent, so callers answer 204 anyway). */
  cancel(jobId: string, reason: CancelReason): boolean {
    const job = this.jobs.get(jobId);
    if (!job || job.cancelReason) return false;
    job.cancelReason = reason;
    job.interrupt();
    return true;
  }

  cancelAll(reason: CancelReason): void {
    for (const id of [...this.jobs.keys()]) this.cancel(id, reason);
  }

  /** Resolves once no job is running. */
  idle(): Promise<void> {
    if (this.jobs.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Run an admitted job to its end, writing the whole stream (including the terminator) to `sink`. */
  async run(job: Job, sink: EventSink, ctx: JobContext): Promise<JobResult> {
    const { req } = job;
    const log = this.o.log.child({
      correlation_id: ctx.correlationId,
      job_id: req.job_id,
      ...(ctx.subject ? { subject: ctx.subject } : {}),
    });
    const started = performance.now();
    let deadlineTimer: NodeJS.Timeout | undefined;
    // (A deadline beyond setTimeout's 24.8-day range cannot be reached by any job; no timer then.)
    const untilDeadline = ctx.deadlineMs === undefined ? Infinity : Math.max(0, ctx.deadlineMs - Date.now());
    if (untilDeadline <= 2 ** 31 - 1) {
      deadlineTimer = setTimeout(() => {
        job.deadlineHit = true;
        job.interrupt();
      }, untilDeadline);
    }
    // KV cache stand-in: grows per token, released when the job ends.
    const kv: Buffer[] = [];
    let result: JobResult;
    try {
      log.info('job started', { event: 'job.started', max_tokens: req.max_tokens, prompt_chars: req.prompt.length });
      sink.send({
        type: 'narration',
        actor: 'llm-worker-rbee',
        action: 'inference_start',
        human: `Starting inference for job ${req.job_id}: ${req.prompt.length} prompt chars, up to ${req.max_tokens} tokens`,
        job_id: req.job_id,
        correlation_id: ctx.correlationId,
      });
      sink.send({ type: 'started', job_id: req.job_id, model: this.o.modelRef, started_at: new Date().toISOString() });
      const decodeStart = performance.now();
      const tokens = tokenStream(req.prompt, req.seed);
      let text = '';
      let stopReason: StopReason | undefined;
      let error: { code: string; message: string; retryable: boolean } | undefined;
      while (!stopReason && !error) {
        if (job.tokensOut >= req.max_tokens) {
          stopReason = 'MAX_TOKENS';
          break;
        }
        await job.pause(this.o.tokenDelayMs);
        if (job.cancelReason) {
          stopReason = 'CANCELLED';
        } else if (job.deadlineHit) {
          error = {
            code: 'DEADLINE_EXCEEDED',
            message: `deadline passed after ${job.tokensOut} tokens`,
            retryable: false,
          };
        } else {
          try {
            if (this.o.kvBytesPerToken > 0) kv.push(...allocateTouched(this.o.kvBytesPerToken));
          } catch (e) {
            error = {
              code: 'OUT_OF_MEMORY',
              message: `KV cache allocation failed: ${(e as Error).message}`,
              retryable: true,
            };
            break;
          }
          const t = tokens.next().value;
          text += t;
          sink.send({ type: 'token', t, i: job.tokensOut });
          job.tokensOut++;
          this.o.metrics?.tokens.inc();
          if (matchedStop(text, req.stop) !== undefined) stopReason = 'STOP_SEQUENCE';
        }
      }
      const decodeMs = Math.round(performance.now() - decodeStart);
      if (error) {
        sink.send({
          type: 'error',
          code: error.code,
          message: error.message,
          retryable: error.retryable,
          job_id: req.job_id,
        });
        log.warn(`job failed: ${error.message}`, { event: 'job.failed', code: error.code, tokens_out: job.tokensOut });
        result = { outcome: 'failed', tokensOut: job.tokensOut, errorCode: error.code };
      } else {
        sink.send({ type: 'end', tokens_out: job.tokensOut, decode_time_ms: decodeMs, stop_reason: stopReason });
        if (job.cancelReason)
          log.info('job cancelled', { event: 'job.cancelled', reason: job.cancelReason, tokens_out: job.tokensOut });
        log.info('job finished', {
          event: 'job.finished',
          tokens_out: job.tokensOut,
          stop_reason: stopReason,
          decode_time_ms: decodeMs,
        });
        result = {
          outcome: stopReason === 'CANCELLED' ? 'cancelled' : 'completed',
          tokensOut: job.tokensOut,
          stopReason,
        };
      }
    } catch (e) {
      // Never a silently truncated stream: an unexpected failure still ends with an error event.
      sink.send({
        type: 'error',
        code: 'INTERNAL_ERROR',
        message: (e as Error).message,
        retryable: true,
        job_id: req.job_id,
      });
      log.error(`job crashed: ${(e as Error).message}`, { event: 'job.failed', code: 'INTERNAL_ERROR' });
      result = { outcome: 'failed', tokensOut: job.tokensOut, errorCode: 'INTERNAL_ERROR' };
    } finally {
      clearTimeout(deadlineTimer);
      kv.length = 0;
      sink.done();
      this.release(job);
    }
    this.o.metrics?.jobs.inc({ outcome: result.outcome });
    this.o.metrics?.duration.observe({
      labels: {},
      value: (performance.now() - started) / 1000,
      exemplarLabels: exemplarLabels(ctx.correlationId),
    } as never);
    return result;
  }

  /** Give back the slot of a job that was admitted but never run (its response could not start). */
  discard(job: Job): void {
    this.release(job);
  }

  private release(job: Job): void {
    if (this.jobs.get(job.req.job_id) === job) this.jobs.delete(job.req.job_id);
    this.o.metrics?.slotsBusy.set(this.jobs.size);
    if (this.jobs.size === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  /** A guess at when a slot frees up: the running job closest to its max_tokens. */
  private retryAfterMs(): number {
    let best = Infinity;
    for (const j of this.jobs.values())
      best = Math.min(best, (j.req.max_tokens - j.tokensOut) * Math.max(1, this.o.tokenDelayMs));
    return Math.max(100, Math.min(Number.isFinite(best) ? best : 1000, 60_000));
  }
}

export type { Job };
