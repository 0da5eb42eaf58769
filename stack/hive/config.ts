// rbee-hive configuration: every knob of contract §2 with its default, read once at start.

import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { envInt, envRange, envString } from '../shared/config.ts';

export type RestartPolicy = 'never' | 'on-crash';

export interface HiveConfig {
  port: number;
  bindHost: string;
  nodeName: string;
  /** URL the hive advertises; undefined = http://127.0.0.1:<bound port>. */
  hiveUrl?: string;
  queenUrl?: string;
  dbPath?: string;
  modelsDir: string;
  hubUrl?: string;
  /** Command line that starts a worker, split on whitespace; the worker CLI args are appended. */
  workerCmd: string[];
  /**
   * Directory for each worker's stdout/stderr (`<worker_id>.log`, appended). Unset: the hive copies its
   * workers' lines into its own stdout, which ends when the hive does — so a worker that outlives a hive
   * restart would log into a closed pipe and its lines would be lost.
   */
  workerLogDir?: string;
  workerHost: string;
  /**
   * `process`: the hive starts each worker as its child. `request`: it lists the workers it wants at
   * GET /v1/launcher/workers and another party starts them (each in its own container, reached at
   * http://<worker_id>:<port>) and reports at POST /v1/launcher/status. See launcher.ts.
   */
  workerLauncher: 'process' | 'request';
  workerPortRange: [number, number];
  heartbeatIntervalMs: number;
  workerHeartbeatTimeoutMs: number;
  workerLoadingTimeoutMs: number;
  monitorIntervalMs: number;
  workerIdleTimeoutMs: number;
  restartPolicy: RestartPolicy;
  maxRestarts: number;
  maxWorkers: number;
  shutdownGraceMs: number;
  token?: string;
}

const here = path.dirname(fileURLToPath(import.meta.url));
// Run from a bundle (dist/hive.mjs beside dist/worker.mjs) or from source (through tsx).
const DEFAULT_WORKER_CMD = import.meta.url.endsWith('.mjs')
  ? `node ${path.join(here, 'worker.mjs')}`
  : `node --import tsx ${path.resolve(here, '../worker/main.ts')}`;

export function loadHiveConfig(): HiveConfig {
  const policy = envString('RBEE_RESTART_POLICY', 'never')!;
  if (policy !== 'never' && policy !== 'on-crash') {
    process.stderr.write(`invalid RBEE_RESTART_POLICY=${JSON.stringify(policy)}: expected never or on-crash\n`);
    process.exit(2);
  }
  const launcher = envString('RBEE_WORKER_LAUNCHER', 'process')!;
  if (launcher !== 'process' && launcher !== 'request') {
    process.stderr.write(`invalid RBEE_WORKER_LAUNCHER=${JSON.stringify(launcher)}: expected process or request\n`);
    process.exit(2);
  }
  return {
    port: envInt('RBEE_HIVE_PORT', 9200),
    bindHost: envString('RBEE_BIND_HOST', '127.0.0.1')!,
    nodeName: envString('RBEE_NODE_NAME', os.hostname())!,
    hiveUrl: envString('RBEE_HIVE_URL'),
    queenUrl: envString('RBEE_QUEEN_URL'),
    dbPath: envString('RBEE_HIVE_DB'),
    modelsDir: path.resolve(envString('RBEE_MODELS_DIR', './models')!),
    hubUrl: envString('RBEE_MODEL_HUB_URL'),
    workerCmd: envString('RBEE_WORKER_CMD', DEFAULT_WORKER_CMD)!.trim().split(/\s+/),
    workerLogDir: envString('RBEE_WORKER_LOG_DIR'),
    workerHost: envString('RBEE_WORKER_HOST', '127.0.0.1')!,
    workerLauncher: launcher === 'request' ? 'request' : 'process',
    workerPortRange: envRange('RBEE_WORKER_PORT_RANGE', [8081, 9000]),
    heartbeatIntervalMs: envInt('RBEE_HEARTBEAT_INTERVAL_MS', 30_000),
    workerHeartbeatTimeoutMs: envInt('RBEE_WORKER_HEARTBEAT_TIMEOUT_MS', 60_000),
    workerLoadingTimeoutMs: envInt('RBEE_WORKER_LOADING_TIMEOUT_MS', 30_000),
    monitorIntervalMs: envInt('RBEE_MONITOR_INTERVAL_MS', 30_000),
    workerIdleTimeoutMs: envInt('RBEE_WORKER_IDLE_TIMEOUT_MS', 300_000),
    restartPolicy: policy,
    maxRestarts: envInt('RBEE_MAX_RESTARTS', 3),
    maxWorkers: envInt('RBEE_MAX_WORKERS', 8),
    shutdownGraceMs: envInt('RBEE_SHUTDOWN_GRACE_MS', 30_000),
    token: envString('LLORCH_API_TOKEN'),
  };
}
