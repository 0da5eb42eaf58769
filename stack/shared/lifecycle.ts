// Graceful shutdown (contract §0): SIGTERM, SIGINT and POST /v1/admin/shutdown all run the same
// service-specific drain, bounded by RBEE_SHUTDOWN_GRACE_MS; whatever is left after that is cut off.

import type { Logger } from './log.ts';
import { envInt } from './config.ts';

export function installShutdown(log: Logger, drain: (reason: string) => Promise<void>): (reason: string) => void {
  const grace = envInt('RBEE_SHUTDOWN_GRACE_MS', 30_000);
  let started = false;
  const begin = (reason: string) => {
    if (started) return;
    started = true;
    log.info('shutdown started', { event: 'shutdown.started', reason });
    const timer = setTimeout(() => {
      log.warn('shutdown grace period ran out; exiting', { event: 'shutdown.forced' });
      process.exit(0);
    }, grace);
    timer.unref();
    drain(reason)
      .catch((e) => log.error('shutdown drain failed', { err: String(e) }))
      .finally(() => {
        log.info('shutdown complete', { event: 'shutdown.complete' });
        process.exit(0);
      });
  };
  process.on('SIGTERM', () => begin('SIGTERM'));
  process.on('SIGINT', () => begin('SIGINT'));
  return begin;
}
