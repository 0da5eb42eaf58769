// Model provisioning (contract §2 "Model provisioning"): resolve a model_ref or alias through the hub's
// index, download it once however many callers ask (one download per model at a time, same download_id),
// verify the hub's sha256, then record it in the catalog. Every download keeps its progress events so a
// late subscriber gets the whole stream replayed from `started` — also after it finished.

import fs from 'node:fs';
import path from 'node:path';
import { createHash, randomUUID } from 'node:crypto';
import { request } from 'undici';
import type { Counter } from 'prom-client';
import { HttpError, retryable } from '../shared/http.ts';
import type { Logger } from '../shared/log.ts';
import type { HiveStore } from './store.ts';
import type { CatalogEntry } from './types.ts';

export interface HubModel {
  model_ref: string;
  aliases: string[];
  file: string;
  size_bytes: number;
  sha256: string;
  vram_bytes?: number;
  layers?: number;
  /** The hub's own download path, when it lists one. */
  path?: string;
}

export type ProgressEvent = { stage: 'started' | 'downloading' | 'complete' | 'error'; [k: string]: unknown };

/** Progress is reported at least every PROGRESS_BYTES or PROGRESS_MS, whichever comes first. */
const PROGRESS_BYTES = 64 * 1024;
const PROGRESS_MS = 100;
const HUB_INDEX_TTL_MS = 2000;

export class Download {
  readonly events: ProgressEvent[] = [];
  finished = false;
  private readonly listeners = new Set<(e: ProgressEvent | null) => void>();
  result!: Promise<CatalogEntry>;

  constructor(
    readonly id: string,
    readonly modelRef: string,
  ) {}

  emit(e: ProgressEvent): void {
    this.events.push(e);
    for (const l of this.listeners) l(e);
  }

  finish(): void {
    this.finished = true;
    for (const l of this.listeners) l(null);
    this.listeners.clear();
  }

  /** Replays everything so far, then follows; `fn(null)` marks the end. */
  subscribe(fn: (e: ProgressEvent | null) => void): () => void {
    for (const e of this.events) fn(e);
    if (this.finished) {
      fn(null);
      return () => {};
    }
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
}

export interface ProvisionerMetrics {
  downloaded: Counter<string>;
  bytes: Counter<string>;
}

export class Provisioner {
  readonly catalog = new Map<string, CatalogEntry>();
  private readonly active = new Map<string, Download>();
  private readonly byId = new Map<string, Download>();
  private hubIndex: { at: number; models: HubModel[] } | null = null;

  constructor(
    private readonly hubUrl: string | undefined,
    private readonly modelsDir: string,
    private readonly store: HiveStore,
    private readonly log: Logger,
    private readonly metrics: ProvisionerMetrics,
  ) {
    fs.mkdirSync(modelsDir, { recursive: true });
  }

  /** Reload the catalog from the store, dropping entries whose file is gone. */
  loadCatalog(): void {
    for (const e of this.store.loadModels()) {
      if (fs.existsSync(e.local_path)) this.catalog.set(e.model_ref, e);
      else {
        this.log.warn('catalog entry without its file; dropped', {
          event: 'catalog.missing_file',
          model_ref: e.model_ref,
          local_path: e.local_path,
        });
        this.store.deleteModel(e.model_ref);
      }
    }
  }

  get activeCount(): number {
    return this.active.size;
  }

  download(id: string): Download | undefined {
    return this.byId.get(id);
  }

  /** Canonical ref for a ref or alias, as far as known without asking the hub. */
  canonicalFromCache(ref: string): string | undefined {
    if (this.catalog.has(ref)) return ref;
    return this.hubIndex?.models.find((m) => m.model_ref === ref || m.aliases.includes(ref))?.model_ref;
  }

  /** Catalog entry for a ref or alias, without network. */
  cached(ref: string): CatalogEntry | undefined {
    const canonical = this.canonicalFromCache(ref);
    const entry = canonical ? this.catalog.get(canonical) : undefined;
    return entry && fs.existsSync(entry.local_path) ? entry : undefined;
  }

  async resolve(ref: string): Promise<HubModel> {
    const find = (models: HubModel[]) => models.find((m) => m.model_ref === ref || m.aliases.includes(ref));
    const fresh = this.hubIndex && Date.now() - this.hubIndex.at < HUB_INDEX_TTL_MS;
    const hit = fresh ? find(this.hubIndex!.models) : undefined;
    if (hit) return hit;
    const model = find(await this.fetchIndex());
    if (!model)
      throw new HttpError(404, 'MODEL_NOT_FOUND', `model '${ref}' is not known to the model hub`, { model_ref: ref });
    return model;
  }

  /**
   * Start (or join) the download of `ref`; resolves immediately with the catalog entry when the model is
   * already there.
   */
  async begin(ref: string, log: Logger): Promise<{ entry: CatalogEntry } | { download: Download }> {
    const cached = this.cached(ref);
    if (cached) return { entry: cached };
    const model = await this.resolve(ref);
    const known = this.cached(model.model_ref);
    if (known) return { entry: known };
    const running = this.active.get(model.model_ref);
    if (running) return { download: running };
    const dl = new Download(`dl-${randomUUID()}`, model.model_ref);
    this.active.set(model.model_ref, dl);
    this.byId.set(dl.id, dl);
    dl.result = this.run(dl, model, log).finally(() => {
      this.active.delete(model.model_ref);
      dl.finish();
    });
    // Callers that only started the download (POST /v1/models/download) never await the result.
    dl.result.catch(() => {});
    return { download: dl };
  }

  /** The model's catalog entry, downloading it first if needed (spawn path). */
  async ensure(ref: string, log: Logger): Promise<CatalogEntry> {
    const r = await this.begin(ref, log);
    return 'entry' in r ? r.entry : r.download.result;
  }

  private async fetchIndex(): Promise<HubModel[]> {
    if (!this.hubUrl)
      throw retryable(503, 'MODEL_HUB_UNAVAILABLE', 'RBEE_MODEL_HUB_URL is not set; cannot provision models', 5000);
    try {
      const res = await request(`${this.hubUrl}/api/models`, { headersTimeout: 5000, bodyTimeout: 5000 });
      const body = (await res.body.json()) as { models?: HubModel[] };
      if (res.statusCode !== 200 || !Array.isArray(body.models)) throw new Error(`hub answered ${res.statusCode}`);
      this.hubIndex = { at: Date.now(), models: body.models };
      return body.models;
    } catch (e) {
      throw retryable(
        503,
        'MODEL_HUB_UNAVAILABLE',
        `model hub ${this.hubUrl} unreachable: ${(e as Error).message}`,
        2000,
      );
    }
  }

  private async run(dl: Download, model: HubModel, reqLog: Logger): Promise<CatalogEntry> {
    const log = reqLog.child({ model_ref: model.model_ref, download_id: dl.id });
    const file = path.basename(model.file);
    const finalPath = path.join(this.modelsDir, file);
    const partPath = `${finalPath}.part`;
    const ids = { download_id: dl.id, model_ref: model.model_ref };
    dl.emit({ stage: 'started', ...ids, bytes_total: model.size_bytes });
    log.info('model download started', { event: 'model.download.started', bytes_total: model.size_bytes });
    const started = Date.now();
    try {
      const reference = model.model_ref.slice(model.model_ref.indexOf(':') + 1);
      const url = this.hubUrl + (model.path ?? `/${reference}/resolve/main/${encodeURIComponent(model.file)}`);
      const sha256 = await this.fetchTo(url, partPath, model.size_bytes, (bytes) =>
        dl.emit({
          stage: 'downloading',
          ...ids,
          bytes_downloaded: bytes,
          bytes_total: model.size_bytes,
          fraction: bytes / model.size_bytes,
        }),
      );
      if (sha256 !== model.sha256.toLowerCase()) {
        throw new HttpError(
          502,
          'MODEL_CHECKSUM_MISMATCH',
          `checksum mismatch for ${model.model_ref}: expected sha256 ${model.sha256}, got ${sha256}`,
        );
      }
      fs.renameSync(partPath, finalPath);
      const entry: CatalogEntry = {
        model_ref: model.model_ref,
        local_path: finalPath,
        size_bytes: model.size_bytes,
        sha256,
        downloaded_at: new Date().toISOString(),
      };
      this.catalog.set(entry.model_ref, entry);
      this.store.putModel(entry);
      this.metrics.downloaded.inc();
      dl.emit({ stage: 'complete', ...ids, local_path: finalPath, sha256 });
      log.info('model download complete', {
        event: 'model.download.complete',
        local_path: finalPath,
        sha256,
        duration_ms: Date.now() - started,
      });
      return entry;
    } catch (e) {
      fs.rmSync(partPath, { force: true });
      const err =
        e instanceof HttpError
          ? e
          : new HttpError(
              502,
              'MODEL_DOWNLOAD_FAILED',
              `download of ${model.model_ref} failed: ${(e as Error).message}`,
            );
      dl.emit({ stage: 'error', ...ids, code: err.code, message: err.message });
      log.error('model download failed', { event: 'model.download.failed', code: err.code, err: err.message });
      throw err;
    }
  }

  /** Stream `url` into `dest`, reporting progress; returns the sha256 of what was written. */
  private async fetchTo(url: string, dest: string, total: number, progress: (bytes: number) => void): Promise<string> {
    const res = await request(url, { headersTimeout: 10_000, bodyTimeout: 30_000 });
    if (res.statusCode !== 200) {
      await res.body.dump();
      throw new Error(`hub answered ${res.statusCode} for ${url}`);
    }
    const hash = createHash('sha256');
    const fh = await fs.promises.open(dest, 'w');
    let bytes = 0;
    let reported = 0;
    let reportedAt = Date.now();
    try {
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        bytes += chunk.length;
        if (bytes > total) throw new Error(`hub sent more than the ${total} bytes it lists`);
        hash.update(chunk);
        await fh.write(chunk);
        this.metrics.bytes.inc(chunk.length);
        if (bytes - reported >= PROGRESS_BYTES || Date.now() - reportedAt >= PROGRESS_MS) {
          reported = bytes;
          reportedAt = Date.now();
          progress(bytes);
        }
      }
    } finally {
      await fh.close();
    }
    if (bytes !== total) throw new Error(`transfer ended after ${bytes} of ${total} bytes`);
    if (reported < bytes) progress(bytes);
    return hash.digest('hex');
  }
}
