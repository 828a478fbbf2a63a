/**
 * Massive (formerly Polygon.io) over REST: bars of every timeframe from the per-ticker aggregates
 * endpoint, one ticker a request with windows that fit its 50,000 base-aggregate limit, daily bars
 * of whole sessions from the grouped-daily endpoint (the planner picks whichever needs fewer
 * requests), and trades and quotes from the per-ticker v3 endpoints, paged through `next_url`. The
 * key travels in an Authorization header, never in a URL.
 */
import type { BarColumns, TickColumns } from '../../lake/schema.js';
import { HttpStatusError } from '../../net/errors.js';
import { BodyBuffer, HttpClient } from '../../net/http.js';
import { RateBudget } from '../../net/rate-budget.js';
import { EXTENDED_SESSION_MINUTES, isIntraday, type Timeframe } from '../../shared/timeframe.js';
import type { IsoDate } from '../../shared/time.js';
import { CredentialsError, PlanRestrictionError } from '../errors.js';
import { loadMassiveCorporateActions } from './corporate-actions.js';
import type { BarRequest, CorporateAction, SessionBarRequest, Source, SourceCapabilities, SourceContext, SourceDefinition, TickRequest } from '../types.js';
import {
  aggregatesToColumns,
  aggregatesUrl,
  followNextUrl,
  GroupedDailyRows,
  groupedDailyUrl,
  MAX_BASE_AGGREGATES,
  periodSlackMs,
  readAggregatesPage,
} from './rest-wire.js';
import { readTicksPage, ticksUrl } from './ticks-wire.js';

const DEFAULT_API_URL = 'https://api.massive.com';
/** The free plan's limit; paid plans are unlimited (Massive asks to stay under 100 a second). */
const FREE_PLAN_REQUESTS_PER_MINUTE = 5;
/** Paid plans are 15 minutes delayed. */
const RECENT_DATA_DELAY_MS = 16 * 60_000;
/** Rows per batch handed to the writer from grouped-daily answers. */
const GROUPED_BATCH_ROWS = 10_000;
const PLAN_HINT =
  'your Massive plan, or its history depth, does not cover this request (the free Basic plan serves 2 years of end-of-day data); choose a later --start, or a plan that covers it';
const TICKS_PLAN_HINT =
  'your Massive plan does not include this data, or its history depth does not reach this date (third-party plan tables list trades from the Developer plan and quotes from the Advanced plan); choose a later --start, or a plan that covers it';

export const MASSIVE_KEY_VARIABLES = 'MASSIVE_API_KEY (or POLYGON_API_KEY)';

export const MASSIVE_CAPABILITIES: SourceCapabilities = {
  kinds: ['bars', 'trades', 'quotes'],
  supportsTimeframe: (tf: Timeframe) => isIntraday(tf) || tf.unit === 'Day' || tf.unit === 'Week' || tf.unit === 'Month',
  maxSymbolsPerRequest: 1,
  pageRows: MAX_BASE_AGGREGATES,
  countedRowsPerSession: (tf: Timeframe) => (isIntraday(tf) ? EXTENDED_SESSION_MINUTES : 1),
  windowFitsOnePage: true,
  // A month of grouped requests a unit: at the free plan's 5 a minute, a stopped run loses little.
  sessionRequests: { supportsTimeframe: (tf: Timeframe) => tf.unit === 'Day', only: false, versioned: false, maxSessionsPerUnit: 21 },
  feeds: [],
  adjustments: ['raw', 'split'],
  corporateActions: true,
  calendar: false,
  listings: false,
  defaultRateLimitPerMinute: FREE_PLAN_REQUESTS_PER_MINUTE,
  recentDataDelayMs: RECENT_DATA_DELAY_MS,
  synthetic: false,
  environment: [
    { name: 'MASSIVE_API_KEY', secret: true, required: true },
    { name: 'POLYGON_API_KEY', secret: true, required: false },
    { name: 'MASSIVE_API_URL', secret: false, required: false },
  ],
};

/** Turn a final HTTP error into what the run should do about it; `planHint` is what a 403 suggests. */
export function classifyMassiveError(error: unknown, planHint = PLAN_HINT): unknown {
  if (!(error instanceof HttpStatusError)) return error;
  const detail = `HTTP ${error.status}${error.providerMessage ? `: ${error.providerMessage}` : ''}${error.requestId ? `, request id ${error.requestId}` : ''}`;
  if (error.status === 401) return new CredentialsError(`Massive rejected the API key (${detail}). Check ${MASSIVE_KEY_VARIABLES}.`);
  if (error.status === 403) return new PlanRestrictionError(`Massive refused the request (${detail})`, planHint);
  return error;
}

function apiKeyFrom(env: SourceContext['env']): string {
  const key = env.MASSIVE_API_KEY?.trim() || env.POLYGON_API_KEY?.trim();
  if (!key) throw new CredentialsError(`Massive API key missing: set ${MASSIVE_KEY_VARIABLES}, or use the synthetic source to run offline`);
  return key;
}

export const massiveSource: SourceDefinition = {
  name: 'massive',
  description: `Massive (formerly Polygon.io) REST aggregates, trades and quotes; key in ${MASSIVE_KEY_VARIABLES}`,
  capabilities: MASSIVE_CAPABILITIES,
  create(context: SourceContext): Source {
    const key = apiKeyFrom(context.env);
    const http = new HttpClient({
      budget: new RateBudget(context.rateLimitPerMinute),
      policy: context.retry,
      breaker: context.breaker,
      headers: { Authorization: `Bearer ${key}`, Accept: 'application/json' },
      onRequest: context.onRequest,
    });
    return new MassiveRestSource(http, context.env.MASSIVE_API_URL?.trim() || DEFAULT_API_URL, context.onWarning);
  },
};

/** A 200 body as a page, or why it is unusable. */
type PageReader<P> = (body: Uint8Array) => { page: P } | { reason: string };

class MassiveRestSource implements Source {
  readonly name = 'massive';
  readonly capabilities = MASSIVE_CAPABILITIES;

  constructor(
    private readonly http: HttpClient,
    private readonly baseUrl: string,
    private readonly warn: (message: string) => void,
  ) {}

  /** One page: `read` turns a 200 body into it, or says why the body is unusable (it is then retried). */
  private async page<P>(url: string, signal: AbortSignal, buffer: BodyBuffer, read: PageReader<P>, planHint?: string): Promise<P> {
    let page: P | undefined;
    try {
      await this.http.get(url, {
        signal,
        buffer,
        validate: (body) => {
          const result = read(body);
          if ('reason' in result) return result.reason;
          page = result.page;
          return undefined;
        },
      });
    } catch (error) {
      throw classifyMassiveError(error, planHint);
    }
    return page!;
  }

  /** Every page from `url` on, following `next_url` on our host; each is read before the next is asked for. */
  private async *pages<P extends { nextUrl: string | undefined }>(url: string, signal: AbortSignal, buffer: BodyBuffer, read: PageReader<P>, planHint?: string): AsyncIterable<P> {
    const seen = new Set<string>();
    for (let next: string | undefined = url; next !== undefined; ) {
      const page: P = await this.page(next, signal, buffer, read, planHint);
      yield page;
      next = page.nextUrl === undefined ? undefined : followNextUrl(this.baseUrl, page.nextUrl);
      // A provider that hands out the same cursor twice would loop forever.
      if (next !== undefined) {
        if (seen.has(next)) throw new Error(`Massive repeated the page ${page.nextUrl}`);
        seen.add(next);
      }
    }
  }

  async *fetchBars(request: BarRequest, signal: AbortSignal, reuse: () => BarColumns | undefined): AsyncIterable<BarColumns> {
    const buffer = new BodyBuffer();
    const from = request.start - periodSlackMs(request.timeframe);
    for (const [index, ticker] of request.symbols.entries()) {
      const url = aggregatesUrl(this.baseUrl, ticker, request.timeframe, from, request.end, request.adjustment);
      for await (const page of this.pages(url, signal, buffer, readAggregatesPage)) {
        const { columns, unusable } = aggregatesToColumns(page, index, from, request.end, reuse());
        if (unusable > 0) this.warn(`${ticker}: dropped ${unusable} bar(s) Massive sent without a time or price`);
        if (columns.length > 0) yield columns;
      }
    }
  }

  /** One ticker after another, each oldest first: the symbol-then-time order the writer needs. */
  async *fetchTicks(request: TickRequest, signal: AbortSignal, reuse: () => TickColumns | undefined): AsyncIterable<TickColumns> {
    const buffer = new BodyBuffer();
    for (const [index, ticker] of request.symbols.entries()) {
      const url = ticksUrl(this.baseUrl, request.kind, ticker, request.start, request.end);
      // Each page is parsed into the previous page's columns once the writer has copied them.
      const read = (body: Uint8Array) => readTicksPage(request.kind, body, index, reuse());
      for await (const page of this.pages(url, signal, buffer, read, TICKS_PLAN_HINT)) if (page.columns.length > 0) yield page.columns;
    }
  }

  async fetchCorporateActions(symbols: readonly string[], from: IsoDate, to: IsoDate, signal: AbortSignal): Promise<CorporateAction[]> {
    try {
      return await loadMassiveCorporateActions(this.http, this.baseUrl, symbols, from, to, signal);
    } catch (error) {
      throw classifyMassiveError(error);
    }
  }

  async *fetchSessionBars(request: SessionBarRequest, signal: AbortSignal, reuse: () => BarColumns | undefined): AsyncIterable<BarColumns> {
    const buffer = new BodyBuffer();
    const rows = new GroupedDailyRows(new Map(request.symbols.map((s, i) => [s, i])));
    for (const date of request.sessions) rows.add(date, await this.page(groupedDailyUrl(this.baseUrl, date, request.adjustment), signal, buffer, readAggregatesPage));
    if (rows.unusable > 0) this.warn(`grouped daily ${request.sessions[0]}..${request.sessions[request.sessions.length - 1]}: dropped ${rows.unusable} bar(s) without a usable time or price`);
    yield* rows.batches(GROUPED_BATCH_ROWS, reuse);
  }
}
