// Typed clients for the rbee services, one class per service, routes as in rbee-contract.md.
// They return raw responses (status, body) so steps can assert on errors as well as on success.

import { HttpClient, type CallOptions, type HttpResponse, type StreamResponse } from './http.ts';
import {
  CatalogSchema,
  conform,
  HiveWorkerListSchema,
  QueenHiveListSchema,
  QueenWorkerListSchema,
  SystemHealthSchema,
  type CatalogModel,
  type HiveWorker,
  type QueenHive,
  type QueenWorker,
  type SystemHealth,
} from '../contract/http.ts';
import type { z } from 'zod';
import type { SseEvent } from './sse.ts';
import { DownloadProgressSchema, InferenceEventSchema, LoadingProgressSchema } from '../contract/sse.ts';
import type { TaskRequestBody } from '../contract/requests.ts';
import { parseMetrics, type Sample } from './metrics.ts';

/** Contract §1's task body (lib/contract/requests.ts); scenarios about bad input may add anything. */
export type TaskRequest = TaskRequestBody & { [extra: string]: unknown };

/** A worker as its hive lists it (contract §2), validated by lib/contract/http.ts. */
export type WorkerInfo = HiveWorker;

type StreamOptions = CallOptions & { onEvent?: (e: SseEvent) => void };

class ServiceClient {
  readonly http: HttpClient;
  constructor(
    readonly url: string,
    bearer?: string,
  ) {
    this.http = new HttpClient(url, bearer);
  }
  async metrics(openMetrics = false): Promise<{ samples: Sample[]; text: string }> {
    const r = await this.http.get('/metrics', {
      headers: openMetrics ? { accept: 'application/openmetrics-text' } : {},
    });
    if (r.status !== 200) throw new Error(`GET ${this.url}/metrics answered ${r.status}: ${r.text.slice(0, 200)}`);
    return { samples: parseMetrics(r.text), text: r.text };
  }
  shutdown(o?: CallOptions): Promise<HttpResponse> {
    return this.http.post('/v1/admin/shutdown', {}, o);
  }

  /** A 200's body as the contract's schema types it; another status is an error naming the answer. */
  protected typed<S extends z.ZodTypeAny>(method: string, path: string, schema: S, r: HttpResponse): z.infer<S> {
    if (r.status !== 200) throw new Error(`${method} ${this.url}${path} answered ${r.status}: ${r.text.slice(0, 200)}`);
    return conform(`${method} ${this.url}${path}`, schema, r.json) as z.infer<S>;
  }
}

export class QueenClient extends ServiceClient {
  health(): Promise<HttpResponse> {
    return this.http.get('/health');
  }
  systemHealth(o?: CallOptions): Promise<HttpResponse> {
    return this.http.get('/v2/health', o);
  }
  workers(o?: CallOptions): Promise<HttpResponse> {
    return this.http.get('/v2/workers/list', o);
  }
  hives(o?: CallOptions): Promise<HttpResponse> {
    return this.http.get('/v2/registry/beehives/list', o);
  }
  /** The system view (§1), typed; a 200 that does not match is a ContractViolation. */
  async systemView(o?: CallOptions): Promise<SystemHealth> {
    return this.typed('GET', '/v2/health', SystemHealthSchema, await this.systemHealth(o));
  }
  async hiveList(o?: CallOptions): Promise<QueenHive[]> {
    return this.typed('GET', '/v2/registry/beehives/list', QueenHiveListSchema, await this.hives(o)).nodes;
  }
  async workerList(o?: CallOptions): Promise<QueenWorker[]> {
    return this.typed('GET', '/v2/workers/list', QueenWorkerListSchema, await this.workers(o)).workers;
  }
  addHive(node_name: string, url: string, o?: CallOptions): Promise<HttpResponse> {
    return this.http.post('/v2/registry/beehives/add', { node_name, url }, o);
  }
  submitTask(task: TaskRequest, o?: StreamOptions): Promise<StreamResponse> {
    return this.http.stream('/v2/tasks', task, o, InferenceEventSchema);
  }
  inference(task: TaskRequest, o?: StreamOptions): Promise<StreamResponse> {
    return this.http.stream('/v1/inference', task, o, InferenceEventSchema);
  }
  shutdownWorker(worker_id: string, o?: CallOptions): Promise<HttpResponse> {
    return this.http.post('/v2/workers/shutdown', { worker_id }, o);
  }
}

export class HiveClient extends ServiceClient {
  health(deep = false): Promise<HttpResponse> {
    return this.http.get(deep ? '/v1/health?deep=1' : '/v1/health');
  }
  async workers(o?: CallOptions): Promise<WorkerInfo[]> {
    return this.typed('GET', '/v1/workers/list', HiveWorkerListSchema, await this.http.get('/v1/workers/list', o))
      .workers;
  }
  spawn(model_ref: string, o?: CallOptions): Promise<HttpResponse> {
    return this.http.post('/v1/workers/spawn', { model_ref, backend: 'cpu', device: 0 }, o);
  }
  shutdownWorker(worker_id: string, o?: CallOptions): Promise<HttpResponse> {
    return this.http.post('/v1/workers/shutdown', { worker_id }, o);
  }
  ready(body: Record<string, unknown>, o?: CallOptions): Promise<HttpResponse> {
    return this.http.post('/v1/workers/ready', body, o);
  }
  models(): Promise<HttpResponse> {
    return this.http.get('/v1/models');
  }
  /** The catalog (§2), typed. */
  async catalog(): Promise<CatalogModel[]> {
    return this.typed('GET', '/v1/models', CatalogSchema, await this.models()).models;
  }
  download(model_ref: string, o?: CallOptions): Promise<HttpResponse> {
    return this.http.post('/v1/models/download', { model_ref }, o);
  }
  downloadProgress(id: string, o?: StreamOptions): Promise<StreamResponse> {
    return this.http.stream(
      `/v1/models/download/progress?id=${encodeURIComponent(id)}`,
      undefined,
      o,
      DownloadProgressSchema,
    );
  }
}

export class WorkerClient extends ServiceClient {
  health(): Promise<HttpResponse> {
    return this.http.get('/health');
  }
  ready(): Promise<HttpResponse> {
    return this.http.get('/v1/ready');
  }
  inference(body: Record<string, unknown>, o?: StreamOptions): Promise<StreamResponse> {
    return this.http.stream('/v1/inference', body, o, InferenceEventSchema);
  }
  cancel(job_id: string, o?: CallOptions): Promise<HttpResponse> {
    return this.http.delete(`/v1/inference/${encodeURIComponent(job_id)}`, o);
  }
  loadingProgress(o?: StreamOptions): Promise<StreamResponse> {
    return this.http.stream('/v1/loading/progress', undefined, o, LoadingProgressSchema);
  }
}

export interface HubModel {
  model_ref: string;
  aliases: string[];
  file: string;
  size_bytes: number;
  sha256: string;
  vram_bytes: number;
}

export class HubClient extends ServiceClient {
  async models(): Promise<HubModel[]> {
    const r = await this.http.get('/api/models');
    if (r.status !== 200) throw new Error(`hub /api/models answered ${r.status}`);
    return r.json.models as HubModel[];
  }
  async model(refOrAlias: string): Promise<HubModel> {
    const m = (await this.models()).find((x) => x.model_ref === refOrAlias || x.aliases.includes(refOrAlias));
    if (!m) throw new Error(`the hub does not list a model "${refOrAlias}"`);
    return m;
  }
  /** How many times the hub served each file. */
  async requests(file: string): Promise<number> {
    const r = await this.http.get('/_stats');
    return Number(r.json?.requests?.[file] ?? 0);
  }
  fault(body: Record<string, unknown>): Promise<HttpResponse> {
    return this.http.post('/_faults', body);
  }
}
