// queen-rbee configuration: the knobs of contract §1 with their defaults, read once at start.

import { envInt, envString } from '../shared/config.ts';

export interface QueenConfig {
  port: number;
  bindHost: string;
  dbPath?: string;
  /** PEM text (or a path to a PEM file) of the key that signs client JWTs. */
  jwtPublicKey?: string;
  hiveTimeoutMs: number;
  cbFailures: number;
  cbCooldownMs: number;
  workerReadyTimeoutMs: number;
  shutdownGraceMs: number;
  token?: string;
}

export function loadQueenConfig(): QueenConfig {
  return {
    port: envInt('RBEE_QUEEN_PORT', 8080),
    bindHost: envString('RBEE_BIND_HOST', '127.0.0.1')!,
    dbPath: envString('RBEE_QUEEN_DB'),
    jwtPublicKey: envString('RBEE_JWT_PUBLIC_KEY'),
    hiveTimeoutMs: envInt('RBEE_HIVE_TIMEOUT_MS', 15_000),
    cbFailures: Math.max(1, envInt('RBEE_CB_FAILURES', 3)),
    cbCooldownMs: envInt('RBEE_CB_COOLDOWN_MS', 5000),
    workerReadyTimeoutMs: envInt('RBEE_WORKER_READY_TIMEOUT_MS', 300_000),
    shutdownGraceMs: envInt('RBEE_SHUTDOWN_GRACE_MS', 30_000),
    token: envString('LLORCH_API_TOKEN'),
  };
}
