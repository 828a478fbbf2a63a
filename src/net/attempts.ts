/**
 * The retry loop for requests made through a client other than our HTTP one (an SDK): the shared
 * rate budget before each attempt, the policy's backoff between attempts, the breaker counting
 * failures, and every attempt reported like an HTTP request. The SDK itself must not retry.
 */
import type { CircuitBreaker } from './circuit-breaker.js';
import { CancelledError, CircuitOpenError } from './errors.js';
import type { RequestEvent } from './request-event.js';
import { type Clock, type RateBudget, systemClock } from './rate-budget.js';
import { backoffDelay, type RetryPolicy } from './retry.js';

/** What a failed attempt was: whether another attempt may succeed, and what to report. */
export interface AttemptFailure {
  retryable: boolean;
  reason: string;
  status: number | undefined;
  requestId: string | undefined;
}

export interface AttemptOptions {
  /** Names the request in reports; never holds a secret. */
  what: string;
  policy: RetryPolicy;
  budget: RateBudget;
  breaker: CircuitBreaker;
  signal: AbortSignal;
  onRequest: (event: RequestEvent) => void;
  classify: (error: unknown) => AttemptFailure;
  /** The provider's id of a successful request, for the report. */
  requestIdOf?: (result: unknown) => string | undefined;
  clock?: Clock;
  random?: () => number;
}

/** Run `attempt` until it succeeds or the policy gives up; the last failure is rethrown as it was. */
export async function withAttempts<T>(options: AttemptOptions, attempt: () => Promise<T>): Promise<T> {
  const { policy, budget, breaker, signal, clock = systemClock, random = Math.random } = options;
  for (let n = 1; ; n++) {
    if (breaker.isOpen) throw new CircuitOpenError(breaker.consecutiveFailures);
    try {
      await budget.acquire(signal);
    } catch {
      throw new CancelledError();
    }
    const started = clock.now();
    try {
      const result = await attempt();
      breaker.recordSuccess();
      options.onRequest({ url: options.what, status: 200, durationMs: clock.now() - started, requestId: options.requestIdOf?.(result), attempt: n });
      return result;
    } catch (error) {
      if (signal.aborted) throw new CancelledError();
      const failure = options.classify(error);
      if (failure.retryable) breaker.recordFailure();
      const willRetry = failure.retryable && n < policy.maxAttempts && !breaker.isOpen;
      const delayMs = willRetry ? backoffDelay(policy, n, random()) : 0;
      options.onRequest({ url: options.what, status: failure.status, durationMs: clock.now() - started, requestId: failure.requestId, attempt: n, failure: { reason: failure.reason, willRetry, delayMs } });
      if (failure.retryable && breaker.isOpen) throw new CircuitOpenError(breaker.consecutiveFailures);
      if (!willRetry) throw error;
      try {
        await clock.sleep(delayMs, signal);
      } catch {
        throw new CancelledError();
      }
    }
  }
}
