// queen-rbee process entry point (contract §1): config from the environment, then run until shut down.

import { createLogger } from '../shared/log.ts';
import { installShutdown } from '../shared/lifecycle.ts';
import { loadQueenConfig } from './config.ts';
import { createQueen } from './app.ts';

const cfg = loadQueenConfig();
const log = createLogger('queen');
let begin: (reason: string) => void = () => {};
let queen;
try {
  queen = createQueen(cfg, { log, onShutdownRequest: (reason) => begin(reason) });
} catch (e) {
  // Typically an unreadable RBEE_JWT_PUBLIC_KEY: refuse to start rather than run without client auth.
  log.error('queen failed to start', { event: 'service.start_failed', err: String((e as Error)?.message ?? e) });
  process.exit(2);
}
const app = queen;
begin = installShutdown(log, (reason) => app.drain(reason));

app.start().catch((e) => {
  log.error('queen failed to start', { event: 'service.start_failed', err: String((e as Error)?.stack ?? e) });
  process.exit(1);
});
