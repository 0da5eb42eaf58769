// Shapes the hive exposes on its API (contract §2) and keeps on disk.

import type { WorkerState } from './states.ts';

export interface WorkerInfo {
  worker_id: string;
  url: string;
  model_ref: string;
  backend: string;
  device: number;
  state: WorkerState;
  pid: number | null;
  started_at_ms: number;
  last_heartbeat_ms: number | null;
  failed_health_checks: number;
  restart_count: number;
  external: boolean;
}

/** What the store keeps per worker: the public info plus what a restarted hive needs to manage it. */
export interface PersistedWorker {
  info: WorkerInfo;
  port: number | null;
  model_path: string | null;
}

export interface CatalogEntry {
  model_ref: string;
  local_path: string;
  size_bytes: number;
  sha256: string;
  downloaded_at: string;
}
