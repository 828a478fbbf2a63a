/** A source's context for tests that drive a source directly: no rate limit worth waiting on, default retries, and nothing reported. */
import { CircuitBreaker } from '../../src/net/circuit-breaker.js';
import { DEFAULT_RETRY_POLICY } from '../../src/net/retry.js';
import type { SourceContext } from '../../src/sources/types.js';

export function quietSourceContext(env: SourceContext['env'], scratch: string): SourceContext {
  return {
    env,
    rateLimitPerMinute: 60_000,
    retry: DEFAULT_RETRY_POLICY,
    breaker: new CircuitBreaker(5),
    onRequest: () => undefined,
    onWarning: () => undefined,
    scratch,
  };
}
