import { describe, expect, it } from 'vitest';
import { withAttempts } from '../../src/net/attempts.js';
import { CircuitBreaker } from '../../src/net/circuit-breaker.js';
import { BodyBuffer, errorMessageOf } from '../../src/net/http.js';
import { type Clock, RateBudget } from '../../src/net/rate-budget.js';
import { backoffDelay, DEFAULT_RETRY_POLICY, rateLimitedDelay } from '../../src/net/retry.js';
import { barsUrl, checkBarsPage } from '../../src/sources/alpaca/bars-request.js';
import { parseTimeframe } from '../../src/shared/timeframe.js';
import { classifyAlpacaError } from '../../src/sources/alpaca/source.js';
import { CircuitOpenError, HttpStatusError } from '../../src/net/errors.js';
import { CredentialsError, InvalidSymbolError, PlanRestrictionError } from '../../src/sources/errors.js';
import { mulberry32 } from '../support/fake-alpaca.js';

/** A clock whose sleeps advance time instantly. */
function fakeClock(): Clock & { t: number } {
  const c = { t: 1_000_000, now: () => c.t, sleep: async (ms: number) => void (c.t += Math.max(1, ms)) };
  return c;
}

/**
 * Virtual time for many concurrent sleepers: `run()` fires the timers in time order, letting every
 * promise chain settle before the next, until no timer is left.
 */
class VirtualClock implements Clock {
  t = 0;
  private timers: { at: number; seq: number; fire: () => void }[] = [];
  private seq = 0;
  now = (): number => this.t;
  sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      this.timers.push({ at: this.t + Math.max(0, ms), seq: this.seq++, fire: resolve });
    });
  async run(): Promise<void> {
    for (;;) {
      await new Promise((r) => setImmediate(r));
      if (this.timers.length === 0) return;
      this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.timers.shift()!;
      this.t = Math.max(this.t, next.at);
      next.fire();
    }
  }
}


describe('retry policy', () => {
  it('backs off exponentially with bounded jitter', () => {
    const p = { ...DEFAULT_RETRY_POLICY, baseDelayMs: 1000, maxDelayMs: 8000 };
    expect(backoffDelay(p, 1, 0)).toBe(500);
    expect(backoffDelay(p, 1, 1)).toBe(1000);
    expect(backoffDelay(p, 3, 0.5)).toBe(3000);
    expect(backoffDelay(p, 10, 1)).toBe(8000);
  });
  it('waits until the reset after a 429', () => {
    expect(rateLimitedDelay(1_010, 1_000_000, 99, 0)).toBe(10_000 + 250);
    expect(rateLimitedDelay(undefined, 1_000_000, 99, 0)).toBe(99);
    expect(rateLimitedDelay(900, 1_000_000, 99, 0)).toBe(250);
  });
});

describe('rate budget', () => {
  it('never allows more than the limit in any 60 s window and paces evenly', async () => {
    const clock = fakeClock();
    const budget = new RateBudget(120, clock);
    const starts: number[] = [];
    for (let i = 0; i < 600; i++) {
      await budget.acquire();
      starts.push(clock.t);
    }
    for (let i = 0; i + 120 < starts.length; i++) expect(starts[i + 120] - starts[i]).toBeGreaterThanOrEqual(60_000);
    const minutes = (starts[starts.length - 1] - starts[0]) / 60_000;
    expect(599 / minutes / 120).toBeGreaterThan(0.95);
  });
  it('never lets a sliding 60 s window exceed the limit in force: 16 concurrent callers, random latencies, a lower advertised limit (virtual time)', async () => {
    const clock = new VirtualClock();
    const random = mulberry32(20_240_102);
    const CONFIGURED = 600;
    const ADVERTISED = 200;
    const LOWER_FROM = 150_000;
    const END = 480_000;
    const budget = new RateBudget(CONFIGURED, clock);
    let loweredAt = Infinity;
    const starts: number[] = [];
    const caller = async (): Promise<void> => {
      while (clock.now() < END) {
        await budget.acquire();
        starts.push(clock.now());
        // The response takes 5 ms to 3 s, mostly short.
        await clock.sleep(5 + random() ** 3 * 3_000);
        // The provider advertises more than configured (ignored), then from LOWER_FROM less; now and
        // then its window is exhausted until a reset a few seconds ahead.
        const advertised = clock.now() < LOWER_FROM ? 1_000 : ADVERTISED;
        if (advertised < budget.currentLimit) loweredAt = Math.min(loweredAt, clock.now());
        const exhausted = random() < 0.01;
        budget.observe({ limit: advertised, remaining: exhausted ? 0 : 50, resetEpochSeconds: (clock.now() + random() * 5_000) / 1000 });
        // Now and then a caller is busy elsewhere (a commit) before its next request.
        if (random() < 0.05) await clock.sleep(random() * 20_000);
      }
    };
    const callers = Promise.all(Array.from({ length: 16 }, caller));
    await clock.run();
    await callers;

    expect(loweredAt).toBeGreaterThanOrEqual(LOWER_FROM);
    expect(budget.currentLimit).toBe(ADVERTISED);
    // The window (t - 60 s, t] ending at each start holds at most the limit in force at t.
    let worst = { excess: -Infinity, at: 0 };
    for (let i = 0, first = 0; i < starts.length; i++) {
      while (starts[first] <= starts[i] - 60_000) first++;
      const excess = i - first + 1 - (starts[i] < loweredAt ? CONFIGURED : ADVERTISED);
      if (excess > worst.excess) worst = { excess, at: starts[i] };
    }
    expect(worst.excess, `a window ending at ${worst.at} ms`).toBeLessThanOrEqual(0);
    // The callers kept the budget busy at both limits, so the bound was tested where it binds.
    expect(starts.filter((t) => t < loweredAt).length).toBeGreaterThan(CONFIGURED);
    expect(starts.filter((t) => t >= loweredAt).length).toBeGreaterThan(4 * ADVERTISED);
  });
  it('adopts a lower advertised limit and pauses on an exhausted budget', async () => {
    const clock = fakeClock();
    const budget = new RateBudget(600, clock);
    budget.observe({ limit: 200, remaining: 0, resetEpochSeconds: clock.t / 1000 + 30 });
    expect(budget.currentLimit).toBe(200);
    await budget.acquire();
    expect(clock.t).toBeGreaterThanOrEqual(1_000_000 + 30_000);
  });
});

describe('body buffer', () => {
  const response = (chunks: Uint8Array[]): Response =>
    new Response(new ReadableStream({ start: (c) => { for (const chunk of chunks) c.enqueue(chunk); c.close(); } }));

  it('reads a body across chunks, grows past its first megabyte, and is reused by the next read', async () => {
    const buffer = new BodyBuffer();
    const big = Array.from({ length: 5 }, (_, i) => new Uint8Array(300_000).fill(65 + i));
    const first = await buffer.read(response(big));
    expect(first.length).toBe(1_500_000);
    expect([first[0], first[299_999], first[300_000], first[1_499_999]]).toEqual([65, 65, 66, 69]);
    const second = await buffer.read(response([new TextEncoder().encode('{"a":'), new TextEncoder().encode('1}')]));
    expect(new TextDecoder().decode(second)).toBe('{"a":1}');
    expect(second.buffer).toBe(first.buffer);
  });
});

describe('circuit breaker', () => {
  it('opens after N consecutive failures; successes reset the count', () => {
    const b = new CircuitBreaker(3);
    b.recordFailure();
    b.recordFailure();
    b.recordSuccess();
    b.recordFailure();
    b.recordFailure();
    expect(b.isOpen).toBe(false);
    b.recordFailure();
    expect(b.isOpen).toBe(true);
  });
});

describe('Alpaca pages', () => {
  it('builds a multi-symbol URL with explicit UTC instants and an inclusive end', () => {
    const url = new URL(barsUrl('http://h/', { symbols: ['AAPL', 'BRK.B'], timeframe: parseTimeframe('1Day')!, start: Date.parse('2024-01-02T05:00:00Z'), end: Date.parse('2024-03-29T04:00:00Z'), feed: 'sip', adjustment: 'raw' }, 'tok'));
    expect(url.pathname).toBe('/v2/stocks/bars');
    expect(Object.fromEntries(url.searchParams)).toEqual({
      symbols: 'AAPL,BRK.B', timeframe: '1Day', start: '2024-01-02T05:00:00.000Z', end: '2024-03-29T03:59:59.999Z', limit: '10000', feed: 'sip', adjustment: 'raw', sort: 'asc', page_token: 'tok',
    });
  });
  it('finds the page token without parsing, and rejects truncated bodies', () => {
    expect(checkBarsPage('{"bars":{"A":[]},"next_page_token":"QUJD\\u003d","currency":"USD"}')).toEqual({ ok: true, nextPageToken: 'QUJD=' });
    expect(checkBarsPage('{"bars":null,"next_page_token":null}')).toEqual({ ok: true, nextPageToken: null });
    expect(checkBarsPage('{"bars":{},"next_page_token":null}\n')).toEqual({ ok: true, nextPageToken: null });
    expect(checkBarsPage('{"bars":{"A":[{"t":"2024').ok).toBe(false);
    expect(checkBarsPage('{"message":"x"}').ok).toBe(false);
    expect(checkBarsPage(new TextEncoder().encode(' {"bars":null,"next_page_token":"t\u00e9"} '))).toEqual({ ok: true, nextPageToken: 'té' });
    expect(checkBarsPage(new Uint8Array(0)).ok).toBe(false);
  });
  it('classifies provider errors by what the run must do', () => {
    const err = (status: number, message: string) => new HttpStatusError(status, message, 'r1', 'u', 1);
    expect(classifyAlpacaError(err(403, 'forbidden'), [])).toBeInstanceOf(CredentialsError);
    expect(classifyAlpacaError(err(401, ''), [])).toBeInstanceOf(CredentialsError);
    expect(classifyAlpacaError(err(403, 'subscription does not permit querying recent SIP data'), [])).toBeInstanceOf(PlanRestrictionError);
    const invalid = classifyAlpacaError(err(400, 'invalid symbol: BADX'), ['AAPL', 'BADX']);
    expect(invalid).toBeInstanceOf(InvalidSymbolError);
    expect((invalid as InvalidSymbolError).symbol).toBe('BADX');
    expect(errorMessageOf('{"message":"invalid timeframe","code":42210000}')).toBe('invalid timeframe');
    expect(errorMessageOf('{"status":"ERROR","request_id":"r","error":"Unknown API Key"}')).toBe('Unknown API Key');
  });
});

describe('attempts through another client (an SDK)', () => {
  /** A clock that only moves when slept on. */
  const virtualClock = (): Clock & { slept: number[] } => {
    let now = 0;
    const slept: number[] = [];
    return { slept, now: () => now, sleep: async (ms) => void (slept.push(ms), (now += ms)) };
  };
  const failing = (status: number | undefined) => Object.assign(new Error('boom'), { status });
  const classify = (error: unknown) => {
    const status = (error as { status?: number }).status;
    return { retryable: status === undefined || status >= 500, reason: `HTTP ${status}`, status, requestId: undefined };
  };

  it('retries retryable failures with the policy backoff, reports every attempt, and stops at a final one', async () => {
    const clock = virtualClock();
    const events: { attempt: number; willRetry?: boolean }[] = [];
    const outcomes = [failing(503), failing(undefined), 'ok'];
    const options = { what: 's3://b/k', policy: { ...DEFAULT_RETRY_POLICY, baseDelayMs: 100 }, budget: new RateBudget(6000, clock), breaker: new CircuitBreaker(10), signal: new AbortController().signal, onRequest: (e: { attempt: number; failure?: { willRetry: boolean } }) => events.push({ attempt: e.attempt, willRetry: e.failure?.willRetry }), classify, clock, random: () => 0.5 };
    const result = await withAttempts(options, async () => {
      const next = outcomes.shift();
      if (next instanceof Error) throw next;
      return next;
    });
    expect(result).toBe('ok');
    expect(events).toEqual([{ attempt: 1, willRetry: true }, { attempt: 2, willRetry: true }, { attempt: 3, willRetry: undefined }]);
    expect(clock.slept.filter((ms) => ms > 0)).toEqual([backoffDelay(options.policy, 1, 0.5), backoffDelay(options.policy, 2, 0.5)]);
    let calls = 0;
    await expect(withAttempts(options, async () => { calls++; throw failing(403); })).rejects.toMatchObject({ status: 403 });
    expect(calls).toBe(1);
  });

  it('gives up when the breaker opens', async () => {
    const clock = virtualClock();
    const options = { what: 'x', policy: { ...DEFAULT_RETRY_POLICY, maxAttempts: 10 }, budget: new RateBudget(6000, clock), breaker: new CircuitBreaker(2), signal: new AbortController().signal, onRequest: () => undefined, classify, clock };
    await expect(withAttempts(options, async () => { throw failing(500); })).rejects.toBeInstanceOf(CircuitOpenError);
  });
});

