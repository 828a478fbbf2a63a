/** Retry policy as data, and the pure decisions made from it. */

export interface RetryPolicy {
  /** Total attempts per request, the first included. */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** Per-attempt deadline covering the response headers and the whole body. */
  timeoutMs: number;
  retryStatuses: readonly number[];
}

/** Defaults for an unattended cron job: ride out a few minutes of trouble, then report. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxAttempts: 6,
  baseDelayMs: 1_000,
  maxDelayMs: 60_000,
  timeoutMs: 60_000,
  retryStatuses: [408, 429, 500, 502, 503, 504],
};

/**
 * Delay before attempt `attempt + 1` after `attempt` failed (1-based): exponential growth capped at
 * maxDelayMs, with "equal jitter" (half fixed, half random) so a pool of workers does not retry in step.
 */
export function backoffDelay(policy: RetryPolicy, attempt: number, random: number): number {
  const exp = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exp / 2 + (exp / 2) * random);
}

export function isRetryableStatus(policy: RetryPolicy, status: number): boolean {
  return policy.retryStatuses.includes(status);
}

/**
 * How long to wait after a 429: until the provider's reset time (epoch seconds) plus a little
 * jitter; without a usable header, fall back to the backoff delay.
 */
export function rateLimitedDelay(resetEpochSeconds: number | undefined, nowMs: number, fallbackMs: number, random: number): number {
  const jitter = Math.round(250 + 750 * random);
  if (resetEpochSeconds === undefined || !Number.isFinite(resetEpochSeconds)) return fallbackMs;
  const until = resetEpochSeconds * 1000 - nowMs;
  // A reset far in the past or absurdly far ahead is not trustworthy: cap it.
  if (until <= 0) return jitter;
  return Math.min(until, 120_000) + jitter;
}
