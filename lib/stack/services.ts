// Which services a stack consists of and the environment each one gets. Shared by every runtime: a
// runtime only decides addresses (loopback ports or container names) and how a service is started.

import type { StackSpec } from './spec.ts';
import type { StackSecrets } from './secrets.ts';

export type ServiceKind = 'hub' | 'queen' | 'hive' | 'worker';

export interface ServicePlan {
  name: string; // "hub", "queen", "hive-a"
  kind: ServiceKind;
  env: Record<string, string>;
  /** Command-line arguments after the service's bundle (see bundles.ts). */
  args?: string[];
  /** Public route that answers 2xx once the service is up. */
  healthPath: string;
}

/** How services find each other; each runtime provides its own. */
export interface Addressing {
  /** URL other services use to reach `name`. */
  internalUrl(name: string): string;
  /** Port `name` listens on (inside its container, or on loopback). */
  listenPort(name: string): number;
  /** Writable directory of `name`, as the service sees it. */
  dataDir(name: string): string;
  bindHost: string;
  /** Command line a hive uses to start a worker. */
  workerCmd: string;
  /** Address a hive's workers advertise, and the port range they take. */
  workerHost(hive: string): string;
  workerPortRange(hive: string): string;
  /** `request`: hives ask for their workers (RBEE_WORKER_LAUNCHER) and the runtime starts each in its own container. */
  workerLauncher?: 'request';
}

/** Where, in a hive's data directory, its workers' own log files go (RBEE_WORKER_LOG_DIR). */
export const WORKER_LOG_DIR = 'worker-logs';

export const HEALTH_PATH: Record<ServiceKind, string> = {
  hub: '/health',
  queen: '/health',
  hive: '/v1/health',
  worker: '/health',
};

export function planServices(spec: StackSpec, secrets: StackSecrets, a: Addressing): ServicePlan[] {
  const t = spec.timings;
  const common: Record<string, string> = {
    RBEE_LOG_FORMAT: 'json',
    RBEE_BIND_HOST: a.bindHost,
    RBEE_SHUTDOWN_GRACE_MS: String(t.shutdownGraceMs),
    ...(spec.auth ? { LLORCH_API_TOKEN: secrets.serviceToken } : {}),
  };
  const plans: ServicePlan[] = [
    {
      name: 'hub',
      kind: 'hub',
      healthPath: HEALTH_PATH.hub,
      env: {
        RBEE_LOG_FORMAT: 'json',
        RBEE_BIND_HOST: a.bindHost,
        HUB_PORT: String(a.listenPort('hub')),
        HUB_BANDWIDTH_BPS: String(spec.hubBandwidthBps),
      },
    },
    {
      name: 'queen',
      kind: 'queen',
      healthPath: HEALTH_PATH.queen,
      env: {
        ...common,
        RBEE_QUEEN_PORT: String(a.listenPort('queen')),
        RBEE_QUEEN_DB: `${a.dataDir('queen')}/queen.db`,
        RBEE_HIVE_TIMEOUT_MS: String(t.hiveTimeoutMs),
        RBEE_CB_FAILURES: String(t.cbFailures),
        RBEE_CB_COOLDOWN_MS: String(t.cbCooldownMs),
        RBEE_WORKER_READY_TIMEOUT_MS: String(t.workerReadyTimeoutMs),
        ...(spec.jwt ? { RBEE_JWT_PUBLIC_KEY: secrets.jwtPublicKeyPem } : {}),
      },
    },
  ];
  for (const hive of spec.hives) {
    plans.push({
      name: hive.name,
      kind: 'hive',
      healthPath: HEALTH_PATH.hive,
      env: {
        ...common,
        ...spec.workerEnv,
        RBEE_HIVE_PORT: String(a.listenPort(hive.name)),
        RBEE_NODE_NAME: hive.name,
        RBEE_HIVE_URL: a.internalUrl(hive.name),
        ...(hive.heartbeatToQueen ? { RBEE_QUEEN_URL: a.internalUrl('queen') } : {}),
        RBEE_HIVE_DB: `${a.dataDir(hive.name)}/hive.db`,
        RBEE_MODELS_DIR: `${a.dataDir(hive.name)}/models`,
        RBEE_MODEL_HUB_URL: a.internalUrl('hub'),
        RBEE_WORKER_CMD: a.workerCmd,
        // Workers write their own log files: their lines must survive a hive restart (read by Stack.logs).
        RBEE_WORKER_LOG_DIR: `${a.dataDir(hive.name)}/${WORKER_LOG_DIR}`,
        RBEE_WORKER_HOST: a.workerHost(hive.name),
        RBEE_WORKER_PORT_RANGE: a.workerPortRange(hive.name),
        ...(a.workerLauncher ? { RBEE_WORKER_LAUNCHER: a.workerLauncher } : {}),
        RBEE_HEARTBEAT_INTERVAL_MS: String(t.heartbeatIntervalMs),
        RBEE_WORKER_HEARTBEAT_TIMEOUT_MS: String(t.workerHeartbeatTimeoutMs),
        RBEE_WORKER_LOADING_TIMEOUT_MS: String(t.workerLoadingTimeoutMs),
        RBEE_MONITOR_INTERVAL_MS: String(t.monitorIntervalMs),
        RBEE_WORKER_IDLE_TIMEOUT_MS: String(t.workerIdleTimeoutMs),
        ...hive.env,
      },
    });
  }
  return plans;
}

export interface ExternalWorkerOptions {
  workerId: string;
  /** The hive it calls back. */
  hive: string;
  modelRef: string;
  /** Model file path as the worker will see it. */
  modelPath: string;
  port: number;
  /** The service token it holds; default the stack's own (a wrong one for the auth scenarios). */
  token?: string;
}

/** A worker started outside any hive (contract §3 command line), calling back the given hive. */
export function planExternalWorker(
  spec: StackSpec,
  secrets: StackSecrets,
  a: Addressing,
  o: ExternalWorkerOptions,
): ServicePlan {
  return {
    name: o.workerId,
    kind: 'worker',
    healthPath: HEALTH_PATH.worker,
    args: [
      '--worker-id',
      o.workerId,
      '--model',
      o.modelPath,
      '--model-ref',
      o.modelRef,
      '--backend',
      'cpu',
      '--device',
      '0',
      '--port',
      String(o.port),
      '--callback-url',
      `${a.internalUrl(o.hive)}/v1/workers/ready`,
    ],
    env: {
      RBEE_LOG_FORMAT: 'json',
      RBEE_BIND_HOST: a.bindHost,
      RBEE_WORKER_HOST: a.workerHost(o.workerId),
      RBEE_HEARTBEAT_INTERVAL_MS: String(spec.timings.heartbeatIntervalMs),
      RBEE_SHUTDOWN_GRACE_MS: String(spec.timings.shutdownGraceMs),
      ...spec.workerEnv,
      ...(spec.auth || o.token ? { LLORCH_API_TOKEN: o.token ?? secrets.serviceToken } : {}),
    },
  };
}
