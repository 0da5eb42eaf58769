// Mock worker entry point (llm-worker-rbee compatible, contract §3).
// Startup order matters to the hive: bind HTTP first (so /v1/ready can say "loading"), load the model,
// then send the ready callback, then heartbeat. Exit codes: 2 = bad command line or env, 1 = the model could
// not be loaded or the hive never accepted the ready callback, 0 = graceful shutdown.

import { setTimeout as sleep } from 'node:timers/promises';
import { bindHost, envInt, envString } from '../shared/config.ts';
import { createLogger } from '../shared/log.ts';
import { installShutdown } from '../shared/lifecycle.ts';
import { CliError, parseWorkerArgs, type WorkerArgs } from './cli.ts';
import { heartbeatUrl, sendReadyCallback, startHeartbeats } from './callback.ts';
import { loadModel, type LoadedModel } from './loader.ts';
import { createWorkerServer } from './server.ts';

let args: WorkerArgs;
try {
  args = parseWorkerArgs(process.argv.slice(2));
} catch (e) {
  if (!(e instanceof CliError)) throw e;
  process.stderr.write(`mock-worker: ${e.message}\n`);
  process.exit(2);
}

const token = envString('LLORCH_API_TOKEN');
const loadMs = envInt('MOCK_LOAD_MS', 200);
const readyRetryMs = envInt('MOCK_READY_RETRY_MS', 30_000);
const heartbeatMs = envInt('RBEE_HEARTBEAT_INTERVAL_MS', 30_000);
const graceMs = envInt('RBEE_SHUTDOWN_GRACE_MS', 30_000);
const slots = envInt('MOCK_SLOTS', 1);
if (slots < 1) {
  process.stderr.write('mock-worker: MOCK_SLOTS must be at least 1\n');
  process.exit(2);
}

const log = createLogger('worker', { worker_id: args.workerId });
let stopHeartbeats = () => {};

const worker = createWorkerServer({
  workerId: args.workerId,
  modelRef: args.modelRef,
  slots,
  tokenDelayMs: envInt('MOCK_TOKEN_DELAY_MS', 20),
  kvBytesPerToken: envInt('MOCK_KV_BYTES_PER_TOKEN', 0),
  token,
  log,
  onShutdownRequested: (reason) => beginShutdown(reason),
});
const { service, engine, state } = worker;

const beginShutdown = installShutdown(log, async () => {
  state.phase = 'stopping';
  stopHeartbeats();
  // Running jobs may finish; shortly before the grace period runs out they are cancelled, so their streams
  // still end with `end`/CANCELLED and [DONE] instead of being cut off by the forced exit.
  const cancelTimer = setTimeout(() => engine.cancelAll('shutdown'), Math.max(0, graceMs - 1000));
  cancelTimer.unref();
  await engine.idle();
  clearTimeout(cancelTimer);
  // Let finished responses flush; do not wait on idle keep-alive clients.
  await Promise.race([service.close(), sleep(1000)]);
});

const port = await service.listen(args.port, bindHost()).catch((e: Error) => {
  log.error(`cannot listen on port ${args.port}: ${e.message}`, { event: 'service.listen_failed' });
  process.exit(1);
});
state.url = `http://${envString('RBEE_WORKER_HOST', '127.0.0.1')}:${port}`;
log.info('listening', { event: 'service.listening', port, url: state.url, model_ref: args.modelRef });

// Load the model; the memory stays referenced (module scope) for the life of the process.
let model: LoadedModel;
try {
  const t0 = performance.now();
  model = await loadModel(args.model, loadMs, {
    onHeader: (h) => {
      if (h.model_ref !== args.modelRef) {
        log.warn(`model file header says ${h.model_ref}, command line says ${args.modelRef}`, {
          event: 'model.ref_mismatch',
          file_model_ref: h.model_ref,
        });
      }
    },
    onLayer: (layersLoaded, layersTotal, bytes) => {
      state.vramBytes = bytes;
      state.progress.push({
        stage: 'loading_to_vram',
        worker_id: args.workerId,
        layers_loaded: layersLoaded,
        layers_total: layersTotal,
      });
    },
  });
  state.modelLoaded = true;
  if (state.phase === 'loading') state.phase = 'ready';
  state.progress.push({ stage: 'ready', worker_id: args.workerId });
  state.progress.end();
  log.info('model loaded', {
    event: 'model.loaded',
    model_ref: args.modelRef,
    vram_bytes: model.header.vram_bytes,
    layers: model.header.layers,
    load_ms: Math.round(performance.now() - t0),
  });
} catch (e) {
  log.error(`model load failed: ${(e as Error).message}`, {
    event: 'model.load_failed',
    model_path: args.model,
    model_ref: args.modelRef,
  });
  process.exit(1);
}

try {
  await sendReadyCallback(
    args.callbackUrl,
    { worker_id: args.workerId, url: state.url, model_ref: args.modelRef, backend: args.backend, device: args.device },
    { token, retryForMs: readyRetryMs, log },
  );
  log.info('ready callback accepted', {
    event: 'worker.ready_callback_sent',
    callback_url: args.callbackUrl,
    url: state.url,
  });
} catch (e) {
  log.error(`ready callback never accepted: ${(e as Error).message}`, {
    event: 'worker.ready_callback_failed',
    callback_url: args.callbackUrl,
  });
  process.exit(1);
}

if (state.phase !== 'stopping') {
  stopHeartbeats = startHeartbeats(heartbeatUrl(args.callbackUrl), args.workerId, heartbeatMs, { token, log });
}
