// rbee-hive process entry point (contract §2): config from the environment, then run until shut down.

import { createLogger } from '../shared/log.ts';
import { installShutdown } from '../shared/lifecycle.ts';
import { loadHiveConfig } from './config.ts';
import { createHive } from './app.ts';

const cfg = loadHiveConfig();
const log = createLogger('hive');
let begin: (reason: string) => void = () => {};
const hive = createHive(cfg, { log, onShutdownRequest: (reason) => begin(reason) });
begin = installShutdown(log, (reason) => hive.drain(reason));
// If the hive exits for any other reason, the workers it started must not outlive it.
process.on('exit', () => hive.workers.killAllSync());

hive.start().catch((e) => {
  log.error('hive failed to start', { event: 'service.start_failed', err: String((e as Error)?.stack ?? e) });
  process.exit(1);
});
