// Per-hive circuit breaker (contract §1): after `threshold` consecutive failed calls it opens and calls
// fail fast; once the cooldown has passed it is half-open and lets exactly one trial call through; the
// trial's success closes it, its failure opens it again for another cooldown. The clock is injected so
// the transitions can be tested without waiting.

export type CircuitState = 'closed' | 'open' | 'half_open';

export class CircuitBreaker {
  private failures = 0;
  private openedAt: number | null = null;
  private trialInFlight = false;

  constructor(
    private readonly threshold: number,
    private readonly cooldownMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  get state(): CircuitState {
    if (this.openedAt === null) return 'closed';
    return this.now() - this.openedAt >= this.cooldownMs ? 'half_open' : 'open';
  }

  get consecutiveFailures(): number {
    return this.failures;
  }

  /** May a call start now? Half-open admits one trial at a time; its outcome must be reported. */
  tryAcquire(): boolean {
    switch (this.state) {
      case 'closed':
        return true;
      case 'open':
        return false;
      case 'half_open':
        if (this.trialInFlight) return false;
        this.trialInFlight = true;
        return true;
    }
  }

  success(): void {
    this.failures = 0;
    this.openedAt = null;
    this.trialInFlight = false;
  }

  failure(): void {
    const wasTrial = this.state === 'half_open';
    this.trialInFlight = false;
    this.failures++;
    if (wasTrial || (this.openedAt === null && this.failures >= this.threshold)) this.openedAt = this.now();
  }

  /** How long until a trial call will be let through (0 when not open). */
  retryAfterMs(): number {
    if (this.openedAt === null) return 0;
    return Math.max(0, this.cooldownMs - (this.now() - this.openedAt));
  }
}
