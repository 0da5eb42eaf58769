// Hive → queen heartbeats (POST /v2/hives/heartbeat): periodic, plus a debounced one soon after any
// worker state change so the queen's view is fresh. While the queen is unreachable the hive keeps
// retrying; every heartbeat carries the full current worker list, so nothing changed meanwhile is lost.

import { DownstreamError, callJson } from '../shared/downstream.ts';
import type { Logger } from '../shared/log.ts';

const DEBOUNCE_MS = 50;

export class QueenReporter {
  private timer: NodeJS.Timeout | null = null;
  private debounce: NodeJS.Timeout | null = null;
  private inFlight = false;
  private again = false;
  private failing = false;
  /** Status/code of the last failure: a new kind of failure (e.g. 401 after "unreachable") is warned again. */
  private failReason = '';
  private stopped = false;

  constructor(
    private readonly queenUrl: string | undefined,
    private readonly intervalMs: number,
    private readonly token: string | undefined,
    private readonly payload: () => unknown,
    private readonly log: Logger,
  ) {}

  start(): void {
    if (!this.queenUrl) {
      this.log.info('RBEE_QUEEN_URL not set: no heartbeats to a queen', { event: 'heartbeat.disabled' });
      return;
    }
    void this.send();
    this.timer = setInterval(() => void this.send(), Math.max(this.intervalMs, 10));
    this.timer.unref();
  }

  /** A worker changed state: report it soon (coalescing bursts of changes). */
  poke(): void {
    if (!this.queenUrl || this.stopped || this.debounce) return;
    this.debounce = setTimeout(() => {
      this.debounce = null;
      void this.send();
    }, DEBOUNCE_MS);
    this.debounce.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.debounce) clearTimeout(this.debounce);
  }

  private async send(): Promise<void> {
    if (this.stopped || !this.queenUrl) return;
    if (this.inFlight) {
      this.again = true; // send once more with the newest state after the current call
      return;
    }
    this.inFlight = true;
    try {
      await callJson('POST', `${this.queenUrl}/v2/hives/heartbeat`, this.payload(), {
        token: this.token,
        timeoutMs: Math.min(Math.max(this.intervalMs, 1000), 5000),
      });
      if (this.failing) this.log.info('heartbeats to the queen work again', { event: 'heartbeat.recovered' });
      this.failing = false;
    } catch (e) {
      // Warn once per outage; the retries during it are debug noise. Status and code tell an auth
      // problem (401) from an unreachable queen (status 0).
      const why = {
        event: 'heartbeat.failed',
        err: String((e as Error).message),
        ...(e instanceof DownstreamError ? { status: e.status, code: e.code } : {}),
      };
      const reason = `${why.status ?? ''}/${why.code ?? why.err}`;
      if (!this.failing || reason !== this.failReason)
        this.log.warn('heartbeat to the queen failed; will keep retrying', why);
      else this.log.debug('heartbeat to the queen failed again', why);
      this.failing = true;
      this.failReason = reason;
    } finally {
      this.inFlight = false;
      if (this.again && !this.stopped) {
        this.again = false;
        void this.send();
      }
    }
  }
}
