/**
 * A loopback fake of Massive's (formerly Polygon.io) REST market data, written from
 * ../shared/reference/massive-market-data.md (sections 0, 1, 2 and "Auth, errors, limits"). It serves the
 * synthetic market, so tests can compute exactly what it holds (`expectedBars`, `groupedTickers`,
 * `expectedTrades`, `expectedQuotes`).
 *
 * What it models, and from which reference facts:
 * - Auth by `Authorization: Bearer KEY` or `?apiKey=KEY` (QS-REST); none → 401 "API Key was not
 *   provided", wrong → 401 "Unknown API Key" (PROBE; issue #219). The log records which way a key came.
 * - `GET /v2/aggs/ticker/{T}/range/{m}/{timespan}/{from}/{to}` (SPEC): case-sensitive ticker; timespan
 *   minute/hour/day/week/month (second, quarter, year → 400 here); `from`/`to` as New York dates (both
 *   inclusive, `to` through the end of that date) or Unix ms; `adjusted` default **true** (splits only);
 *   `sort` asc (desc → 400 here); `limit` default 5000, max 50000, counting **base** aggregates scanned
 *   (1-minute bars under minute/hour bars, daily bars under day/week/month bars; blog aggs-api-updates).
 *   A page never splits an aggregate bar; the rest is reached through `next_url`, which — like the real
 *   one — names the real host `https://api.massive.com`, carries an opaque `cursor` (adjusted, limit,
 *   sort) and no key (KB-PAGE), and is repeated in a `Link: <…>; rel="next"` header (client-python#532).
 *   Envelope `ticker, queryCount, resultsCount, adjusted, results, status, request_id, count` (SPEC,
 *   PYMOCK); nothing in range or an unknown ticker → 200 with **no `results` key** (PROBE). Rows
 *   `v, vw, o, c, h, l, t, n`, `t` = window start in ms; daily bars at New York midnight (PYMOCK).
 * - `GET /v2/aggs/grouped/locale/us/market/stocks/{date}` (SPEC): every ticker with a bar that session
 *   (the configured ones plus generated extras), `t` = 16:00 New York (issue #250), values identical to
 *   the per-ticker daily bar; rows come in no particular order (a fixed per-date shuffle). A day without
 *   a session → 200 without `results`.
 * - `GET /v3/trades/{T}` and `GET /v3/quotes/{T}` (section 2, SPEC): `timestamp` (a date or an integer
 *   of nanoseconds) and `timestamp.gte/.gt/.lte/.lt` (either form) intersect; `order` asc|desc,
 *   default **desc**; `limit` 1..50000, default 1000; `sort` = `timestamp`. Envelope `results, status,
 *   request_id, next_url`; `next_url` names the real host, the same path and an opaque `cursor`
 *   carrying the query and the position, and no key. Rows carry SPEC's fields: `sip_timestamp`,
 *   `participant_timestamp` and `trf_timestamp` (TRF trades only) as bare JSON integers of nanoseconds
 *   (beyond 2^53), `sequence_number`, `price`, `size`, `exchange` (an integer), `conditions` (integers,
 *   absent when none), `id` (a string of digits, up to 2^64-1), `tape` (1, 2, 3), `correction` on
 *   corrected trades (and 0 on some others); quotes have `bid_*`/`ask_*`, `conditions`, sometimes
 *   `indicators`, sizes as the model has them (lots before 2025-11-03, shares after). A known ticker
 *   has `ticksPerDay` rows on each NYSE trading day it is listed: fake-ticks' model (times, prices,
 *   sizes, ids, ties) in Massive's fields. Interpretations: members in alphabetical order (so
 *   `sip_timestamp` is never first); a date names its New York day (`.gt` a date: after that day,
 *   `.lt`: before it); nothing matching → 200 without `results` (like the aggregates); a page holds
 *   at most `tickPageRows` rows whatever `limit` says (so tests page with few rows); unknown
 *   parameters → 400; a cursor's parameters override the query's; participant ids are A = 1 … Z = 26
 *   of fake-ticks' letters (D, the TRF, = 4); condition and correction codes are a plausible fixed
 *   mapping; an empty bid side is left out, an empty ask side is zeros (both forms are served).
 * - 403 `{"status":"NOT_AUTHORIZED","message":…}` for a range older than the plan's history, a future
 *   date (issue #313), or an endpoint outside the plan (grouped daily, trades or quotes); 429
 *   `{"status":"ERROR","error":…}` past the rate limit; 5xx as short JSON or text. `X-Request-Id` on
 *   every response; no X-RateLimit-* headers (none are documented for Massive).
 * - Injectable faults drawn on arrival from a seeded generator (502/503/504), a provider that is down
 *   (every request 503), a 429 storm, latency, and holding requests to stop a client at a known point.
 * - Corporate actions (section 4; the model is ./corporate-actions.ts): the fake has a notion of "now"
 *   (a New York date, `setNow`, default today) and a list of actions (`actions`; the older `splits`
 *   option is sugar for forward/reverse splits that are always visible). `GET /stocks/v1/splits` and
 *   `GET /stocks/v1/dividends` list the actions visible at "now" (SPEC fields, `limit` default 100,
 *   max 5000, `sort` a comma list of `field.asc|field.desc`, defaults `execution_date.desc` and
 *   `ticker.asc`, `next_url` on the real host with an opaque `cursor` that carries every other
 *   parameter, like the aggregates). `adjusted=true` bars (aggregates and grouped) are split-adjusted
 *   as of "now" with the splits effective then. `historical_adjustment_factor` is the cumulative
 *   factor (the event's own times every later effective one of the same kind), unrounded.
 *   Interpretations: unknown parameters on these two endpoints → 400 (strict, to catch client typos);
 *   an empty list is `results: []`; ties in a sort are broken by date then id; dividends are all
 *   quarterly (`frequency` 4) and `recurring`, declared on their announcement date, recorded on the
 *   ex-date, paid two weeks later; `split_adjusted_cash_amount` = cash × the split factor of the
 *   ex-date (splits after it); "now" governs actions only — which bars exist still follows the clock.
 *
 * Interpretations (not documented facts): hour and multi-minute bars cost the 1-minute bars inside
 * their window (at least 1); week/month bars cost the sessions in their period; a first bar costing more
 * than `limit` is still served alone (so paging always progresses); bars after the present are not
 * served; `from` after `to` → 200 empty; a cursor's options override the query's; the grouped `t` is
 * 16:00 even on early-close days; the extra tickers are unknown to the per-ticker endpoint (200, no
 * results); auth is checked before the path (an unknown path with a bad key is 401); `down` answers 503
 * before auth (a gateway outage); the logged `query` is the raw query string (with any apiKey).
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import { nyseRuleCalendar } from '../../src/shared/calendar.js';
import { intradayMinutes, isIntraday, parseTimeframe, type Timeframe } from '../../src/shared/timeframe.js';
import { addDays, isIsoDate, isoFromParts, MINUTE_MS, nyDateOf, nyMidnightUtc, nyWallToUtc, weekday } from '../../src/shared/time.js';
import { type BarTuple, SyntheticMarket } from '../../src/sources/synthetic/generator.js';
import {
  actionId, barAdjuster, checkActions, type FakeCorporateAction, historicalFactor, isSplit, sessionBefore, splitFactor, visibleActions,
} from './corporate-actions.js';
import { DEFAULT_FAKE_SYMBOLS, type FakeSymbol, type LoggedRequest as BaseLoggedRequest, mulberry32 } from './fake-alpaca.js';
import { DEFAULT_TICKS_PER_DAY, type FakeTickKind, searchTime, type TickDay } from './fake-ticks.js';
import { FixedWindowCount, LoopbackServer } from './loopback-server.js';
import { DEFAULT_MASSIVE_SEED, type MassiveQuote, massiveTickDay, type MassiveTicks, type MassiveTrade } from './massive-ticks.js';

export type { FakeSymbol };
/** The tick model lives in ./massive-ticks.ts (FakeS3's trades_v1 / quotes_v1 files hold the same rows). */
export type { MassiveQuote, MassiveTicks, MassiveTrade };

export interface FakeMassiveOptions {
  /** Default 'massive-test-key-0123456789'. */
  apiKey?: string;
  /** Tickers served by both endpoints; default DEFAULT_FAKE_SYMBOLS from fake-alpaca. */
  tickers?: Record<string, FakeSymbol>;
  /** Extra generated tickers ('ZZ0001'…) that appear only in grouped daily; default 300. */
  extraGroupedTickers?: number;
  /** Authenticated requests allowed per fixed window (aligned to the epoch); over it → 429. */
  rateLimit?: { limit: number; windowMs: number };
  /** 'YYYY-MM-DD': a request whose range starts earlier → 403 "Your plan doesn't include this data timeframe…". */
  historyFrom?: string;
  /** The grouped endpoint → 403 "You are not entitled to this data…". */
  groupedNotEntitled?: boolean;
  /** These tick endpoints → 403 "You are not entitled to this data…" (trades need a Developer plan, quotes an Advanced one). */
  ticksNotEntitled?: FakeTickKind[];
  /** Trades/quotes per ticker and trading day; default fake-ticks' DEFAULT_TICKS_PER_DAY. A ticker's own `ticksPerDay` wins. */
  ticksPerDay?: Partial<Record<FakeTickKind, number>>;
  /** Rows a trades/quotes page holds at most, whatever `limit` asks; default 50000. */
  tickPageRows?: number;
  /**
   * Sugar for split actions (always visible): `ratio` new shares per old share on the ex-date `date`
   * (≥ 1 a forward split old 1 → new ratio; < 1 a reverse split old 1/ratio → new 1). With adjusted=true,
   * bars before `date` get prices × 1/ratio, volume ÷ (1/ratio) rounded.
   */
  splits?: { ticker: string; date: string; ratio: number }[];
  /** Corporate actions: listed under /stocks/v1/splits and /stocks/v1/dividends; splits adjust adjusted=true bars. */
  actions?: FakeCorporateAction[];
  /** The fake's "now" (New York date) for corporate actions; default: today. Change it with `setNow`. */
  now?: string;
  faults?: {
    /** Probability that a data request gets 502, 503 or 504. */
    serverErrorRate?: number;
    /** Every request gets 503. */
    down?: boolean;
    /** The first `count` data requests (aggregates, grouped, trades, quotes) get 429. */
    storm?: { count: number };
  };
  /** Fixed latency added to every response. */
  latencyMs?: number;
  seed?: number;
}

export interface LoggedRequest extends BaseLoggedRequest {
  /** How the request carried its key (bearer wins when both are present). */
  auth: 'bearer' | 'query' | 'none';
}

interface Answer {
  status: number;
  /** A JSON value, plain text (a string), or JSON already rendered (a RawJson, the hot path). */
  body: unknown;
  headers?: Record<string, string>;
}

/** A response body already rendered as JSON text. */
class RawJson {
  constructor(readonly json: string) {}
}

/** A bar as served and the base aggregates it consumed from `limit`. */
interface Item {
  bar: BarTuple;
  cost: number;
}

const REAL_BASE = 'https://api.massive.com';
const DEFAULT_LIMIT = 5_000;
const MAX_LIMIT = 50_000;
const TIMESPAN_UNITS: Record<string, string> = { minute: 'Min', hour: 'Hour', day: 'Day', week: 'Week', month: 'Month' };
const DAY = parseTimeframe('1Day')!;
const MIN1 = parseTimeframe('1Min')!;
const PRICING = 'Please upgrade your plan at https://massive.com/pricing';
const NOT_ENTITLED = `You are not entitled to this data. ${PRICING}`;
const NO_TIMEFRAME = `Your plan doesn't include this data timeframe. ${PRICING}`;
const RATE_LIMITED = "You've exceeded the maximum requests per minute, please wait or upgrade your subscription to continue.";
const BAD_TIME = 'Could not parse the time parameter: use YYYY-MM-DD or Unix MS Timestamps';
const TICKS_DEFAULT_LIMIT = 1_000;
const TICK_PARAMS = ['timestamp', 'timestamp.gte', 'timestamp.gt', 'timestamp.lte', 'timestamp.lt', 'order', 'limit', 'sort'];
/** `/v3/trades/{ticker}` or `/v3/quotes/{ticker}`. */
const TICKS_PATH = /^\/v3\/(trades|quotes)\/([^/]+)$/;
const NS_PER_MS = 1_000_000n;
const ACTIONS_DEFAULT_LIMIT = 100;
const ACTIONS_MAX_LIMIT = 5_000;

/** One of the two corporate-action lists: its filterable fields and defaults (SPEC, section 4). */
interface ActionList {
  path: 'splits' | 'dividends';
  dateField: 'execution_date' | 'ex_dividend_date';
  defaultSort: string;
  /** Every field of a record (what `sort` may name). */
  fields: readonly string[];
  /** Filterable with `=`, `.gt/.gte/.lt/.lte` (and `.any_of` for strings), with how values are checked. */
  filters: Record<string, { kind: 'text' | 'date' | 'number'; anyOf: boolean; values?: readonly string[] }>;
}

const SPLIT_LIST: ActionList = {
  path: 'splits',
  dateField: 'execution_date',
  defaultSort: 'execution_date.desc',
  fields: ['ticker', 'execution_date', 'split_from', 'split_to', 'adjustment_type', 'historical_adjustment_factor', 'id'],
  filters: {
    ticker: { kind: 'text', anyOf: true },
    execution_date: { kind: 'date', anyOf: false },
    adjustment_type: { kind: 'text', anyOf: true, values: ['forward_split', 'reverse_split', 'stock_dividend'] },
  },
};

const DIVIDEND_LIST: ActionList = {
  path: 'dividends',
  dateField: 'ex_dividend_date',
  defaultSort: 'ticker.asc',
  fields: [
    'ticker', 'cash_amount', 'currency', 'declaration_date', 'ex_dividend_date', 'record_date', 'pay_date', 'frequency', 'distribution_type',
    'split_adjusted_cash_amount', 'historical_adjustment_factor', 'id',
  ],
  filters: {
    ticker: { kind: 'text', anyOf: true },
    ex_dividend_date: { kind: 'date', anyOf: false },
    frequency: { kind: 'number', anyOf: false },
    distribution_type: { kind: 'text', anyOf: true, values: ['recurring', 'special', 'supplemental', 'irregular', 'unknown'] },
  },
};

const RANGE_OPS = ['gt', 'gte', 'lt', 'lte'] as const;

/** A small least-recently-used map: the fake keeps generated series without growing without bound. */
class Lru<V> {
  private readonly map = new Map<string, V>();
  constructor(private readonly capacity: number) {}
  get(key: string): V | undefined {
    const value = this.map.get(key);
    if (value !== undefined) {
      this.map.delete(key);
      this.map.set(key, value);
    }
    return value;
  }
  set(key: string, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value!);
  }
}

/** A New York date or Unix ms; a date ends at the end of that New York day when `end`. */
function parseBound(value: string, end: boolean): number | undefined {
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) {
    if (!isIsoDate(value)) return undefined;
    return end ? nyMidnightUtc(addDays(value, 1)) - 1 : nyMidnightUtc(value);
  }
  if (/^\d{1,16}$/.test(value)) return Number(value);
  return undefined;
}

function parseBool(value: string | undefined, fallback: boolean): boolean | undefined {
  if (value === undefined) return fallback;
  if (value === 'true') return true;
  if (value === 'false') return false;
  return undefined;
}

/** The first date after the week (Mon–Fri) or k-month period that contains `date`, as the generator groups them. */
function periodEnd(date: string, tf: Timeframe): string {
  if (tf.unit === 'Week') return addDays(date, 7 - ((weekday(date) + 6) % 7));
  const year = +date.slice(0, 4);
  const first = Math.floor((+date.slice(5, 7) - 1) / tf.amount) * tf.amount; // 0-based first month of the period
  const next = first + tf.amount;
  return isoFromParts(year + Math.floor(next / 12), (next % 12) + 1, 1);
}

/**
 * A number as JSON. Raw prices are whole cents (VWAP whole hundredths of a cent): those print from
 * integers, which is several times faster than printing a double and parses back to the same double.
 */
function num(x: number, scale: number): string {
  const k = Math.round(x * scale);
  if (k / scale !== x || k < 0 || k > 2 ** 31) return String(x);
  const whole = Math.floor(k / scale);
  let frac = k - whole * scale;
  if (frac === 0) return String(whole);
  let digits = scale === 100 ? 2 : 4;
  while (frac % 10 === 0) {
    frac /= 10;
    digits -= 1;
  }
  return `${whole}.${String(frac).padStart(digits, '0')}`;
}

/** One result row as JSON, fields in the real order (`v, vw, o, c, h, l, t, n`). */
function rowJson(bar: BarTuple, t = bar[0], ticker?: string): string {
  const head = ticker === undefined ? '{' : `{"T":${JSON.stringify(ticker)},`;
  return `${head}"v":${bar[5]},"vw":${num(bar[7], 10_000)},"o":${num(bar[1], 100)},"c":${num(bar[4], 100)},"h":${num(bar[2], 100)},"l":${num(bar[3], 100)},"t":${t},"n":${bar[6]}}`;
}

/** Rows joined by commas, built as one string (cheaper than an array of row strings joined). */
function renderRows(bars: readonly BarTuple[]): string {
  let text = '';
  for (let i = 0; i < bars.length; i++) text += (i === 0 ? '' : ',') + rowJson(bars[i]);
  return text;
}

/** Daily bars of one ticker-year, eight numbers a bar (half the memory of tuples: a 10-year, 500-ticker run stays cached). */
function packBars(bars: readonly BarTuple[]): Float64Array {
  const packed = new Float64Array(bars.length * 8);
  bars.forEach((bar, i) => packed.set(bar, i * 8));
  return packed;
}

function unpackBar(packed: Float64Array, i: number): BarTuple {
  const k = i * 8;
  return [packed[k], packed[k + 1], packed[k + 2], packed[k + 3], packed[k + 4], packed[k + 5], packed[k + 6], packed[k + 7]];
}

/** A row as Massive writes it: members in alphabetical order, nanosecond stamps as bare (exact) integers. */
function tickRowJson(row: MassiveTrade | MassiveQuote): string {
  const members = Object.entries(row).sort(([a], [b]) => (a < b ? -1 : 1));
  return `{${members.map(([k, v]) => `"${k}":${typeof v === 'bigint' ? v.toString() : JSON.stringify(v)}`).join(',')}}`;
}

/** What a `timestamp` value names as [start, end) ns: a date its New York day, an integer that nanosecond. */
function tickInstants(value: string): { start: bigint; end: bigint } | undefined {
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) {
    if (!isIsoDate(value)) return undefined;
    return { start: BigInt(nyMidnightUtc(value)) * NS_PER_MS, end: BigInt(nyMidnightUtc(addDays(value, 1))) * NS_PER_MS };
  }
  if (!/^\d{1,19}$/.test(value)) return undefined;
  const ns = BigInt(value);
  return { start: ns, end: ns + 1n };
}

/**
 * A cursor carries the first request's parameters and the rows served so far; the rest of the query
 * is then ignored. Without a cursor: the query itself, from row 0. Undefined: a cursor we did not issue.
 */
function readCursor(query: Record<string, string>): { params: Record<string, string>; offset: number } | undefined {
  if (query.cursor === undefined) return { params: Object.fromEntries(Object.entries(query).filter(([k]) => k !== 'apiKey' && k !== 'cursor')), offset: 0 };
  const params = Object.fromEntries(new URLSearchParams(Buffer.from(query.cursor, 'base64url').toString('utf8')).entries());
  const offset = /^\d{1,9}$/.test(params.offset ?? '') ? Number(params.offset) : Number.NaN;
  delete params.offset;
  return Number.isInteger(offset) ? { params, offset } : undefined;
}

export class FakeMassive extends LoopbackServer {
  readonly apiKey: string;
  readonly log: LoggedRequest[] = [];
  private readonly tickers: Record<string, FakeSymbol>;
  /** Generated tickers that only grouped daily returns (the per-ticker endpoint does not know them). */
  private readonly extras: Set<string>;
  private readonly allGrouped: string[];
  /** The corporate actions this fake knows (visible or not yet), the `splits` sugar included. */
  readonly actions: readonly FakeCorporateAction[];
  private nowDate: string | undefined;
  /** Split adjusters per ticker for `adjusterNow` (rebuilt when "now" moves). */
  private readonly adjusters = new Map<string, (bar: BarTuple) => BarTuple>();
  private adjusterNow = '';
  private readonly market = new SyntheticMarket();
  private readonly random: () => number;
  private readonly seed: number;
  private requestCount = 0;
  private readonly rateWindow = new FixedWindowCount();
  private stormed = 0;
  /** Raw daily bars per ticker and year (packed); intraday bars per ticker, timeframe and session date. */
  private readonly dailyCache = new Lru<Float64Array>(6_144);
  private readonly intradayCache = new Lru<BarTuple[]>(512);

  constructor(private readonly options: FakeMassiveOptions = {}) {
    super();
    this.apiKey = options.apiKey ?? 'massive-test-key-0123456789';
    this.tickers = options.tickers ?? DEFAULT_FAKE_SYMBOLS;
    const extraCount = options.extraGroupedTickers ?? 300;
    const extras = Array.from({ length: extraCount }, (_, i) => `ZZ${String(i + 1).padStart(4, '0')}`).filter((t) => !Object.hasOwn(this.tickers, t));
    this.extras = new Set(extras);
    this.allGrouped = [...Object.keys(this.tickers), ...extras].sort();
    const sugar = (options.splits ?? []).map((s): FakeCorporateAction => {
      if (!isIsoDate(s.date) || !(s.ratio > 0)) throw new Error(`bad split ${JSON.stringify(s)}`);
      const forward = s.ratio >= 1;
      return { symbol: s.ticker, type: forward ? 'forward_split' : 'reverse_split', exDate: s.date, oldRate: forward ? 1 : 1 / s.ratio, newRate: forward ? s.ratio : 1, announced: '1900-01-01' };
    });
    this.actions = [...sugar, ...(options.actions ?? [])];
    checkActions(this.actions);
    if (options.now !== undefined) this.setNow(options.now);
    this.seed = options.seed ?? DEFAULT_MASSIVE_SEED;
    this.random = mulberry32(this.seed);
  }

  /** The fake's "now" for corporate actions: the date set, else today in New York. */
  get now(): string {
    return this.nowDate ?? nyDateOf(Date.now());
  }

  /** Move the fake's "now" (a New York date): which actions are listed and how adjusted bars are scaled. */
  setNow(date: string): void {
    if (!isIsoDate(date)) throw new Error(`setNow: not a YYYY-MM-DD date: ${date}`);
    this.nowDate = date;
  }

  /** Corporate-action requests (/stocks/v1/splits and /stocks/v1/dividends). */
  get actionRequests(): LoggedRequest[] {
    return this.log.filter((r) => r.path.startsWith('/stocks/v1/'));
  }

  get aggRequests(): LoggedRequest[] {
    return this.log.filter((r) => r.path.startsWith('/v2/aggs/ticker/'));
  }

  get groupedRequests(): LoggedRequest[] {
    return this.log.filter((r) => r.path.startsWith('/v2/aggs/grouped/'));
  }

  get tradeRequests(): LoggedRequest[] {
    return this.log.filter((r) => r.path.startsWith('/v3/trades/'));
  }

  get quoteRequests(): LoggedRequest[] {
    return this.log.filter((r) => r.path.startsWith('/v3/quotes/'));
  }

  /** Every trade the server holds for a ticker stamped in [startMs, endMs), oldest first: what a correct client stores. */
  expectedTrades(ticker: string, startMs: number, endMs: number): MassiveTrade[] {
    return this.expectedTicks('trades', ticker, startMs, endMs);
  }

  expectedQuotes(ticker: string, startMs: number, endMs: number): MassiveQuote[] {
    return this.expectedTicks('quotes', ticker, startMs, endMs);
  }

  expectedTicks<K extends FakeTickKind>(kind: K, ticker: string, startMs: number, endMs: number): MassiveTicks[K][] {
    const rows: MassiveTicks[K][] = [];
    for (const span of this.tickSpans(kind, ticker, BigInt(startMs) * NS_PER_MS, BigInt(endMs) * NS_PER_MS, false)) {
      for (let k = span.from; k < span.to; k++) rows.push(span.day.at(k));
    }
    return rows;
  }

  /**
   * Bars the server holds for a ticker with window start in [startMs, endMs] inclusive, as the per-ticker endpoint serves them.
   * An extra (grouped-only) ticker has daily bars only: those grouped daily serves, stamped at New York midnight.
   */
  expectedBars(ticker: string, timeframe: Timeframe, startMs: number, endMs: number, adjusted = true): BarTuple[] {
    const out: BarTuple[] = [];
    for (const item of this.series(ticker, timeframe, startMs, endMs, adjusted, false, true)) out.push([...item.bar]);
    return out;
  }

  /** Every ticker grouped daily returns (tickers + extras), sorted. */
  groupedTickers(): string[] {
    return [...this.allGrouped];
  }

  // ---- data -------------------------------------------------------------------------------------

  /** [first, last] instants a ticker trades; undefined for a ticker unknown (extras are known to grouped daily only). */
  private listing(ticker: string, withExtras: boolean): [number, number] | undefined {
    if (!Object.hasOwn(this.tickers, ticker)) return withExtras && this.extras.has(ticker) ? [-Infinity, Infinity] : undefined;
    const meta = this.tickers[ticker];
    return [
      meta.listedFrom ? nyMidnightUtc(meta.listedFrom) : -Infinity,
      meta.delistedAfter ? nyMidnightUtc(addDays(meta.delistedAfter, 1)) - 1 : Infinity,
    ];
  }

  /** A bar as adjusted=true serves it: split-adjusted as of "now" (corporate-actions.ts). */
  private adjust(ticker: string, bar: BarTuple): BarTuple {
    if (this.actions.length === 0) return bar;
    const now = this.now;
    if (now !== this.adjusterNow) {
      this.adjusters.clear();
      this.adjusterNow = now;
    }
    let adjuster = this.adjusters.get(ticker);
    if (!adjuster) {
      adjuster = barAdjuster(ticker, 'split', this.actions, now, () => undefined);
      this.adjusters.set(ticker, adjuster);
    }
    return adjuster(bar);
  }

  /**
   * A ticker's trades or quotes of a New York date, oldest first: fake-ticks' model in Massive's
   * fields; none for an unknown or unlisted ticker or a day without a session.
   */
  private tickDay<K extends FakeTickKind>(kind: K, ticker: string, date: string): TickDay<MassiveTicks[K]> | undefined {
    const listing = this.listing(ticker, false);
    const midnight = nyMidnightUtc(date);
    if (!listing || midnight < listing[0] || midnight > listing[1]) return undefined;
    const count = this.tickers[ticker].ticksPerDay?.[kind] ?? this.options.ticksPerDay?.[kind] ?? DEFAULT_TICKS_PER_DAY[kind];
    return massiveTickDay(kind, ticker, date, count, this.seed);
  }

  /** A ticker's rows stamped in [fromNs, toNs) as index ranges, day by day, newest day first when `desc`. */
  private *tickSpans<K extends FakeTickKind>(kind: K, ticker: string, fromNs: bigint, toNs: bigint, desc: boolean): Generator<{ day: TickDay<MassiveTicks[K]>; from: number; to: number }> {
    if (toNs <= fromNs) return;
    const first = nyDateOf(Number(fromNs / NS_PER_MS));
    const last = nyDateOf(Number((toNs - 1n) / NS_PER_MS));
    for (let date = desc ? last : first; desc ? date >= first : date <= last; date = addDays(date, desc ? -1 : 1)) {
      const day = this.tickDay(kind, ticker, date);
      if (!day) continue;
      const from = searchTime(day, fromNs);
      const to = searchTime(day, toNs);
      if (from < to) yield { day, from, to };
    }
  }

  /** The raw daily close of the last session before `exDate`, if the ticker traded then. */
  rawCloseBefore(ticker: string, exDate: string): number | undefined {
    const date = sessionBefore(exDate);
    const listing = this.listing(ticker, true);
    if (date === undefined || !listing) return undefined;
    const t = nyMidnightUtc(date);
    if (t < listing[0] || t > listing[1]) return undefined;
    return this.dailyBar(ticker, date)?.[4];
  }

  private dailyYear(ticker: string, year: number): Float64Array {
    const key = `${ticker}|${year}`;
    let bars = this.dailyCache.get(key);
    if (!bars) {
      bars = packBars(this.market.bars(ticker, DAY, nyMidnightUtc(isoFromParts(year, 1, 1)), nyMidnightUtc(isoFromParts(year + 1, 1, 1)) - 1));
      this.dailyCache.set(key, bars);
    }
    return bars;
  }

  private intradayDay(ticker: string, tf: Timeframe, date: string): BarTuple[] {
    const key = `${ticker}|${tf.api}|${date}`;
    let bars = this.intradayCache.get(key);
    if (!bars) {
      bars = this.market.bars(ticker, tf, nyMidnightUtc(date), nyMidnightUtc(addDays(date, 1)) - 1);
      this.intradayCache.set(key, bars);
    }
    return bars;
  }

  /** The raw daily bar of a ticker on a session date (any ticker, listed or not). */
  private dailyBar(ticker: string, date: string): BarTuple | undefined {
    const bars = this.dailyYear(ticker, +date.slice(0, 4));
    const t = nyMidnightUtc(date);
    let lo = 0;
    let hi = bars.length / 8 - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const stamp = bars[mid * 8];
      if (stamp === t) return unpackBar(bars, mid);
      if (stamp < t) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }

  /** The per-ticker endpoint's bars in time order, generated lazily (a page stops early), with their base-aggregate cost. */
  private *series(ticker: string, tf: Timeframe, startMs: number, endMs: number, adjusted: boolean, withCost: boolean, withExtras = false): Generator<Item> {
    const listing = this.listing(ticker, withExtras && tf.unit === 'Day');
    if (!listing) return;
    const from = Math.max(startMs, listing[0], 0);
    const to = Math.min(endMs, listing[1], Date.now());
    if (!(to >= from)) return;
    const out = (bar: BarTuple, cost: number): Item => ({ bar: adjusted ? this.adjust(ticker, bar) : bar, cost });
    if (isIntraday(tf)) {
      const step = intradayMinutes(tf) * MINUTE_MS;
      for (const session of nyseRuleCalendar.sessions(nyDateOf(from), nyDateOf(to))) {
        const minutes = withCost && step > MINUTE_MS ? this.intradayDay(ticker, MIN1, session.date) : undefined;
        let j = 0;
        for (const bar of this.intradayDay(ticker, tf, session.date)) {
          if (bar[0] < from) continue;
          if (bar[0] > to) return;
          let cost = 1;
          if (minutes) {
            while (j < minutes.length && minutes[j][0] < bar[0]) j++;
            let k = j;
            while (k < minutes.length && minutes[k][0] < bar[0] + step) k++;
            cost = Math.max(1, k - j);
            j = k;
          }
          yield out(bar, cost);
        }
      }
      return;
    }
    if (tf.unit === 'Day') {
      for (let year = +nyDateOf(from).slice(0, 4), last = +nyDateOf(to).slice(0, 4); year <= last; year++) {
        const bars = this.dailyYear(ticker, year);
        for (let k = 0; k < bars.length; k += 8) {
          if (bars[k] < from) continue;
          if (bars[k] > to) return;
          yield out(unpackBar(bars, k / 8), 1);
        }
      }
      return;
    }
    for (const bar of this.market.bars(ticker, tf, from, to)) {
      let cost = 1;
      if (withCost) {
        const date = nyDateOf(bar[0]);
        cost = Math.max(1, nyseRuleCalendar.sessions(date, addDays(periodEnd(date, tf), -1)).length);
      }
      yield out(bar, cost);
    }
  }

  // ---- HTTP -------------------------------------------------------------------------------------

  private rateAllows(now: number): boolean {
    const rl = this.options.rateLimit;
    if (!rl) return true;
    return this.rateWindow.add(now, rl.windowMs) <= rl.limit;
  }

  protected async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const now = Date.now();
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const query = Object.fromEntries(url.searchParams.entries());
    const ticks = TICKS_PATH.exec(url.pathname);
    const isData = url.pathname.startsWith('/v2/aggs/') || ticks !== null;
    // Faults are drawn on arrival: how a request fails depends on its arrival index alone.
    const [errorDraw, kindDraw] = isData ? [this.random(), this.random()] : [1, 0];
    this.requestCount += 1;
    const requestId = createHash('md5').update(`${this.seed}:${this.requestCount}`).digest('hex');
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    const auth: LoggedRequest['auth'] = bearer ? 'bearer' : query.apiKey !== undefined ? 'query' : 'none';
    const key = bearer ? bearer[1] : query.apiKey;
    const entry: LoggedRequest = { path: url.pathname, query, status: 0, at: now, auth };
    this.log.push(entry);
    res.setHeader('X-Request-Id', requestId);
    const send = (answer: Answer): void => {
      entry.status = answer.status;
      const isText = typeof answer.body === 'string';
      const text = isText ? (answer.body as string) : answer.body instanceof RawJson ? answer.body.json : JSON.stringify(answer.body);
      res.writeHead(answer.status, {
        ...answer.headers,
        'Content-Type': isText ? 'text/plain; charset=utf-8' : 'application/json',
        'Content-Length': Buffer.byteLength(text),
      });
      res.end(text);
    };
    const error = (status: number, message: string): Answer => ({ status, body: { status: 'ERROR', request_id: requestId, error: message } });

    if (this.options.latencyMs) await new Promise((r) => setTimeout(r, this.options.latencyMs));
    // Only data requests (aggregates, grouped, trades, quotes) count toward a hold.
    if (isData && this.holdIfDue(req, entry)) return;

    const faults = this.options.faults ?? {};
    if (faults.down) return send(error(503, 'Service Unavailable'));
    if (key === undefined || key === '') return send(error(401, 'API Key was not provided'));
    if (key !== this.apiKey) return send(error(401, 'Unknown API Key'));
    if (!this.rateAllows(now)) return send(error(429, RATE_LIMITED));
    if (isData && faults.storm && this.stormed < faults.storm.count) {
      this.stormed += 1;
      return send(error(429, RATE_LIMITED));
    }
    if (isData && faults.serverErrorRate && errorDraw < faults.serverErrorRate) {
      const status = [502, 503, 504][Math.min(2, Math.floor(kindDraw * 3))];
      if (status === 502) return send({ status, body: 'Bad Gateway' });
      if (status === 503) return send(error(503, 'Service Unavailable'));
      return send({ status, body: 'upstream request timeout' });
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(error(405, 'Method Not Allowed'));

    let segments: string[];
    try {
      segments = url.pathname.split('/').map(decodeURIComponent);
    } catch {
      return send(error(400, 'Malformed path'));
    }
    // ['', 'v2', 'aggs', 'ticker', T, 'range', m, timespan, from, to]
    if (segments.length === 10 && segments[1] === 'v2' && segments[2] === 'aggs' && segments[3] === 'ticker' && segments[5] === 'range') {
      return send(this.aggregates(segments[4], segments[6], segments[7], segments[8], segments[9], query, requestId, now));
    }
    // ['', 'v2', 'aggs', 'grouped', 'locale', 'us', 'market', 'stocks', date]
    if (segments.length === 9 && segments.slice(1, 8).join('/') === 'v2/aggs/grouped/locale/us/market/stocks') {
      return send(this.grouped(segments[8], query, requestId, now));
    }
    if (ticks) return send(this.ticks(ticks[1] as FakeTickKind, segments[3], query, requestId, now));
    if (url.pathname === '/stocks/v1/splits') return send(this.actionList(SPLIT_LIST, query, requestId));
    if (url.pathname === '/stocks/v1/dividends') return send(this.actionList(DIVIDEND_LIST, query, requestId));
    send({ status: 404, body: { status: 'NOT_FOUND', request_id: requestId, message: 'Not found' } });
  }

  private aggregates(ticker: string, multiplier: string, timespan: string, fromRaw: string, toRaw: string, query: Record<string, string>, requestId: string, now: number): Answer {
    const error = (message: string): Answer => ({ status: 400, body: { status: 'ERROR', request_id: requestId, error: message } });
    if (!/^[1-9]\d*$/.test(multiplier)) return error('multiplier must be a positive integer');
    const unit = Object.hasOwn(TIMESPAN_UNITS, timespan) ? TIMESPAN_UNITS[timespan] : undefined;
    if (!unit) return error(`timespan '${timespan}' is not supported`);
    const tf = parseTimeframe(`${multiplier}${unit}`);
    if (!tf) return error(`multiplier ${multiplier} is not supported with timespan '${timespan}'`);
    const from = parseBound(fromRaw, false);
    const to = parseBound(toRaw, true);
    if (from === undefined || to === undefined) return error(BAD_TIME);

    // A cursor carries the first request's options; the rest of the query is then ignored.
    let params: Record<string, string> = query;
    if (query.cursor !== undefined) {
      params = Object.fromEntries(new URLSearchParams(Buffer.from(query.cursor, 'base64url').toString('utf8')).entries());
      if (params.adjusted === undefined || params.limit === undefined || params.sort === undefined) return error('Invalid cursor');
    }
    const adjusted = parseBool(params.adjusted, true);
    if (adjusted === undefined) return error("adjusted must be 'true' or 'false'");
    const sort = params.sort ?? 'asc';
    if (sort !== 'asc') return error(sort === 'desc' ? 'sort=desc is not supported by this fake' : "sort must be 'asc' or 'desc'");
    const limit = params.limit === undefined ? DEFAULT_LIMIT : /^\d{1,9}$/.test(params.limit) ? Number(params.limit) : Number.NaN;
    if (!(limit >= 1 && limit <= MAX_LIMIT)) return error(`limit must be an integer from 1 to ${MAX_LIMIT}`);

    if (this.options.historyFrom !== undefined && from < nyMidnightUtc(this.options.historyFrom)) return notAuthorized(requestId, NO_TIMEFRAME);
    if (from > now) return notAuthorized(requestId, NO_TIMEFRAME);

    const results: BarTuple[] = [];
    let used = 0;
    let next: number | undefined;
    for (const item of this.series(ticker, tf, from, to, adjusted, true)) {
      if (results.length > 0 && used + item.cost > limit) {
        next = item.bar[0];
        break;
      }
      results.push(item.bar);
      used += item.cost;
    }
    if (results.length === 0) {
      return { status: 200, body: { ticker, queryCount: 0, resultsCount: 0, adjusted, status: 'OK', request_id: requestId }, headers: { 'X-Item-Count': '0' } };
    }
    const headers: Record<string, string> = { 'X-Item-Count': String(results.length) };
    let tail = '';
    if (next !== undefined) {
      const cursor = Buffer.from(`adjusted=${adjusted}&limit=${limit}&sort=${sort}`).toString('base64url');
      const nextUrl = `${REAL_BASE}/v2/aggs/ticker/${encodeURIComponent(ticker)}/range/${multiplier}/${timespan}/${next}/${toRaw}?cursor=${cursor}`;
      tail = `,"next_url":${JSON.stringify(nextUrl)}`;
      headers.Link = `<${nextUrl}>; rel="next"`;
    }
    const json =
      `{"ticker":${JSON.stringify(ticker)},"queryCount":${used},"resultsCount":${results.length},"adjusted":${adjusted},` +
      `"results":[${renderRows(results)}],"status":"OK","request_id":"${requestId}","count":${results.length}${tail}}`;
    return { status: 200, body: new RawJson(json), headers };
  }

  private grouped(date: string, query: Record<string, string>, requestId: string, now: number): Answer {
    const error = (message: string): Answer => ({ status: 400, body: { status: 'ERROR', request_id: requestId, error: message } });
    if (this.options.groupedNotEntitled) return notAuthorized(requestId, NOT_ENTITLED);
    if (!isIsoDate(date)) return error(BAD_TIME);
    const adjusted = parseBool(query.adjusted, true);
    if (adjusted === undefined) return error("adjusted must be 'true' or 'false'");
    if (parseBool(query.include_otc, false) === undefined) return error("include_otc must be 'true' or 'false'");
    if (this.options.historyFrom !== undefined && date < this.options.historyFrom) return notAuthorized(requestId, NO_TIMEFRAME);
    if (date > nyDateOf(now)) return notAuthorized(requestId, NO_TIMEFRAME);

    const empty: Answer = { status: 200, body: { queryCount: 0, resultsCount: 0, adjusted, status: 'OK', request_id: requestId }, headers: { 'X-Item-Count': '0' } };
    if (nyseRuleCalendar.sessions(date, date).length === 0) return empty;
    const midnight = nyMidnightUtc(date);
    const close = nyWallToUtc(date, 16 * 60);
    const rows: string[] = [];
    for (const ticker of this.allGrouped) {
      const listing = this.listing(ticker, true)!;
      if (midnight < listing[0] || midnight > listing[1]) continue;
      const raw = this.dailyBar(ticker, date);
      if (!raw) continue;
      const bar = adjusted ? this.adjust(ticker, raw) : raw;
      rows.push(rowJson(bar, close, ticker));
    }
    if (rows.length === 0) return empty;
    // The real endpoint promises no order: a fixed shuffle per date, so a client cannot lean on one.
    const shuffle = mulberry32(this.seed ^ Math.floor(midnight / 86_400_000));
    for (let i = rows.length - 1; i > 0; i--) {
      const j = Math.floor(shuffle() * (i + 1));
      [rows[i], rows[j]] = [rows[j], rows[i]];
    }
    const json =
      `{"queryCount":${rows.length},"resultsCount":${rows.length},"adjusted":${adjusted},"results":[${rows.join(',')}],` +
      `"status":"OK","request_id":"${requestId}","count":${rows.length}}`;
    return { status: 200, body: new RawJson(json), headers: { 'X-Item-Count': String(rows.length) } };
  }

  /** `GET /v3/trades/{T}` or `/v3/quotes/{T}`: rows in the timestamp bounds, in the order asked, paged by an opaque cursor. */
  private ticks(kind: FakeTickKind, ticker: string, query: Record<string, string>, requestId: string, now: number): Answer {
    const error = (message: string): Answer => ({ status: 400, body: { status: 'ERROR', request_id: requestId, error: message } });
    if (this.options.ticksNotEntitled?.includes(kind)) return notAuthorized(requestId, NOT_ENTITLED);
    const cursor = readCursor(query);
    if (!cursor) return error('Invalid cursor');
    const { params, offset } = cursor;
    const unknown = Object.keys(params).find((name) => !TICK_PARAMS.includes(name));
    if (unknown !== undefined) return error(`Unknown query parameter '${unknown}'`);
    const order = params.order ?? 'desc';
    if (order !== 'asc' && order !== 'desc') return error("order must be 'asc' or 'desc'");
    if ((params.sort ?? 'timestamp') !== 'timestamp') return error("sort must be 'timestamp'");
    const limit = params.limit === undefined ? TICKS_DEFAULT_LIMIT : /^\d{1,9}$/.test(params.limit) ? Number(params.limit) : Number.NaN;
    if (!(limit >= 1 && limit <= MAX_LIMIT)) return error(`limit must be an integer from 1 to ${MAX_LIMIT}`);

    // The bounds as [from, to) ns; nothing after the present exists.
    const nowNs = BigInt(now) * NS_PER_MS;
    let from = 0n;
    let to = nowNs;
    for (const op of ['', '.gte', '.gt', '.lte', '.lt']) {
      const value = params[`timestamp${op}`];
      if (value === undefined) continue;
      const named = tickInstants(value);
      if (!named) return error(`timestamp${op}: use YYYY-MM-DD or a Unix nanosecond timestamp`);
      if (op === '' || op === '.gte') from = from > named.start ? from : named.start;
      if (op === '.gt') from = from > named.end ? from : named.end;
      if (op === '' || op === '.lte') to = to < named.end ? to : named.end;
      if (op === '.lt') to = to < named.start ? to : named.start;
    }
    if (this.options.historyFrom !== undefined && from < BigInt(nyMidnightUtc(this.options.historyFrom)) * NS_PER_MS) return notAuthorized(requestId, NO_TIMEFRAME);
    if (from > nowNs) return notAuthorized(requestId, NO_TIMEFRAME);

    // Rows [offset, offset + pageRows) of the matching ones in order, and whether any follows.
    const pageRows = Math.min(limit, this.options.tickPageRows ?? MAX_LIMIT);
    const rows: (MassiveTrade | MassiveQuote)[] = [];
    let skip = offset;
    let more = false;
    for (const span of this.tickSpans(kind, ticker, from, to, order === 'desc')) {
      const count = span.to - span.from;
      if (skip >= count) {
        skip -= count;
        continue;
      }
      for (let n = skip; n < count && !more; n++) {
        if (rows.length === pageRows) more = true;
        else rows.push(span.day.at(order === 'desc' ? span.to - 1 - n : span.from + n));
      }
      skip = 0;
      if (more) break;
    }
    if (rows.length === 0) return { status: 200, body: { status: 'OK', request_id: requestId } };
    let tail = '';
    if (more) {
      const cursor = Buffer.from(new URLSearchParams({ ...params, offset: String(offset + rows.length) }).toString()).toString('base64url');
      tail = `,"next_url":${JSON.stringify(`${REAL_BASE}/v3/${kind}/${encodeURIComponent(ticker)}?cursor=${cursor}`)}`;
    }
    return { status: 200, body: new RawJson(`{"results":[${rows.map(tickRowJson).join(',')}],"status":"OK","request_id":"${requestId}"${tail}}`) };
  }

  // ---- corporate actions ------------------------------------------------------------------------

  /** The records a list serves at "now": every visible action of its kind, in SPEC fields. */
  private actionRecords(list: ActionList): Record<string, string | number>[] {
    const now = this.now;
    const visible = visibleActions(this.actions, now);
    const closeBefore = (ticker: string) => (exDate: string) => this.rawCloseBefore(ticker, exDate);
    if (list.path === 'splits') {
      return visible.filter(isSplit).map((a) => ({
        ticker: a.symbol,
        execution_date: a.exDate,
        split_from: a.oldRate!,
        split_to: a.newRate!,
        adjustment_type: a.type,
        historical_adjustment_factor: historicalFactor(a, this.actions, now, closeBefore(a.symbol)),
        id: actionId(a),
      }));
    }
    return visible
      .filter((a) => a.type === 'cash_dividend')
      .map((a) => ({
        ticker: a.symbol,
        cash_amount: a.cash!,
        currency: 'USD',
        declaration_date: a.announced ?? addDays(a.exDate, -30),
        ex_dividend_date: a.exDate,
        record_date: a.exDate,
        pay_date: addDays(a.exDate, 14),
        frequency: 4,
        distribution_type: 'recurring',
        split_adjusted_cash_amount: a.cash! * splitFactor(this.actions, a.symbol, a.exDate, now),
        historical_adjustment_factor: historicalFactor(a, this.actions, now, closeBefore(a.symbol)),
        id: actionId(a),
      }));
  }

  /** `GET /stocks/v1/splits` or `/stocks/v1/dividends`: filtered, sorted, paged with `next_url`. */
  private actionList(list: ActionList, query: Record<string, string>, requestId: string): Answer {
    const error = (message: string): Answer => ({ status: 400, body: { status: 'ERROR', request_id: requestId, error: message } });
    const cursor = readCursor(query);
    if (!cursor) return error('Invalid cursor');
    const { params, offset } = cursor;

    const tests: ((record: Record<string, string | number>) => boolean)[] = [];
    let limit = ACTIONS_DEFAULT_LIMIT;
    let sortSpec = list.defaultSort;
    for (const [name, value] of Object.entries(params)) {
      if (name === 'limit') {
        limit = /^\d{1,9}$/.test(value) ? Number(value) : Number.NaN;
        if (!(limit >= 1 && limit <= ACTIONS_MAX_LIMIT)) return error(`limit must be an integer from 1 to ${ACTIONS_MAX_LIMIT}`);
        continue;
      }
      if (name === 'sort') {
        sortSpec = value;
        continue;
      }
      const dot = name.indexOf('.');
      const field = dot < 0 ? name : name.slice(0, dot);
      const op = dot < 0 ? 'eq' : name.slice(dot + 1);
      const filter = Object.hasOwn(list.filters, field) ? list.filters[field] : undefined;
      if (!filter || !(op === 'eq' || (op === 'any_of' && filter.anyOf) || (RANGE_OPS as readonly string[]).includes(op))) {
        return error(`Unknown query parameter '${name}'`);
      }
      const values = op === 'any_of' ? value.split(',') : [value];
      for (const v of values) {
        if (filter.kind === 'date' && !isIsoDate(v)) return error(`${name}: expected YYYY-MM-DD`);
        if (filter.kind === 'number' && !/^\d+$/.test(v)) return error(`${name}: expected an integer`);
        if (filter.values && (op === 'eq' || op === 'any_of') && !filter.values.includes(v)) return error(`${name}: unknown value '${v}'`);
      }
      const typed = (v: string): string | number => (filter.kind === 'number' ? Number(v) : v);
      const arg = typed(value);
      const set = new Set(values.map(typed));
      tests.push((record) => {
        const x = record[field];
        switch (op) {
          case 'eq': return x === arg;
          case 'any_of': return set.has(x);
          case 'gt': return x > arg;
          case 'gte': return x >= arg;
          case 'lt': return x < arg;
          default: return x <= arg;
        }
      });
    }

    const records = this.actionRecords(list);
    const keys: { field: string; desc: boolean }[] = [];
    for (const part of sortSpec.split(',').filter(Boolean)) {
      const m = /^(.+?)(?:\.(asc|desc))?$/.exec(part)!;
      if (!list.fields.includes(m[1])) return error(`sort: unknown field '${m[1]}'`);
      keys.push({ field: m[1], desc: m[2] === 'desc' });
    }
    keys.push({ field: list.dateField, desc: false }, { field: 'id', desc: false });
    const compare = (a: Record<string, string | number>, b: Record<string, string | number>): number => {
      for (const { field, desc } of keys) {
        const x = a[field];
        const y = b[field];
        if (x !== y) return (x < y ? -1 : 1) * (desc ? -1 : 1);
      }
      return 0;
    };
    const matching = records.filter((r) => tests.every((t) => t(r))).sort(compare);
    const results = matching.slice(offset, offset + limit);
    const body: Record<string, unknown> = { status: 'OK', request_id: requestId, results };
    if (offset + results.length < matching.length) {
      const cursor = Buffer.from(new URLSearchParams({ ...params, offset: String(offset + results.length) }).toString()).toString('base64url');
      body.next_url = `${REAL_BASE}/stocks/v1/${list.path}?cursor=${cursor}`;
    }
    return { status: 200, body };
  }
}

function notAuthorized(requestId: string, message: string): Answer {
  return { status: 403, body: { status: 'NOT_AUTHORIZED', request_id: requestId, message } };
}
