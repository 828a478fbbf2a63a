/**
 * One request budget shared by every worker talking to a host. Requests are paced evenly
 * (one every 60 s / (0.99 × limit), with a burst of at most 4) and a sliding one-minute log guarantees that no window of 60 s ever
 * holds more than `limit` starts. The provider's X-RateLimit-* headers correct the budget: a lower
 * advertised limit is adopted, an exhausted `Remaining` holds everyone until `Reset`, and a 429
 * pauses the whole pool.
 */

export interface Clock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, Math.max(0, ms));
      const onAbort = (): void => {
        clearTimeout(timer);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

const WINDOW_MS = 60_000;
/**
 * Pace at 99 % of the limit: the provider counts in fixed windows that are not aligned with ours,
 * and a window that reaches exactly the limit forces a pause until its reset.
 */
const PACING_SHARE = 0.99;
/** Requests that may be sent back to back, far below any plan's per-minute limit. */
const BURST = 4;

export interface RateHeaders {
  limit?: number;
  remaining?: number;
  resetEpochSeconds?: number;
}

export class RateBudget {
  private limit: number;
  /** Start times of the requests in the last window, oldest first. */
  private readonly starts: number[] = [];
  private nextSlot = 0;
  private pausedUntil = 0;
  private queue: Promise<void> = Promise.resolve();

  constructor(readonly configuredLimit: number, private readonly clock: Clock = systemClock) {
    this.limit = configuredLimit;
  }

  /** The limit in force: the configured one, or the provider's if it advertises a lower one. */
  get currentLimit(): number {
    return this.limit;
  }

  /** Wait for a slot. Callers are served in arrival order. */
  acquire(signal?: AbortSignal): Promise<void> {
    const turn = this.queue.then(() => this.waitForSlot(signal));
    // A cancelled waiter must not block the ones behind it.
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  private async waitForSlot(signal?: AbortSignal): Promise<void> {
    for (;;) {
      signal?.throwIfAborted();
      const now = this.clock.now();
      while (this.starts.length > 0 && this.starts[0] <= now - WINDOW_MS) this.starts.shift();
      const interval = WINDOW_MS / (this.limit * PACING_SHARE);
      // GCRA with a tolerance of BURST - 1 slots: a few requests may go back to back (start-up,
      // timer lateness); the one-minute log below still caps every window at the limit.
      let wait = Math.max(0, this.pausedUntil - now, this.nextSlot - (BURST - 1) * interval - now);
      if (this.starts.length >= this.limit) wait = Math.max(wait, this.starts[0] + WINDOW_MS - now + 1);
      if (wait <= 0) {
        this.starts.push(now);
        this.nextSlot = Math.max(this.nextSlot, now) + interval;
        return;
      }
      await this.clock.sleep(wait, signal);
    }
  }

  /** Apply the rate-limit headers of a response. */
  observe(headers: RateHeaders): void {
    if (headers.limit !== undefined && headers.limit > 0 && headers.limit < this.limit) this.limit = headers.limit;
    if (headers.remaining !== undefined && headers.remaining <= 0 && headers.resetEpochSeconds !== undefined) {
      this.pauseUntil(headers.resetEpochSeconds * 1000);
    }
  }

  /** Hold every worker until this instant (a 429 or an exhausted budget). */
  pauseUntil(instantMs: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, Math.min(instantMs, this.clock.now() + 120_000));
  }
}
