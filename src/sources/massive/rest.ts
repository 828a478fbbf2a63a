/**
 * Massive (formerly Polygon.io) over REST: bars of every timeframe from the per-ticker aggregates
 * endpoint, one ticker a request with windows that fit its 50,000 base-aggregate limit, and daily
 * bars of whole sessions from the grouped-daily endpoint (the planner picks whichever needs fewer
 * requests). The key travels in an Authorization header, never in a URL.
 */
import type { BarColumns } from '../../lake/schema.js';
import { HttpStatusError } from '../../net/errors.js';
import { BodyBuffer, HttpClient } from '../../net/http.js';
import { RateBudget } from '../../net/rate-budget.js';
import { EXTENDED_SESSION_MINUTES, isIntraday, type Timeframe } from '../../shared/timeframe.js';
import type { IsoDate } from '../../shared/time.js';
import { CredentialsError, PlanRestrictionError } from '../errors.js';
import { loadMassiveCorporateActions } from './corporate-actions.js';
import type { BarRequest, CorporateAction, SessionBarRequest, Source, SourceCapabilities, SourceContext, SourceDefinition } from '../types.js';
import {
  aggregatesToColumns,
  aggregatesUrl,
  followNextUrl,
  GroupedDailyRows,
  groupedDailyUrl,
  MAX_BASE_AGGREGATES,
  periodSlackMs,
  readAggregatesPage,
  type AggregatesPage,
} from './rest-wire.js';

const DEFAULT_API_URL = 'https://api.massive.com';
/** The free plan's limit; paid plans are unlimited (Massive asks to stay under 100 a second). */
const FREE_PLAN_REQUESTS_PER_MINUTE = 5;
/** Paid plans are 15 minutes delayed. */
const RECENT_DATA_DELAY_MS = 16 * 60_000;
/** Rows per batch handed to the writer from grouped-daily answers. */
const GROUPED_BATCH_ROWS = 10_000;
const PLAN_HINT =
  'your Massive plan, or its history depth, does not cover this request (the free Basic plan serves 2 years of end-of-day data); choose a later --start, or a plan that covers it';

export const MASSIVE_KEY_VARIABLES = 'MASSIVE_API_KEY (or POLYGON_API_KEY)';

export const MASSIVE_CAPABILITIES: SourceCapabilities = {
  kinds: ['bars'],
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

/** Turn a final HTTP error into what the run should do about it. */
export function classifyMassiveError(error: unknown): unknown {
  if (!(error instanceof HttpStatusError)) return error;
  const detail = `HTTP ${error.status}${error.providerMessage ? `: ${error.providerMessage}` : ''}${error.requestId ? `, request id ${error.requestId}` : ''}`;
  if (error.status === 401) return new CredentialsError(`Massive rejected the API key (${detail}). Check ${MASSIVE_KEY_VARIABLES}.`);
  if (error.status === 403) return new PlanRestrictionError(`Massive refused the request (${detail})`, PLAN_HINT);
  return error;
}

function apiKeyFrom(env: SourceContext['env']): string {
  const key = env.MASSIVE_API_KEY?.trim() || env.POLYGON_API_KEY?.trim();
  if (!key) throw new CredentialsError(`Massive API key missing: set ${MASSIVE_KEY_VARIABLES}, or use the synthetic source to run offline`);
  return key;
}

export const massiveSource: SourceDefinition = {
  name: 'massive',
  description: `Massive (formerly Polygon.io) REST aggregates; key in ${MASSIVE_KEY_VARIABLES}`,
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

class MassiveRestSource implements Source {
  readonly name = 'massive';
  readonly capabilities = MASSIVE_CAPABILITIES;

  constructor(
    private readonly http: HttpClient,
    private readonly baseUrl: string,
    private readonly warn: (message: string) => void,
  ) {}

  private async page(url: string, signal: AbortSignal, buffer: BodyBuffer): Promise<AggregatesPage> {
    let page: AggregatesPage | undefined;
    try {
      await this.http.get(url, {
        signal,
        buffer,
        validate: (body) => {
          const read = readAggregatesPage(body);
          if ('reason' in read) return read.reason;
          page = read.page;
          return undefined;
        },
      });
    } catch (error) {
      throw classifyMassiveError(error);
    }
    return page!;
  }

  async *fetchBars(request: BarRequest, signal: AbortSignal, reuse: () => BarColumns | undefined): AsyncIterable<BarColumns> {
    const buffer = new BodyBuffer();
    const from = request.start - periodSlackMs(request.timeframe);
    for (const [index, ticker] of request.symbols.entries()) {
      let url: string | undefined = aggregatesUrl(this.baseUrl, ticker, request.timeframe, from, request.end, request.adjustment);
      const seen = new Set<string>();
      while (url !== undefined) {
        const page = await this.page(url, signal, buffer);
        const { columns, unusable } = aggregatesToColumns(page, index, from, request.end, reuse());
        if (unusable > 0) this.warn(`${ticker}: dropped ${unusable} bar(s) Massive sent without a time or price`);
        if (columns.length > 0) yield columns;
        url = page.nextUrl === undefined ? undefined : followNextUrl(this.baseUrl, page.nextUrl);
        // A provider that hands out the same cursor twice would loop forever.
        if (url !== undefined) {
          if (seen.has(url)) throw new Error(`Massive repeated the page ${page.nextUrl}`);
          seen.add(url);
        }
      }
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
    for (const date of request.sessions) rows.add(date, await this.page(groupedDailyUrl(this.baseUrl, date, request.adjustment), signal, buffer));
    if (rows.unusable > 0) this.warn(`grouped daily ${request.sessions[0]}..${request.sessions[request.sessions.length - 1]}: dropped ${rows.unusable} bar(s) without a usable time or price`);
    yield* rows.batches(GROUPED_BATCH_ROWS, reuse);
  }
}
