// A job submitted to the queen and watched as a client would: the answer's status and headers, the
// events as they arrive (so a scenario can act mid-stream), and the finished stream.

import type { QueenClient, TaskRequest } from './rbee.ts';
import type { HttpResponse } from './http.ts';
import type { SseEvent, SseResult } from './sse.ts';
import { shapeOf } from '../checks/stream.ts';
import { delay as pause, withDeadline } from '../observe/eventually.ts';

export interface SubmitOptions {
  correlationId?: string;
  bearer?: string | null;
  headers?: Record<string, string>;
  /** `/v1/inference` (idle workers only) instead of `/v2/tasks`. */
  route?: 'tasks' | 'inference';
}

export class Job {
  /** Events received so far (grows while the stream is open). */
  readonly events: SseEvent[] = [];
  status = 0;
  headers: Record<string, string> = {};
  /** The queen's answer when it did not start a stream (an error). */
  error?: HttpResponse;
  result?: SseResult;
  readonly submittedAt = Date.now();
  finishedAt?: number;
  private finished: Promise<SseResult> = new Promise(() => {});
  abort: () => void = () => {};

  constructor(
    readonly task: TaskRequest,
    readonly correlationId: string | undefined,
  ) {}

  /** Submit and wait until the queen answers (the stream starts, or an error). */
  static async submit(queen: QueenClient, task: TaskRequest, o: SubmitOptions = {}): Promise<Job> {
    const job = Job.begin(queen, task, o);
    await job.answered();
    return job;
  }

  /**
   * Submit without waiting for the answer: the queen may hold its answer back while it provisions a
   * model or spawns a worker, and a scenario may want to watch that happen.
   */
  static begin(queen: QueenClient, task: TaskRequest, o: SubmitOptions = {}): Job {
    const job = new Job(task, o.correlationId);
    const headers = { ...(o.headers ?? {}), ...(o.correlationId ? { 'x-correlation-id': o.correlationId } : {}) };
    const call = o.route === 'inference' ? queen.inference.bind(queen) : queen.submitTask.bind(queen);
    job.answer = call(task, {
      headers,
      ...(o.bearer !== undefined ? { bearer: o.bearer } : {}),
      onEvent: (e) => job.events.push(e),
    }).then((res) => {
      job.status = res.status;
      job.headers = res.headers;
      job.error = res.error;
      job.abort = res.abort;
      job.finished = res.result.then((r) => {
        job.result = r;
        job.finishedAt = Date.now();
        return r;
      });
    });
    job.answer.catch(() => {}); // observed through answered()
    return job;
  }

  private answer!: Promise<void>;

  /** Waits until the queen has answered (status and headers known). */
  async answered(withinMs = 60_000): Promise<this> {
    await withDeadline(this.answer, withinMs, () => `the queen did not answer the job within ${withinMs} ms`);
    return this;
  }

  /**
   * Submit like a well-behaved client: a retryable 503 (NO_CAPACITY, HIVE_UNAVAILABLE) is retried after
   * the server's retry_after_ms, until `withinMs` has passed. `attempts` says how many it took.
   */
  static async submitRetrying(
    queen: QueenClient,
    task: TaskRequest,
    o: SubmitOptions & { withinMs?: number } = {},
  ): Promise<Job> {
    const deadline = Date.now() + (o.withinMs ?? 30_000);
    const refusals: string[] = [];
    for (let attempt = 1; ; attempt++) {
      const job = await Job.submit(queen, task, o);
      job.attempts = attempt;
      job.refusals = refusals;
      const retryable = job.error?.status === 503 && job.error.json?.error?.retryable === true;
      if (!retryable || Date.now() >= deadline) return job;
      refusals.push(`${job.error!.json.error.code} (retry_after_ms ${job.error!.json.error.retry_after_ms})`);
      const wait = Math.min(Math.max(Number(job.error!.json.error.retry_after_ms) || 100, 20), 1000);
      await pause(wait);
    }
  }

  attempts = 1;
  /** The retryable refusals submitRetrying went through before this answer (code and retry_after_ms each). */
  refusals: string[] = [];

  /** Waits for the stream to end (bounded). */
  async done(withinMs = 30_000): Promise<SseResult> {
    const t0 = Date.now();
    await this.answered(withinMs);
    return withDeadline(
      this.finished,
      withinMs - (Date.now() - t0),
      () =>
        `job stream did not end within ${withinMs} ms; ${this.events.length} events so far, last: ${this.events.at(-1)?.raw ?? '(none)'}`,
    );
  }

  get tokensSoFar(): number {
    return this.events.filter((e) => e.data?.type === 'token').length;
  }

  /** The queen's narration naming where the job runs. */
  get dispatch(): { node_name?: string; worker_id?: string; job_id?: string } | undefined {
    return this.events.map((e) => e.data).find((d) => d?.type === 'narration' && d.actor === 'queen-rbee');
  }

  get jobId(): string | undefined {
    return this.dispatch?.job_id ?? this.events.map((e) => e.data).find((d) => d?.job_id)?.job_id;
  }

  shape() {
    if (!this.result) throw new Error('the job has not finished');
    return shapeOf(this.result);
  }
}
