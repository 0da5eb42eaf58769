// One inference job end to end (contract §1 POST /v2/tasks, POST /v1/inference): validate, get a worker
// (dispatch.ts), start the job on it, and relay its SSE stream to the client — prefixed by one queen
// narration event, each worker event forwarded unchanged as soon as it is complete. A stream is never
// silently truncated: if the worker's stream breaks, the client gets a retryable error event and [DONE].

import { randomUUID } from 'node:crypto';
import type { Counter } from 'prom-client';
import { callJson, callStream, DownstreamError, type CallOptions } from '../shared/downstream.ts';
import { HttpError, SseWriter, retryable, type Ctx } from '../shared/http.ts';
import type { Logger } from '../shared/log.ts';
import { deadlineExceeded, type Dispatcher, type Lease } from './dispatch.ts';
import type { HiveCalls } from './hive-calls.ts';
import type { WorkerSummary } from './registry.ts';
import { parseDeadline, validateTask, type TaskRequest } from './validate.ts';

export type Outcome = 'completed' | 'failed' | 'rejected' | 'cancelled';
export const OUTCOMES: Outcome[] = ['completed', 'failed', 'rejected', 'cancelled'];

/** After a cancel, how long the worker's stream may take to end before the queen cuts it. */
const DRAIN_MS = 2000;
/**
 * A worker stream silent this long makes the queen ask the worker's hive whether the worker still exists. A
 * worker that dies with its network namespace (its container torn down) may never send a FIN: without the
 * question the client's stream would stay open forever. Only a hive that answers "gone" ends the stream; a
 * worker that is merely slow, paused or cut off keeps its job.
 */
const STALL_CHECK_MS = 1000;
/** Attempts to start the job when the chosen worker cannot be reached or has no free slot yet. */
const START_ATTEMPTS = 3;
const SLOT_BUSY_RETRIES = 20;

export interface TaskDeps {
  dispatcher: Dispatcher;
  calls: HiveCalls;
  token?: string;
  jobs: Counter<'outcome'>;
  isShuttingDown(): boolean;
  /** Jobs in flight, so a shutdown can wait for them. */
  active: Set<Promise<unknown>>;
}

interface Job {
  id: string;
  task: TaskRequest;
  deadline: number | null;
  call: CallOptions;
  log: Logger;
  clientGone: AbortController;
}

export function requestLog(ctx: Ctx, extra: Record<string, unknown> = {}): Logger {
  return ctx.log.child({ ...(ctx.identity.subject ? { subject: ctx.identity.subject } : {}), ...extra });
}

export async function runTask(ctx: Ctx, deps: TaskDeps, allowSpawn: boolean): Promise<undefined> {
  let outcome: Outcome | null = null;
  let done!: () => void;
  const tracked = new Promise<void>((r) => (done = r));
  deps.active.add(tracked);
  try {
    if (deps.isShuttingDown()) throw retryable(503, 'SHUTTING_DOWN', 'the queen is shutting down', 1000);
    const task = validateTask(await ctx.json());
    const deadline = parseDeadline(ctx.req.headers['x-deadline']);
    if (deadline !== null && Date.now() >= deadline) throw deadlineExceeded();
    const id = randomUUID();
    const log = requestLog(ctx, { job_id: id });
    const clientGone = new AbortController();
    ctx.res.on('close', () => {
      if (!ctx.res.writableFinished) clientGone.abort();
    });
    const job: Job = {
      id,
      task,
      deadline,
      log,
      clientGone,
      call: {
        token: deps.token,
        correlationId: ctx.correlationId,
        identity: ctx.identity,
        headers: deadline !== null ? { 'x-deadline': String(deadline) } : {},
      },
    };
    log.info('job accepted', {
      event: 'job.accepted',
      model: task.model,
      node: task.node,
      max_tokens: task.max_tokens,
      via: allowSpawn ? '/v2/tasks' : '/v1/inference',
    });
    outcome = await dispatchAndRelay(ctx, job, deps, allowSpawn);
    return undefined;
  } catch (e) {
    outcome ??= outcomeOf(e);
    const err = e instanceof HttpError ? e : undefined;
    requestLog(ctx).info(`job not run: ${(e as Error).message}`, {
      event: `job.${outcome}`,
      code: err?.code,
      status: err?.status,
    });
    throw e;
  } finally {
    deps.jobs.inc({ outcome: outcome ?? 'failed' });
    deps.active.delete(tracked);
    done();
  }
}

function outcomeOf(e: unknown): Outcome {
  if (!(e instanceof HttpError)) return 'failed';
  if (e.code === 'CLIENT_CLOSED') return 'cancelled';
  // Refused before anything ran: bad input, unknown node, no capacity, deadline already past.
  return e.status < 500 || e.status === 503 || e.status === 504 ? 'rejected' : 'failed';
}

async function dispatchAndRelay(ctx: Ctx, job: Job, deps: TaskDeps, allowSpawn: boolean): Promise<Outcome> {
  const obtain = () =>
    deps.dispatcher.obtain({
      model: job.task.model,
      node: job.task.node,
      jobId: job.id,
      allowSpawn,
      deadline: job.deadline,
      signal: job.clientGone.signal,
      call: job.call,
      log: job.log,
    });
  for (let attempt = 1; ; attempt++) {
    const lease = await obtain();
    const upstreamAbort = new AbortController();
    let started;
    try {
      started = await startOnWorker(lease, job, upstreamAbort.signal);
    } catch (e) {
      await finishLease(lease, job, deps, true);
      const unreachable = e instanceof DownstreamError && e.status === 0;
      if (unreachable && attempt < START_ATTEMPTS) {
        job.log.warn('worker unreachable before the job started; trying another', {
          event: 'job.retry',
          worker_id: lease.worker_id,
          node_name: lease.hive.node_name,
        });
        continue;
      }
      if (unreachable)
        throw retryable(
          503,
          'WORKER_UNREACHABLE',
          `worker ${lease.worker_id} on hive '${lease.hive.node_name}' is not reachable`,
          1000,
        );
      throw e;
    }
    return relay(ctx, job, lease, started, upstreamAbort, deps);
  }
}

type Upstream = Awaited<ReturnType<typeof callStream>>;

/** POST the job to the worker; answers other than 200 become the client's error (before any stream). */
async function startOnWorker(lease: Lease, job: Job, signal: AbortSignal): Promise<Upstream> {
  const t = job.task;
  const body: Record<string, unknown> = { job_id: job.id, prompt: t.prompt, max_tokens: t.max_tokens };
  for (const k of ['temperature', 'seed', 'top_p', 'stop'] as const)
    if (t[k] !== undefined && t[k] !== null) body[k] = t[k];
  for (let i = 0; ; i++) {
    const res = await callStream('POST', `${lease.url}/v1/inference`, body, { ...job.call, signal, timeoutMs: 10_000 });
    if (res.statusCode === 200) return res;
    const text = await res.body.text().catch(() => '');
    let err: Record<string, unknown> = {};
    try {
      err = (JSON.parse(text) as { error?: Record<string, unknown> }).error ?? {};
    } catch {
      /* not JSON */
    }
    // The hive may call a worker idle a moment before the worker frees its slot (e.g. right after a cancel).
    if (res.statusCode === 503 && err.code === 'ALL_SLOTS_BUSY' && i < SLOT_BUSY_RETRIES) {
      await sleep(100);
      continue;
    }
    const { code, message, correlation_id: _cid, ...extra } = err;
    throw new HttpError(
      res.statusCode,
      String(code ?? `HTTP_${res.statusCode}`),
      String(message ?? `worker answered ${res.statusCode}`),
      {
        ...extra,
        worker_id: lease.worker_id,
        node_name: lease.hive.node_name,
      },
    );
  }
}

async function relay(
  ctx: Ctx,
  job: Job,
  lease: Lease,
  upstream: Upstream,
  upstreamAbort: AbortController,
  deps: TaskDeps,
): Promise<Outcome> {
  const log = job.log.child({ node_name: lease.hive.node_name, worker_id: lease.worker_id });
  const sse = new SseWriter(ctx.res);
  sse.send({
    type: 'narration',
    actor: 'queen-rbee',
    action: 'dispatch',
    human: `Dispatching job ${job.id} to worker ${lease.worker_id} on hive ${lease.hive.node_name}`,
    job_id: job.id,
    correlation_id: ctx.correlationId,
    node_name: lease.hive.node_name,
    worker_id: lease.worker_id,
  });
  log.info('job dispatched', { event: 'job.dispatched' });

  // Once the client left or the deadline passed, worker events are no longer forwarded; the job is
  // cancelled on the worker and its stream drained so the worker is free before it is released.
  let stopped: 'client' | 'deadline' | null = null;
  let drainTimer: NodeJS.Timeout | null = null;
  const cancel = () => {
    void callJson('DELETE', `${lease.url}/v1/inference/${encodeURIComponent(job.id)}`, undefined, {
      ...job.call,
      timeoutMs: 2000,
    }).catch(() => {});
    drainTimer = setTimeout(() => upstreamAbort.abort(), DRAIN_MS);
  };
  const onClientGone = () => {
    if (stopped) return;
    stopped = 'client';
    log.info('client went away; cancelling the job', { event: 'job.client_gone' });
    cancel();
  };
  job.clientGone.signal.addEventListener('abort', onClientGone, { once: true });
  const deadlineTimer =
    job.deadline !== null
      ? setTimeout(
          () => {
            if (stopped) return;
            stopped = 'deadline';
            log.warn('deadline passed mid-stream; cancelling the job', { event: 'job.deadline_exceeded' });
            sse.send({
              type: 'error',
              code: 'DEADLINE_EXCEEDED',
              message: 'the x-deadline of this job passed while it was running',
              retryable: false,
              job_id: job.id,
            });
            sse.done();
            cancel();
          },
          Math.max(0, job.deadline - Date.now()),
        )
      : null;

  let sawDone = false;
  let last: { type?: string; stop_reason?: string } | null = null;
  let tokens = 0;
  let broke: string | null = null;
  const decoder = new TextDecoder();
  let buf = '';
  const handle = (block: string) => {
    const data = block
      .split(/\r?\n/)
      .filter((l) => l.startsWith('data:'))
      .map((l) => l.slice(5).replace(/^ /, ''))
      .join('\n');
    if (data === '[DONE]') {
      sawDone = true;
      return;
    }
    try {
      last = JSON.parse(data) as typeof last;
      if (last?.type === 'token') tokens++;
    } catch {
      /* not JSON: forwarded as is */
    }
    if (!stopped) sse.raw(`${block}\n\n`);
  };
  let lastDataAt = Date.now();
  let checking = false;
  const stallWatch = setInterval(() => {
    if (checking || stopped || Date.now() - lastDataAt < STALL_CHECK_MS) return;
    checking = true;
    void workerGone(lease, job, deps.calls)
      .then((gone) => {
        if (!gone || Date.now() - lastDataAt < STALL_CHECK_MS) return;
        log.warn(`worker stream silent for ${Date.now() - lastDataAt} ms and the hive says: ${gone.why}`, {
          event: 'job.worker_gone',
        });
        upstreamAbort.abort();
      })
      .finally(() => (checking = false));
  }, STALL_CHECK_MS / 2);
  try {
    for await (const chunk of upstream.body as AsyncIterable<Buffer>) {
      lastDataAt = Date.now();
      buf += decoder.decode(chunk, { stream: true });
      for (let m = /\r?\n\r?\n/.exec(buf); m; m = /\r?\n\r?\n/.exec(buf)) {
        const block = buf.slice(0, m.index);
        buf = buf.slice(m.index + m[0].length);
        if (block.trim() !== '') handle(block);
      }
      if (sawDone) break;
    }
  } catch (e) {
    broke = (e as Error).message;
  } finally {
    clearInterval(stallWatch);
    if (deadlineTimer) clearTimeout(deadlineTimer);
    if (drainTimer) clearTimeout(drainTimer);
    job.clientGone.signal.removeEventListener('abort', onClientGone);
    upstreamAbort.abort(); // the rest of the worker's body (if any) is not needed
  }

  const lastEvent = last as { type?: string; stop_reason?: string } | null;
  if (stopped === 'client') {
    await finishLease(lease, job, deps, true);
    log.info('job cancelled by the client', { event: 'job.cancelled', tokens });
    return 'cancelled';
  }
  if (stopped === 'deadline') {
    await finishLease(lease, job, deps, true);
    return 'failed';
  }
  const ended = lastEvent?.type === 'end' || lastEvent?.type === 'error';
  if (sawDone || ended) {
    // Release before the client sees [DONE], so the worker is idle by the time the client looks.
    await finishLease(lease, job, deps, true);
    sse.done();
    if (lastEvent?.type === 'end') {
      const cancelled = lastEvent.stop_reason === 'CANCELLED';
      log.info(cancelled ? 'job cancelled on the worker' : 'job completed', {
        event: cancelled ? 'job.cancelled' : 'job.completed',
        tokens,
        stop_reason: lastEvent.stop_reason,
      });
      return cancelled ? 'cancelled' : 'completed';
    }
    log.warn('job ended with an error from the worker', { event: 'job.failed', tokens });
    return 'failed';
  }
  // The worker's stream broke off: tell the client why, never leave it with a silently truncated stream.
  const loss = await classifyLoss(lease, job, deps.calls);
  log.error(`worker stream broke mid-job: ${loss.message}`, {
    event: 'job.failed',
    code: loss.code,
    tokens,
    transport_error: broke,
  });
  sse.send({ type: 'error', code: loss.code, message: loss.message, retryable: true, job_id: job.id });
  await finishLease(lease, job, deps, !loss.gone);
  sse.done();
  return 'failed';
}

/**
 * Whether the lease's hive says its worker is gone (not listed, crashed, or loading again after a restart),
 * and why; undefined when the hive lists it alive or does not answer.
 */
async function workerGone(lease: Lease, job: Job, calls: HiveCalls): Promise<{ why: string } | undefined> {
  try {
    const list = await calls.call<{
      workers: WorkerSummary[];
      recently_removed?: { worker_id: string; reason: string }[];
    }>(lease.hive, 'GET', '/v1/workers/list', undefined, { ...job.call, timeoutMs: 1000 });
    const w = list.workers.find((x) => x.worker_id === lease.worker_id);
    if (w && w.state !== 'crashed' && w.state !== 'loading') return undefined;
    const removed = list.recently_removed?.find((x) => x.worker_id === lease.worker_id);
    return {
      why:
        removed?.reason ??
        (w?.state === 'loading' ? 'crashed and is being restarted' : w ? 'crashed' : 'no longer listed by its hive'),
    };
  } catch {
    return undefined; // the hive not answering either says nothing about the worker
  }
}

/** After a broken stream: did the worker crash (the hive says it is gone or restarting) or just vanish from view? */
async function classifyLoss(
  lease: Lease,
  job: Job,
  calls: HiveCalls,
): Promise<{ code: string; message: string; gone: boolean }> {
  // The hive learns of a child's exit from an event; give it a moment to do so.
  for (let i = 0; i < 4; i++) {
    const gone = await workerGone(lease, job, calls);
    if (gone) {
      const why = gone.why;
      return {
        code: 'WORKER_CRASHED',
        message: `worker ${lease.worker_id} on hive '${lease.hive.node_name}' ${why.startsWith('crashed') ? why : `is gone: ${why}`}`,
        gone: true,
      };
    }
    await sleep(150);
  }
  return {
    code: 'WORKER_UNREACHABLE',
    message: `lost the connection to worker ${lease.worker_id} on hive '${lease.hive.node_name}' mid-job`,
    gone: false,
  };
}

/** Give the worker back to its hive (unless it is gone) and let waiting jobs try again. */
async function finishLease(lease: Lease, job: Job, deps: TaskDeps, release: boolean): Promise<void> {
  try {
    if (!release) return;
    for (let i = 0; i < 3; i++) {
      try {
        await callJson(
          'POST',
          `${lease.hive.url}/v1/workers/release`,
          { worker_id: lease.worker_id, job_id: job.id },
          { ...job.call, timeoutMs: 2000 },
        );
        return;
      } catch (e) {
        if (e instanceof DownstreamError && e.status >= 400 && e.status < 500) return; // gone or not busy: nothing to release
        await sleep(200);
      }
    }
    job.log.warn('could not release the worker', {
      event: 'worker.release_failed',
      worker_id: lease.worker_id,
      node_name: lease.hive.node_name,
    });
  } finally {
    lease.hive.inflight = Math.max(0, lease.hive.inflight - 1);
    deps.dispatcher.wake();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
