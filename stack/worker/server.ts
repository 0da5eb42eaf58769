// The mock worker's HTTP surface (contract §3). Process concerns (CLI, loading, callbacks, exit codes)
// live in main.ts; this module only maps routes onto the worker state and the inference engine, so it can
// be started in-process by tests.

import { Service, SseWriter, HttpError, retryable, sendJson } from '../shared/http.ts';
import type { Logger } from '../shared/log.ts';
import { InferenceEngine } from './engine.ts';
import { createWorkerMetrics } from './metrics.ts';
import { ReplayFeed } from './progress.ts';
import { validateInferenceRequest } from './validate.ts';

// Every event names the worker (an extension of the contract's shape) so a client watching several
// workers load can tell their streams apart.
export type LoadEvent =
  | { stage: 'loading_to_vram'; worker_id: string; layers_loaded: number; layers_total: number }
  | { stage: 'ready'; worker_id: string };

export interface WorkerState {
  /** `stopping` once a shutdown began: no new jobs, running ones finish. */
  phase: 'loading' | 'ready' | 'stopping';
  modelLoaded: boolean;
  /** Model memory allocated so far (grows while loading). */
  vramBytes: number;
  /** Advertised base URL; set once the port is bound. */
  url: string;
  progress: ReplayFeed<LoadEvent>;
}

export interface WorkerServerOptions {
  workerId: string;
  modelRef: string;
  slots: number;
  tokenDelayMs: number;
  kvBytesPerToken: number;
  token?: string;
  log: Logger;
  /** Called after the admin shutdown request has been answered. */
  onShutdownRequested: (reason: string) => void;
}

export interface WorkerServer {
  service: Service;
  engine: InferenceEngine;
  state: WorkerState;
}

export function createWorkerServer(o: WorkerServerOptions): WorkerServer {
  const service = new Service({ service: 'worker', metricPrefix: 'rbee_worker_', log: o.log, token: o.token });
  const metrics = createWorkerMetrics(service, o.slots);
  const engine = new InferenceEngine({
    slots: o.slots,
    tokenDelayMs: o.tokenDelayMs,
    kvBytesPerToken: o.kvBytesPerToken,
    modelRef: o.modelRef,
    log: o.log,
    metrics,
  });
  const state: WorkerState = {
    phase: 'loading',
    modelLoaded: false,
    vramBytes: 0,
    url: '',
    progress: new ReplayFeed(),
  };
  const progressUrl = () => `${state.url}/v1/loading/progress`;

  service.route('GET', '/health', () => ({ status: 'healthy', vram_bytes: state.vramBytes }), { public: true });

  service.route('GET', '/v1/ready', () => ({
    ready: state.modelLoaded && state.phase !== 'stopping',
    state: !state.modelLoaded ? 'loading' : engine.slotsBusy > 0 ? 'busy' : 'idle',
    model_loaded: state.modelLoaded,
    ...(state.modelLoaded ? {} : { progress_url: progressUrl() }),
  }));

  service.route('GET', '/v1/loading/progress', (ctx) => {
    const sse = new SseWriter(ctx.res);
    const unsubscribe = state.progress.subscribe((e) => (e === null ? sse.done() : sse.send(e)));
    sse.onClose(unsubscribe);
    return undefined;
  });

  service.route('POST', '/v1/inference', async (ctx) => {
    const req = validateInferenceRequest(await ctx.json());
    const deadlineMs = parseDeadline(ctx.req.headers['x-deadline']);
    if (state.phase === 'stopping') throw retryable(503, 'SHUTTING_DOWN', 'worker is shutting down', 1000);
    if (!state.modelLoaded)
      throw retryable(503, 'WORKER_LOADING', 'model is still loading', 500, { progress_url: progressUrl() });
    if (deadlineMs !== undefined && deadlineMs <= Date.now()) {
      throw new HttpError(504, 'DEADLINE_EXCEEDED', `x-deadline ${deadlineMs} has already passed`, {
        retryable: false,
      });
    }
    const job = engine.admit(req);
    let sse: SseWriter;
    try {
      sse = new SseWriter(ctx.res);
    } catch (e) {
      engine.discard(job);
      throw e;
    }
    // A client that goes away cancels its job, so the slot is free for the next one.
    sse.onClose(() => {
      if (sse.closedByClient) engine.cancel(req.job_id, 'client_disconnected');
    });
    await engine.run(job, sse, { correlationId: ctx.correlationId, subject: ctx.identity.subject, deadlineMs });
    return undefined;
  });

  service.route('DELETE', '/v1/inference/{job_id}', (ctx) => {
    const jobId = ctx.params.job_id ?? '';
    const cancelled = engine.cancel(jobId, 'client_request');
    ctx.log.info(cancelled ? 'job cancel requested' : 'cancel for a job not running (no-op)', {
      event: 'job.cancel_requested',
      job_id: jobId,
      running: cancelled,
    });
    ctx.res.writeHead(204);
    ctx.res.end();
    return undefined;
  });

  service.route('POST', '/v1/admin/shutdown', (ctx) => {
    ctx.log.info('shutdown requested', {
      event: 'shutdown.requested',
      ...(ctx.identity.subject ? { subject: ctx.identity.subject } : {}),
    });
    ctx.res.on('finish', () => o.onShutdownRequested('admin'));
    sendJson(ctx.res, 202, { status: 'shutting_down', jobs_running: engine.slotsBusy });
    return undefined;
  });

  return { service, engine, state };
}

/** `x-deadline`: absolute Unix epoch milliseconds. */
export function parseDeadline(raw: string | string[] | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const v = Array.isArray(raw) ? raw[0] : raw;
  const n = Number(v);
  if (v === undefined || !/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n)) {
    throw new HttpError(400, 'VALIDATION_FAILED', 'x-deadline must be epoch milliseconds', {
      errors: [
        {
          field: 'x-deadline',
          constraint: 'epoch_ms',
          message: 'x-deadline must be an integer of Unix epoch milliseconds',
          value: v,
        },
      ],
    });
  }
  return n;
}
