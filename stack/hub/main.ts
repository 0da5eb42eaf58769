// Model hub entry point. Env: HUB_PORT [9300] (0 = any free port, logged), HUB_BANDWIDTH_BPS [0],
// HUB_EXTRA_MODELS_JSON (extra catalogue entries), RBEE_BIND_HOST [127.0.0.1].

import { bindHost, envInt, envString } from '../shared/config.ts';
import { createLogger } from '../shared/log.ts';
import { installShutdown } from '../shared/lifecycle.ts';
import { Catalog, DEFAULT_MODELS, parseExtraModels, type ModelSpec } from './catalog.ts';
import { createHub } from './server.ts';

const log = createLogger('hub');

let catalog: Catalog;
try {
  const extra: ModelSpec[] = parseExtraModels(envString('HUB_EXTRA_MODELS_JSON', '[]')!);
  catalog = new Catalog([...DEFAULT_MODELS, ...extra]);
} catch (e) {
  process.stderr.write(`hub: ${(e as Error).message}\n`);
  process.exit(2);
}

const bandwidthBps = envInt('HUB_BANDWIDTH_BPS', 0);
const hub = createHub({ catalog, bandwidthBps, log });

installShutdown(log, async () => {
  // Downloads in flight are cut: the hub has nothing to hand over, and the harness stops it last.
  const closed = hub.service.close();
  hub.service.destroySockets();
  await closed;
});

const port = await hub.service.listen(envInt('HUB_PORT', 9300), bindHost()).catch((e: Error) => {
  log.error(`cannot listen: ${e.message}`, { event: 'service.listen_failed' });
  process.exit(1);
});
log.info('listening', { event: 'service.listening', port, host: bindHost(), bandwidth_bps: bandwidthBps });
// Generate every model's bytes and checksum now, while the stack's other services are still starting,
// instead of inside the first hive's index request (the first model download waited ~0.3 s for it).
setImmediate(() => catalog.list());
