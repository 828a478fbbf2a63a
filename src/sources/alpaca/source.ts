/**
 * Alpaca Market Data v2: bars, trades and quotes through the multi-symbol endpoints, the calendar
 * and the asset list through the trading API. The hot path builds the request URL and parses the
 * page bytes straight into columns (see bars-page.ts, ticks-page.ts): the SDK's lossless per-bar
 * parse measured 5–7× slower than even JSON.parse. Rate budget and retries come from `net`.
 */
import type { BarColumns, TickColumns } from '../../lake/schema.js';
import { CircuitBreaker } from '../../net/circuit-breaker.js';
import { HttpStatusError } from '../../net/errors.js';
import { BodyBuffer, HttpClient } from '../../net/http.js';
import { RateBudget } from '../../net/rate-budget.js';
import type { Session } from '../../shared/calendar.js';
import type { IsoDate } from '../../shared/time.js';
import { isIntraday, type Timeframe } from '../../shared/timeframe.js';
import { CredentialsError, InvalidSymbolError, PlanRestrictionError } from '../errors.js';
import type { BarRequest, CorporateAction, ListingStatus, Source, SourceCapabilities, SourceContext, SourceDefinition, TickRequest } from '../types.js';
import { parseBarsPage } from './bars-page.js';
import { barsUrl, checkBarsPage, checkPage, PAGE_LIMIT, type PageCheck } from './bars-request.js';
import { loadAlpacaCorporateActions } from './corporate-actions.js';
import { parseQuotesPage, parseTradesPage } from './ticks-page.js';
import { ticksUrl } from './ticks-request.js';
import { loadAlpacaAssets, loadAlpacaCalendar } from './trading.js';

export interface AlpacaCredentials {
  keyId: string;
  secretKey: string;
}

const DEFAULT_DATA_URL = 'https://data.alpaca.markets';
const DEFAULT_TRADING_URL = 'https://paper-api.alpaca.markets';
/** The trading API's own request limit (all plans). */
const TRADING_API_RATE_LIMIT = 200;
/** The free plan may not query the most recent 15 minutes of SIP data. */
const RECENT_DATA_DELAY_MS = 16 * 60_000;
/** Symbols per multi-symbol request: keeps the URL well below common length limits. */
const MAX_SYMBOLS_PER_REQUEST = 200;
/** The optional trading-API calls get two attempts: the run goes on without them. */
const TRADING_API_ATTEMPTS = 2;

export function authHeaders(credentials: AlpacaCredentials): Record<string, string> {
  return { 'APCA-API-KEY-ID': credentials.keyId, 'APCA-API-SECRET-KEY': credentials.secretKey, Accept: 'application/json' };
}

/** Turn a final HTTP error into what the run should do about it. */
export function classifyAlpacaError(error: unknown, symbols: readonly string[]): unknown {
  if (!(error instanceof HttpStatusError)) return error;
  const message = error.providerMessage;
  if (error.status === 401 || (error.status === 403 && !/subscription|permit/i.test(message))) {
    return new CredentialsError(
      `Alpaca rejected the credentials (HTTP ${error.status}${message ? `: ${message}` : ''}). Check APCA_API_KEY_ID and APCA_API_SECRET_KEY.`,
    );
  }
  if (error.status === 403) {
    return new PlanRestrictionError(
      `Alpaca refused the request for this account's plan (HTTP 403: ${message}${error.requestId ? `, request id ${error.requestId}` : ''})`,
      'use --feed iex, or an earlier --end (the free plan cannot query the most recent 15 minutes of SIP data)',
    );
  }
  if (error.status === 400 && /invalid symbol/i.test(message)) {
    const named = /invalid symbols?:\s*(\S+)/i.exec(message)?.[1];
    const symbol = named && symbols.includes(named) ? named : undefined;
    return new InvalidSymbolError(symbol, message);
  }
  return error;
}

export const ALPACA_CAPABILITIES: SourceCapabilities = {
  kinds: ['bars', 'trades', 'quotes'],
  supportsTimeframe: (tf: Timeframe) => isIntraday(tf) || tf.unit === 'Day' || tf.unit === 'Week' || tf.unit === 'Month',
  maxSymbolsPerRequest: MAX_SYMBOLS_PER_REQUEST,
  pageRows: PAGE_LIMIT,
  windowFitsOnePage: false,
  feeds: ['sip', 'iex', 'otc', 'boats'],
  adjustments: ['raw', 'split', 'dividend', 'spin-off', 'all'],
  corporateActions: true,
  calendar: true,
  listings: true,
  defaultRateLimitPerMinute: 200,
  recentDataDelayMs: RECENT_DATA_DELAY_MS,
  synthetic: false,
  environment: [
    { name: 'APCA_API_KEY_ID', secret: true, required: true },
    { name: 'APCA_API_SECRET_KEY', secret: true, required: true },
    { name: 'APCA_API_DATA_URL', secret: false, required: false },
    { name: 'APCA_API_BASE_URL', secret: false, required: false },
  ],
};

function credentialsFrom(env: SourceContext['env']): AlpacaCredentials {
  const keyId = env.APCA_API_KEY_ID?.trim();
  const secretKey = env.APCA_API_SECRET_KEY?.trim();
  if (!keyId || !secretKey) {
    throw new CredentialsError('Alpaca credentials missing: set APCA_API_KEY_ID and APCA_API_SECRET_KEY, or use the synthetic source to run offline');
  }
  return { keyId, secretKey };
}

export const alpacaSource: SourceDefinition = {
  name: 'alpaca',
  description: 'Alpaca Market Data v2; keys in APCA_API_KEY_ID and APCA_API_SECRET_KEY',
  capabilities: ALPACA_CAPABILITIES,
  create(context: SourceContext): Source {
    const credentials = credentialsFrom(context.env);
    const client = (perMinute: number, maxAttempts: number, breaker: CircuitBreaker): HttpClient =>
      new HttpClient({
        budget: new RateBudget(perMinute),
        policy: { ...context.retry, maxAttempts },
        breaker,
        headers: authHeaders(credentials),
        onRequest: context.onRequest,
      });
    // One budget per host: the trading API has its own limit, and its headers must not lower the
    // market-data budget. Its calls are optional, so their failures never trip the data breaker.
    const data = client(context.rateLimitPerMinute, context.retry.maxAttempts, context.breaker);
    const trading = client(TRADING_API_RATE_LIMIT, Math.min(TRADING_API_ATTEMPTS, context.retry.maxAttempts), new CircuitBreaker(0));
    return new AlpacaSource(
      data,
      trading,
      credentials,
      context.env.APCA_API_DATA_URL?.trim() || DEFAULT_DATA_URL,
      context.env.APCA_API_BASE_URL?.trim() || DEFAULT_TRADING_URL,
    );
  },
};

class AlpacaSource implements Source {
  readonly name = 'alpaca';
  readonly capabilities = ALPACA_CAPABILITIES;

  constructor(
    private readonly http: HttpClient,
    private readonly trading: HttpClient,
    private readonly credentials: AlpacaCredentials,
    private readonly dataUrl: string,
    private readonly tradingUrl: string,
  ) {}

  loadCalendar(signal: AbortSignal): Promise<Session[]> {
    return loadAlpacaCalendar(this.trading, this.tradingUrl, this.credentials, signal);
  }

  async fetchCorporateActions(symbols: readonly string[], from: IsoDate, to: IsoDate, signal: AbortSignal): Promise<CorporateAction[]> {
    try {
      return await loadAlpacaCorporateActions(this.http, this.dataUrl, symbols, from, to, signal);
    } catch (error) {
      throw classifyAlpacaError(error, symbols);
    }
  }

  loadListings(signal: AbortSignal): Promise<Map<string, ListingStatus>> {
    return loadAlpacaAssets(this.trading, this.tradingUrl, this.credentials, signal);
  }

  async *fetchBars(request: BarRequest, signal: AbortSignal, reuse: () => BarColumns | undefined): AsyncIterable<BarColumns> {
    const symbolIndex = new Map(request.symbols.map((s, i) => [s, i]));
    yield* this.pages(request.symbols, signal, (token) => barsUrl(this.dataUrl, request, token), checkBarsPage, (body) => parseBarsPage(body, symbolIndex, reuse()).columns);
  }

  async *fetchTicks(request: TickRequest, signal: AbortSignal, reuse: () => TickColumns | undefined): AsyncIterable<TickColumns> {
    const symbolIndex = new Map(request.symbols.map((s, i) => [s, i]));
    const url = (token: string | undefined): string => ticksUrl(this.dataUrl, request, token);
    const check = (body: Uint8Array): PageCheck => checkPage(body, request.kind);
    // `reuse` hands back this request's own last batch; the `in` checks only tell TypeScript its kind.
    if (request.kind === 'trades') {
      yield* this.pages(request.symbols, signal, url, check, (body) => {
        const last = reuse();
        return parseTradesPage(body, symbolIndex, last && 'price' in last ? last : undefined).columns;
      });
    } else {
      yield* this.pages(request.symbols, signal, url, check, (body) => {
        const last = reuse();
        return parseQuotesPage(body, symbolIndex, last && 'bidPrice' in last ? last : undefined).columns;
      });
    }
  }

  /**
   * Every page of a paged endpoint, following next_page_token, each parsed before the next is
   * requested (so one buffer serves the whole request).
   */
  private async *pages<T>(
    symbols: readonly string[],
    signal: AbortSignal,
    url: (token: string | undefined) => string,
    check: (body: Uint8Array) => PageCheck,
    parse: (body: Uint8Array) => T,
  ): AsyncIterable<T> {
    let token: string | undefined;
    const seen = new Set<string>();
    const buffer = new BodyBuffer();
    do {
      // The transport's check of the body also yields the page token: each page is checked once.
      let nextPageToken: string | null = null;
      let body: Uint8Array;
      try {
        ({ body } = await this.http.get(url(token), {
          signal,
          buffer,
          validate: (received) => {
            const result = check(received);
            if (!result.ok) return result.reason;
            nextPageToken = result.nextPageToken;
            return undefined;
          },
        }));
      } catch (error) {
        throw classifyAlpacaError(error, symbols);
      }
      yield parse(body);
      token = nextPageToken ?? undefined;
      // A provider that hands out the same token twice would loop forever.
      if (token !== undefined) {
        if (seen.has(token)) throw new Error(`provider repeated page token ${token}`);
        seen.add(token);
      }
    } while (token !== undefined);
  }
}
