// Waiting on the system: poll a probe until it stops throwing, within a bound. On timeout the error
// carries the last observation, so a failure says what the system looked like, not just "timed out".
// This is the only way the harness waits; fixed sleeps are not used for synchronisation.

export interface EventuallyOptions {
  /** Upper bound in ms. */
  within: number;
  /** Poll interval in ms (default 50). */
  every?: number;
  /** What we are waiting for, in words: used in the failure message. */
  what: string;
}

export class WaitTimeoutError extends Error {
  constructor(
    readonly what: string,
    readonly elapsedMs: number,
    readonly attempts: number,
    readonly lastObservation: string,
  ) {
    super(
      `timed out after ${elapsedMs} ms (${attempts} attempts) waiting for ${what}; last observation: ${lastObservation}`,
    );
    this.name = 'WaitTimeoutError';
  }
}

/** Thrown by a probe to stop waiting at once (the awaited state can no longer happen, e.g. the process exited). */
export class GiveUp extends Error {
  override name = 'GiveUp';
}

/** Calls `probe` until it returns without throwing; returns its value. */
export async function eventually<T>(probe: () => Promise<T> | T, opts: EventuallyOptions): Promise<T> {
  const start = Date.now();
  const every = opts.every ?? 50;
  let attempts = 0;
  let last = 'no attempt completed';
  for (;;) {
    attempts++;
    const remaining = opts.within - (Date.now() - start);
    try {
      return await withTimeout(Promise.resolve().then(probe), Math.max(remaining, 1));
    } catch (e) {
      if (e instanceof GiveUp) throw e;
      // A last attempt cut short by the bound says nothing new: keep the observation before it.
      if (!(e instanceof ProbeCutOff) || attempts === 1) last = describe(e);
    }
    const elapsed = Date.now() - start;
    if (elapsed >= opts.within) throw new WaitTimeoutError(opts.what, elapsed, attempts, last);
    await delay(Math.min(every, opts.within - elapsed));
  }
}

/** Measures how long until the probe succeeds (ms), for detection-latency observations. */
export async function timeUntil(probe: () => Promise<unknown> | unknown, opts: EventuallyOptions): Promise<number> {
  const start = performance.now();
  await eventually(probe, opts);
  return Math.round(performance.now() - start);
}

function describe(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.length > 2000 ? msg.slice(0, 2000) + '…' : msg;
}

class ProbeCutOff extends Error {}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new ProbeCutOff(`probe did not answer within ${ms} ms`)), ms);
    p.then(
      (v) => (clearTimeout(t), resolve(v)),
      (e) => (clearTimeout(t), reject(e)),
    );
  });
}

/** Resolves as `p` does, or rejects with `message()` once `ms` have passed. */
/**
 * What is left of a bound that started at an event (a fault's timestamp), not when the step began: a wait
 * "within 5 s of the kill" that starts after a 30-s job has little or nothing left (at least one probe).
 */
export function leftOf(since: number, boundMs: number): number {
  return Math.max(1, since + boundMs - Date.now());
}

export function withDeadline<T>(p: Promise<T>, ms: number, message: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message())), Math.max(ms, 1));
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** A pause between polls. Exported for pacing loops (load generation), never for synchronisation. */
export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * The opposite of eventually: the probe must keep passing for the whole period (e.g. "the queen never
 * lists the hive"). Fails at the first violation, with what was observed.
 */
export async function holdsFor(
  probe: () => Promise<unknown> | unknown,
  opts: { during: number; every?: number; what: string },
): Promise<void> {
  const start = Date.now();
  let checks = 0;
  for (;;) {
    checks++;
    try {
      await probe();
    } catch (e) {
      throw new Error(`${opts.what} stopped holding after ${Date.now() - start} ms (check ${checks}): ${describe(e)}`);
    }
    const elapsed = Date.now() - start;
    if (elapsed >= opts.during) return;
    await delay(Math.min(opts.every ?? 100, opts.during - elapsed));
  }
}

/**
 * Resolves true when `clock()` reaches `at`, or false at once when `signal` aborts (then the caller
 * hurries). For schedules (a fault's planned start, an open loop's next submission), not for waiting on
 * the system: timers have whole-ms resolution and may fire a fraction early, so it re-arms until due.
 */
export function sleepUntil(at: number, signal?: AbortSignal, clock: () => number = Date.now): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  const ms = at - clock();
  if (ms <= 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    let t: NodeJS.Timeout;
    const onAbort = () => {
      clearTimeout(t);
      resolve(false);
    };
    const arm = (wait: number) => {
      t = setTimeout(() => {
        const left = at - clock();
        if (left > 0) return arm(Math.ceil(left));
        signal?.removeEventListener('abort', onAbort);
        resolve(true);
      }, wait);
    };
    arm(Math.ceil(ms));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
