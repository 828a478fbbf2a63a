/**
 * A loopback fake of Alpaca's Market Data v2 and the trading endpoints an ingester uses, written from
 * ../shared/reference/alpaca-market-data.md: multi- and single-symbol bars, a page `limit` shared
 * across symbols in symbol-then-time order, opaque page tokens, unknown symbols absent, 400 for
 * malformed symbols and unknown parameters, 403 for bad keys and plan restrictions, 422 for a bad
 * timeframe, X-RateLimit-* headers and 429, plus injectable faults (5xx, resets, truncated and slow
 * responses). Its data is the synthetic market, so tests can compute exactly what it holds.
 *
 * Corporate actions (reference "Corporate actions"; the model is ./corporate-actions.ts): the fake
 * has a notion of "now" (a New York date, `setNow`, default today) and a list of actions. It lists
 * the actions visible at "now" under `GET /v1/corporate-actions` (and `/v1beta1/…`), and bars asked
 * with `adjustment=split|dividend|all` (comma-combinable; `spin-off` is accepted and changes nothing)
 * are back-adjusted as of "now"; `raw` (the default) is untouched. Interpretations: `symbols` is
 * required here (real Alpaca would list every symbol); `cusips` and `ids` are not modelled (400 like
 * any unexpected parameter); `start`/`end` default to "now"; `limit` 1..1000, default 100 (Alpaca's
 * docs); records are ordered by process_date (= ex_date for every type here), then type, symbol and
 * id, and `sort=desc` reverses that; the page token is opaque and null once nothing is left; a type
 * with no record on a page is absent from `corporate_actions`; a name change matches `symbols` by
 * its old or its new symbol. Dates other than ex_date are plausible fillers: splits pay the session
 * before the ex-date (forward) or on it (reverse), dividends have record date = ex-date (T+1) and
 * pay two weeks later. Corporate-action requests pass the same auth and rate limit as bars but no
 * fault injection and no holding.
 *
 * Trades and quotes (reference "Trades and quotes in detail"; the model is ./fake-ticks.ts):
 * `/v2/stocks/trades|quotes` and `/v2/stocks/{symbol}/trades|quotes`, paged like bars (symbols in
 * alphabetical order, then time; `limit` shared across symbols; opaque tokens holding a
 * symbol/day/row cursor). `start`/`end` are inclusive at nanosecond precision. A known symbol has
 * `ticksPerDay` generated rows on each NYSE trading day it is listed; `setTicks` and `correctDay`
 * replace a day. Interpretations: `start` is required (as for bars here); only `sort=asc` is served
 * (desc is a 400); `feed`, `asof` and `currency` are validated or accepted but do not change the data.
 * Tick requests share everything bars have: auth, rate limit, faults, holding, `cachePages` (a
 * replaced day drops the cached tick pages).
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import { isNyseTradingDay, nyseRuleCalendar } from '../../src/shared/calendar.js';
import { parseTimeframe, type Timeframe } from '../../src/shared/timeframe.js';
import { addDays, isIsoDate, nyMidnightUtc, nyDateOf } from '../../src/shared/time.js';
import { type BarTuple, SyntheticMarket } from '../../src/sources/synthetic/generator.js';
import { formatBarTime, pageSlices, renderBarsPage } from './alpaca-wire.js';
import {
  correctRows, DEFAULT_TICKS_PER_DAY, fixedDay, type FakeTickKind, generatedDay, renderSingleTicksPage, renderTicksPage, rfc3339ToNs, rowsOf,
  searchTime, type TickDay, type TickRows, type WireQuote, type WireTrade,
} from './fake-ticks.js';
import { actionId, adjustBars, checkActions, type FakeAdjustment, type FakeCorporateAction, sessionBefore, visibleActions } from './corporate-actions.js';
import { FixedWindowCount, LoopbackServer } from './loopback-server.js';

export interface FakeSymbol {
  /** No bars before this New York date (IPO). */
  listedFrom?: string;
  /** No bars after this date (delisted). */
  delistedAfter?: string;
  status?: 'active' | 'inactive';
  /** Generated trades/quotes per trading day for this symbol; default FakeOptions.ticksPerDay. */
  ticksPerDay?: Partial<Record<FakeTickKind, number>>;
}

export interface FakeFaults {
  /** Probability of a 5xx answer. */
  serverErrorRate?: number;
  /** Probability of a connection reset before any response. */
  resetRate?: number;
  /** Probability of a response cut off halfway through the body. */
  truncateRate?: number;
  /** Probability of a response delayed by `slowMs`. */
  slowRate?: number;
  slowMs?: number;
  /** Every data request (bars, trades, quotes) fails with 503 (the provider is down). */
  down?: boolean;
  /** The first `count` data requests get 429 with a reset `resetMs` ahead (another client used the budget). */
  storm?: { count: number; resetMs: number };
}

export interface FakeOptions {
  keyId?: string;
  secretKey?: string;
  symbols?: Record<string, FakeSymbol>;
  /** Symbols the server rejects as malformed (400 invalid symbol). */
  rejectSymbols?: string[];
  /** Requests allowed per window; the headers report the equivalent per-minute figure. */
  rateLimit?: { limit: number; windowMs: number };
  faults?: FakeFaults;
  /** Answer 403 "subscription does not permit querying recent SIP data" for SIP ends this many minutes before now (the free plan: 15). */
  restrictRecentSipMinutes?: number;
  /** Fixed latency added to every response. */
  latencyMs?: number;
  /** Keep every rendered bars, trades and quotes page, so repeated runs cost the server a lookup (benchmarks); `setTicks`/`correctDay` drop the tick pages. */
  cachePages?: boolean;
  seed?: number;
  /** Corporate actions: listed under /v1/corporate-actions and applied to adjusted bars (see corporate-actions.ts). */
  actions?: FakeCorporateAction[];
  /** The fake's "now" (New York date) for corporate actions; default: today. Change it with `setNow`. */
  now?: string;
  /** Generated trades/quotes per symbol and trading day; default DEFAULT_TICKS_PER_DAY (2,500 trades, 4,000 quotes). */
  ticksPerDay?: Partial<Record<FakeTickKind, number>>;
}

export interface LoggedRequest {
  path: string;
  query: Record<string, string>;
  /** The HTTP status; 0 while unanswered, -1 reset, -2 truncated, -3 held and then cut off. */
  status: number;
  at: number;
}

const ALLOWED_BAR_PARAMS = new Set(['symbols', 'timeframe', 'start', 'end', 'limit', 'page_token', 'feed', 'adjustment', 'asof', 'sort', 'currency']);
const ALLOWED_TICK_PARAMS = new Set(['symbols', 'start', 'end', 'limit', 'page_token', 'feed', 'asof', 'sort', 'currency']);
/** A trades or quotes path; group 1 is the symbol of a single-symbol request. */
const TICKS_PATH = /^\/v2\/stocks\/(?:([^/]+)\/)?(trades|quotes)$/;
const FEEDS = new Set(['sip', 'iex', 'otc', 'boats']);
const ADJUSTMENTS = new Set(['raw', 'split', 'dividend', 'spin-off', 'all']);
const ALLOWED_ACTION_PARAMS = new Set(['symbols', 'types', 'start', 'end', 'limit', 'sort', 'page_token']);
/** Every type Alpaca accepts in `types` (the reference's default list); the fake has records of four. */
const ACTION_TYPES = new Set([
  'forward_split', 'reverse_split', 'unit_split', 'cash_dividend', 'stock_dividend', 'spin_off', 'cash_merger', 'stock_merger',
  'stock_and_cash_merger', 'redemption', 'name_change', 'worthless_removal', 'rights_distribution', 'partial_call', 'reorganization',
]);
/** Response keys per modelled type, in the order records of one date are listed. */
const ACTION_KEYS = { forward_split: 'forward_splits', reverse_split: 'reverse_splits', cash_dividend: 'cash_dividends', name_change: 'name_changes' } as const;
const ACTION_ORDER = Object.keys(ACTION_KEYS);
const DAY_TF = parseTimeframe('1Day')!;

/** A bars request's `adjustment` (comma list) as one kind; undefined when a value is unknown. */
export function parseAlpacaAdjustment(value: string | undefined): 'raw' | FakeAdjustment | undefined {
  if (value === undefined) return 'raw';
  const parts = value.split(',').map((p) => p.trim());
  if (parts.some((p) => !ADJUSTMENTS.has(p))) return undefined;
  const split = parts.includes('split') || parts.includes('all');
  const dividend = parts.includes('dividend') || parts.includes('all');
  return split && dividend ? 'all' : split ? 'split' : dividend ? 'dividend' : 'raw';
}

/** A made-up but stable 9-character CUSIP for a symbol. */
function cusipOf(symbol: string): string {
  return createHash('md5').update(symbol).digest('hex').slice(0, 9).toUpperCase();
}
const SYMBOL_SHAPE = /^[A-Z][A-Z0-9.]{0,15}$/;

export const DEFAULT_FAKE_SYMBOLS: Record<string, FakeSymbol> = {
  AAPL: {}, MSFT: {}, NVDA: {}, AMZN: {}, GOOGL: {}, META: {}, 'BRK.B': {}, TSLA: {}, JPM: {}, V: {},
  NEWCO: { listedFrom: '2024-02-15' },
  OLDCO: { delistedAfter: '2024-01-31', status: 'inactive' },
};

/** A small seeded generator (mulberry32): the fake's faults and the tests' latencies repeat run to run. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A `start`/`end` value in ns: a date is New York midnight (`endOfDay`: its last nanosecond); undefined when malformed. */
function parseInstantNs(value: string, endOfDay: boolean): bigint | undefined {
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) return BigInt(nyMidnightUtc(value)) * 1_000_000n + (endOfDay ? 86_399_999_999_999n : 0n);
  return rfc3339ToNs(value);
}

type Answer = { status: number; body: unknown };
const badRequest = (message: string): Answer => ({ status: 400, body: { message } });

/** 400 for parameters the endpoint does not know (`symbols` included, on a single-symbol path). */
function unexpectedParams(query: Record<string, string>, allowed: ReadonlySet<string>, single: string | undefined): Answer | undefined {
  const unexpected = Object.keys(query).filter((k) => !allowed.has(k) || (single !== undefined && k === 'symbols'));
  return unexpected.length ? badRequest(`unexpected query parameter(s): ${unexpected.join(', ')}`) : undefined;
}

/** An opaque page token: the cursor and the request it belongs to (a token only resumes its own query). */
function encodeToken(key: string, cursor: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify({ ...cursor, k: key })).toString('base64url');
}

function decodeToken(token: string, key: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null && (value as { k?: unknown }).k === key ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export class FakeAlpaca extends LoopbackServer {
  readonly log: LoggedRequest[] = [];
  private readonly market = new SyntheticMarket();
  private readonly random: () => number;
  private readonly rateWindow = new FixedWindowCount();
  private stormed = 0;
  private readonly pageCache = new Map<string, { status: number; body: unknown }>();
  private readonly seriesCache = new Map<string, (readonly [string, BarTuple[]])[]>();
  readonly keyId: string;
  readonly secretKey: string;
  readonly symbols: Record<string, FakeSymbol>;
  /** The corporate actions this fake knows (visible or not yet). */
  readonly actions: readonly FakeCorporateAction[];
  private nowDate: string | undefined;
  /** Symbol-days of ticks set by tests (`setTicks`, `correctDay`), by `kind|symbol|date`; they replace the generated ones. */
  private readonly tickOverrides = new Map<string, TickDay<TickRows[FakeTickKind]>>();
  private corrections = 0;

  constructor(readonly options: FakeOptions = {}) {
    super();
    this.keyId = options.keyId ?? 'PKTESTKEYID0000000000';
    this.secretKey = options.secretKey ?? 'sEcReT-fake-secret-value-1234567890';
    this.symbols = options.symbols ?? DEFAULT_FAKE_SYMBOLS;
    this.random = mulberry32(options.seed ?? 42);
    this.actions = [...(options.actions ?? [])];
    checkActions(this.actions);
    if (options.now !== undefined) this.setNow(options.now);
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

  /** Bar requests only (what the rate budget and efficiency tests count). */
  get barRequests(): LoggedRequest[] {
    return this.log.filter((r) => r.path.includes('/bars'));
  }

  /** Trade requests (/v2/stocks/trades and /v2/stocks/{symbol}/trades). */
  get tradeRequests(): LoggedRequest[] {
    return this.log.filter((r) => TICKS_PATH.exec(r.path)?.[2] === 'trades');
  }

  /** Quote requests (/v2/stocks/quotes and /v2/stocks/{symbol}/quotes). */
  get quoteRequests(): LoggedRequest[] {
    return this.log.filter((r) => TICKS_PATH.exec(r.path)?.[2] === 'quotes');
  }

  /** Corporate-action requests (/v1/corporate-actions and /v1beta1/corporate-actions). */
  get actionRequests(): LoggedRequest[] {
    return this.log.filter((r) => r.path.endsWith('/corporate-actions'));
  }

  /**
   * Every bar the server holds for a symbol in [start, end] inclusive; with an adjustment other than
   * raw, back-adjusted as of the fake's "now", exactly as a bars request with that adjustment serves it.
   */
  expectedBars(symbol: string, timeframe: Timeframe, start: number, end: number, adjustment: 'raw' | FakeAdjustment = 'raw'): BarTuple[] {
    const meta = this.symbols[symbol];
    if (!meta) return [];
    const from = Math.max(start, meta.listedFrom ? nyMidnightUtc(meta.listedFrom) : -Infinity);
    const to = Math.min(end, meta.delistedAfter ? nyMidnightUtc(meta.delistedAfter) + 86_399_999 : Infinity);
    const bars = this.market.bars(symbol, timeframe, from, to);
    if (adjustment === 'raw' || this.actions.length === 0) return bars;
    return adjustBars(bars, symbol, adjustment, this.actions, this.now, (exDate) => this.rawCloseBefore(symbol, exDate));
  }

  /** The raw daily close of the last session before `exDate`, if the symbol traded then. */
  rawCloseBefore(symbol: string, exDate: string): number | undefined {
    const date = sessionBefore(exDate);
    if (date === undefined) return undefined;
    return this.expectedBars(symbol, DAY_TF, nyMidnightUtc(date), nyMidnightUtc(date))[0]?.[4];
  }

  /**
   * A symbol-day of ticks: the rows set by a test, else `ticksPerDay` generated rows when the symbol
   * is known, listed and the date an NYSE trading day, else none.
   */
  tickDay<K extends FakeTickKind>(kind: K, symbol: string, date: string): TickDay<TickRows[K]> | undefined {
    const set = this.tickOverrides.get(`${kind}|${symbol}|${date}`);
    if (set) return set as TickDay<TickRows[K]>;
    const meta = this.symbols[symbol];
    if (!meta || !isNyseTradingDay(date) || (meta.listedFrom && date < meta.listedFrom) || (meta.delistedAfter && date > meta.delistedAfter)) return undefined;
    const count = meta.ticksPerDay?.[kind] ?? this.options.ticksPerDay?.[kind] ?? DEFAULT_TICKS_PER_DAY[kind];
    return count > 0 ? generatedDay(kind, symbol, date, count, this.options.seed ?? 42) : undefined;
  }

  /** Serve exactly these rows for a symbol-day (time-ordered, all on that New York date; [] empties the day). */
  setTicks<K extends FakeTickKind>(kind: K, symbol: string, date: string, rows: readonly TickRows[K][]): void {
    if (!isIsoDate(date)) throw new Error(`setTicks: not a YYYY-MM-DD date: ${date}`);
    this.tickOverrides.set(`${kind}|${symbol}|${date}`, fixedDay(date, rows));
    for (const key of this.pageCache.keys()) if (key.startsWith('/')) this.pageCache.delete(key);
  }

  /**
   * The provider corrects a symbol-day (see fake-ticks `correctRows`: a few rows dropped, one trade
   * re-priced and marked `u: "corrected"`, or one quote's ask moved). Served from now on; returns the
   * new rows, which always differ from the old. Throws for a day without rows.
   */
  correctDay<K extends FakeTickKind>(kind: K, symbol: string, date: string): TickRows[K][] {
    const day = this.tickDay(kind, symbol, date);
    if (!day || day.length === 0) throw new Error(`correctDay: no ${kind} for ${symbol} on ${date}`);
    this.corrections += 1;
    const rows = correctRows(kind, rowsOf(day), (this.options.seed ?? 42) + 7_919 * this.corrections);
    this.setTicks(kind, symbol, date, rows);
    return rows;
  }

  /** Every trade the server holds for a symbol in [start, end) (UTC ms): what a correct client stores. */
  expectedTrades(symbol: string, start: number, end: number): WireTrade[] {
    return this.expectedTicks('trades', symbol, start, end);
  }

  /** Every quote the server holds for a symbol in [start, end) (UTC ms). */
  expectedQuotes(symbol: string, start: number, end: number): WireQuote[] {
    return this.expectedTicks('quotes', symbol, start, end);
  }

  expectedTicks<K extends FakeTickKind>(kind: K, symbol: string, start: number, end: number): TickRows[K][] {
    const rows: TickRows[K][] = [];
    for (const span of this.tickSpans(kind, symbol, BigInt(start) * 1_000_000n, BigInt(end) * 1_000_000n - 1n)) rowsOf(span.day, span.from, span.to, rows);
    return rows;
  }

  /** A symbol's rows in [startNs, endNs] as index ranges, day by day; from a page token's day and row when resuming. */
  private *tickSpans<K extends FakeTickKind>(kind: K, symbol: string, startNs: bigint, endNs: bigint, resume?: { date: string; index: number }): Generator<{ date: string; day: TickDay<TickRows[K]>; from: number; to: number }> {
    const last = nyDateOf(Number(endNs / 1_000_000n));
    for (let date = resume?.date ?? nyDateOf(Number(startNs / 1_000_000n)); date <= last; date = addDays(date, 1)) {
      const day = this.tickDay(kind, symbol, date);
      if (!day) continue;
      const from = Math.max(searchTime(day, startNs), date === resume?.date ? resume.index : 0);
      const to = searchTime(day, endNs, true);
      if (from < to) yield { date, day, from, to };
    }
  }

  private rateHeaders(res: http.ServerResponse, now: number): boolean {
    const rl = this.options.rateLimit;
    if (!rl) return true;
    const count = this.rateWindow.add(now, rl.windowMs);
    const perMinute = Math.round((rl.limit * 60_000) / rl.windowMs);
    res.setHeader('X-RateLimit-Limit', String(perMinute));
    res.setHeader('X-RateLimit-Remaining', String(Math.max(0, rl.limit - count)));
    res.setHeader('X-RateLimit-Reset', String(Math.ceil((this.rateWindow.start + rl.windowMs) / 1000)));
    return count <= rl.limit;
  }

  protected async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const query = Object.fromEntries(url.searchParams.entries());
    const now = Date.now();
    const entry: LoggedRequest = { path: url.pathname, query, status: 0, at: now };
    this.log.push(entry);
    res.setHeader('X-Request-ID', `req-${this.log.length}`);
    const send = (status: number, body: unknown): void => {
      entry.status = status;
      const text = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
      res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
      res.end(text);
    };
    if (this.options.latencyMs) await new Promise((r) => setTimeout(r, this.options.latencyMs));
    const isBars = url.pathname.includes('/bars');
    const ticks = TICKS_PATH.exec(url.pathname);
    // Data requests (bars, trades, quotes) are what holds and faults apply to.
    const isData = isBars || ticks !== null;
    // Only data requests count toward a hold: a client needing another page is stuck.
    if (isData && this.holdIfDue(req, entry)) return;

    if (req.headers['apca-api-key-id'] !== this.keyId || req.headers['apca-api-secret-key'] !== this.secretKey) {
      return send(403, { message: 'forbidden' });
    }
    if (!this.rateHeaders(res, now)) return send(429, { message: 'too many requests.' });

    const faults = this.options.faults ?? {};
    if (isData && faults.down) return send(503, { message: 'service unavailable' });
    if (isData && faults.storm && this.stormed < faults.storm.count) {
      this.stormed += 1;
      res.setHeader('X-RateLimit-Limit', '10000');
      res.setHeader('X-RateLimit-Remaining', '0');
      res.setHeader('X-RateLimit-Reset', String(Math.ceil((now + faults.storm.resetMs) / 1000)));
      return send(429, { message: 'too many requests.' });
    }
    // A data request draws all its faults on arrival: how it fails depends on its arrival index alone,
    // not on how responses interleave (a slow response used to draw its truncation seconds later).
    const [reset, error, errorKind, slow, truncate] = isData ? [this.random(), this.random(), this.random(), this.random(), this.random()] : [1, 1, 0, 1, 1];
    if (isData && faults.resetRate && reset < faults.resetRate) {
      entry.status = -1;
      req.socket.destroy();
      return;
    }
    if (isData && faults.serverErrorRate && error < faults.serverErrorRate) {
      return send([500, 502, 503][Math.floor(errorKind * 3)], { message: 'internal server error' });
    }
    if (isData && faults.slowRate && slow < faults.slowRate) await new Promise((r) => setTimeout(r, faults.slowMs ?? 5_000));

    let answer: { status: number; body: unknown };
    // An adjusted bars page depends on "now" as well as on the query; a tick page's key holds its path
    // too (kind, single symbol), so tick keys are the ones starting with "/".
    const cacheKey = ticks ? `${url.pathname}${url.search}` : query.adjustment !== undefined && query.adjustment !== 'raw' ? `${url.search}|${this.now}` : url.search;
    const cached = this.options.cachePages && isData ? this.pageCache.get(cacheKey) : undefined;
    if (cached) answer = cached;
    else if (url.pathname === '/v2/stocks/bars') answer = this.bars(query, undefined);
    else if (/^\/v2\/stocks\/[^/]+\/bars$/.test(url.pathname)) answer = this.bars(query, decodeURIComponent(url.pathname.split('/')[3]));
    else if (ticks) answer = this.ticks(ticks[2] as FakeTickKind, query, ticks[1] === undefined ? undefined : decodeURIComponent(ticks[1]));
    else if (url.pathname === '/v2/assets') answer = this.assets(query);
    else if (url.pathname === '/v2/calendar') answer = this.calendar(query);
    else if (url.pathname === '/v1/corporate-actions' || url.pathname === '/v1beta1/corporate-actions') answer = this.corporateActions(query);
    else if (url.pathname === '/v2/clock') answer = { status: 200, body: { timestamp: new Date(now).toISOString(), is_open: false } };
    else answer = { status: 404, body: { message: 'endpoint not found' } };

    if (this.options.cachePages && isData && answer.status === 200 && !cached) {
      // Stored encoded: a cached page costs the server a lookup and a socket write.
      answer = { status: 200, body: Buffer.from(typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body)) };
      this.pageCache.set(cacheKey, answer);
    }
    if (isData && answer.status === 200 && faults.truncateRate && truncate < faults.truncateRate) {
      const text = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
      entry.status = -2;
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
      res.write(text.slice(0, Math.floor(text.length / 2)));
      setTimeout(() => req.socket.destroy(), 5);
      return;
    }
    send(answer.status, answer.body);
  }

  /** The parameters bars and ticks share (symbols, feed, limit, start, end, the plan's SIP window); an error answer when one is bad. */
  private dataQuery(query: Record<string, string>, single: string | undefined): Answer | { symbols: string[]; limit: number; startNs: bigint; endNs: bigint } {
    const symbols = single !== undefined ? [single] : (query.symbols ?? '').split(',').filter(Boolean);
    if (symbols.length === 0) return badRequest('missing symbols');
    for (const s of symbols) {
      if (!SYMBOL_SHAPE.test(s) || this.options.rejectSymbols?.includes(s)) return badRequest(`invalid symbol: ${s}`);
    }
    const feed = query.feed ?? 'sip';
    if (!FEEDS.has(feed)) return badRequest(`invalid feed: ${feed}`);
    const limit = query.limit === undefined ? 1000 : Number(query.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) return { status: 422, body: { message: 'invalid limit' } };
    // `start` is required here; `end` defaults to now.
    const startNs = query.start === undefined ? undefined : parseInstantNs(query.start, false);
    const endNs = query.end === undefined ? BigInt(Date.now()) * 1_000_000n : parseInstantNs(query.end, true);
    if (startNs === undefined || endNs === undefined) return badRequest('invalid start or end');
    const restricted = this.options.restrictRecentSipMinutes;
    if (restricted !== undefined && feed === 'sip' && Number(endNs / 1_000_000n) > Date.now() - restricted * 60_000) {
      return { status: 403, body: { message: 'subscription does not permit querying recent SIP data' } };
    }
    return { symbols, limit, startNs, endNs };
  }

  private bars(query: Record<string, string>, single: string | undefined): Answer {
    const unexpected = unexpectedParams(query, ALLOWED_BAR_PARAMS, single);
    if (unexpected) return unexpected;
    const tf = query.timeframe === undefined ? undefined : parseTimeframe(query.timeframe);
    if (!tf) return { status: 422, body: { message: 'invalid timeframe' } };
    const adjustment = parseAlpacaAdjustment(query.adjustment);
    if (adjustment === undefined) return badRequest(`invalid adjustment: ${query.adjustment}`);
    const q = this.dataQuery(query, single);
    if ('status' in q) return q;
    const { symbols, limit } = q;
    const start = Number(q.startNs / 1_000_000n);
    const end = Number(q.endNs / 1_000_000n);
    const paramsKey = JSON.stringify({ ...query, page_token: undefined, single });
    let offset = 0;
    if (query.page_token !== undefined) {
      const token = decodeToken(query.page_token, paramsKey);
      if (!token || !Number.isInteger(token.o) || (token.o as number) < 0) return badRequest('invalid page token');
      offset = token.o as number;
    }
    const seriesKey = JSON.stringify([symbols, tf.api, start, end, adjustment, adjustment === 'raw' ? '' : this.now]);
    let series = this.seriesCache.get(seriesKey);
    if (!series) {
      series = [...new Set(symbols)].sort().map((s) => [s, this.expectedBars(s, tf, start, end, adjustment)] as const);
      // Paging re-asks for the same series: keep the last few so the server stays cheap.
      if (this.seriesCache.size >= 16) this.seriesCache.delete(this.seriesCache.keys().next().value!);
      this.seriesCache.set(seriesKey, series);
    }
    const page = pageSlices(series, limit, offset).next().value!;
    const token = page.nextOffset === null ? null : encodeToken(paramsKey, { o: page.nextOffset });
    if (single !== undefined) {
      const bars: BarTuple[] = page.entries[0]?.[1] ?? [];
      const rows = bars.map((b) => ({ t: formatBarTime(b[0]), o: b[1], h: b[2], l: b[3], c: b[4], v: b[5], n: b[6], vw: b[7] }));
      return { status: 200, body: { bars: rows.length ? rows : null, symbol: single, next_page_token: token } };
    }
    return { status: 200, body: renderBarsPage(page.entries, token) };
  }

  /** `GET /v2/stocks/trades|quotes` (or one symbol's): a page of rows in symbol-then-time order, `limit` shared across symbols. */
  private ticks(kind: FakeTickKind, query: Record<string, string>, single: string | undefined): Answer {
    const unexpected = unexpectedParams(query, ALLOWED_TICK_PARAMS, single);
    if (unexpected) return unexpected;
    const sort = query.sort ?? 'asc';
    if (sort !== 'asc') return badRequest(sort === 'desc' ? 'sort=desc is not served by this fake' : `invalid sort: ${sort}`);
    const q = this.dataQuery(query, single);
    if ('status' in q) return q;
    const symbols = [...new Set(q.symbols)].sort();
    const paramsKey = JSON.stringify({ ...query, page_token: undefined, single, kind });
    // The cursor: the symbol, New York date and row (within that day) the page starts at.
    let first = 0;
    let resume: { date: string; index: number } | undefined;
    if (query.page_token !== undefined) {
      const token = decodeToken(query.page_token, paramsKey);
      first = typeof token?.s === 'string' ? symbols.indexOf(token.s) : -1;
      if (!token || first < 0 || typeof token.d !== 'string' || !isIsoDate(token.d) || !Number.isInteger(token.i) || (token.i as number) < 0) return badRequest('invalid page token');
      resume = { date: token.d, index: token.i as number };
    }
    const entries: [string, TickRows[FakeTickKind][]][] = [];
    let remaining = q.limit;
    let next: string | null = null;
    for (let n = first; n < symbols.length && remaining > 0; n++) {
      const rows: TickRows[FakeTickKind][] = [];
      for (const span of this.tickSpans(kind, symbols[n], q.startNs, q.endNs, n === first ? resume : undefined)) {
        const to = Math.min(span.to, span.from + remaining);
        rowsOf(span.day, span.from, to, rows);
        remaining -= to - span.from;
        // Like Alpaca, a full page carries a token even when nothing follows (the last page is then empty).
        if (remaining === 0) {
          next = encodeToken(paramsKey, { s: symbols[n], d: span.date, i: to });
          break;
        }
      }
      entries.push([symbols[n], rows]);
    }
    const body = single !== undefined ? renderSingleTicksPage(kind, single, entries[0]?.[1] ?? [], next) : renderTicksPage(kind, entries, next);
    return { status: 200, body };
  }

  /** `GET /v1/corporate-actions`: the visible actions of the symbols with an ex-date in [start, end], paged across types. */
  private corporateActions(query: Record<string, string>): Answer {
    const unexpected = unexpectedParams(query, ALLOWED_ACTION_PARAMS, undefined);
    if (unexpected) return unexpected;
    const symbols = (query.symbols ?? '').split(',').filter(Boolean);
    if (symbols.length === 0) return badRequest('symbols is required by this fake');
    for (const s of symbols) if (!SYMBOL_SHAPE.test(s)) return badRequest(`invalid symbol: ${s}`);
    const types = query.types === undefined ? [...ACTION_TYPES] : query.types.split(',').filter(Boolean);
    const unknownType = types.find((t) => !ACTION_TYPES.has(t));
    if (types.length === 0 || unknownType !== undefined) return badRequest(`invalid types: ${query.types}`);
    const now = this.now;
    const start = query.start ?? now;
    const end = query.end ?? now;
    if (!isIsoDate(start) || !isIsoDate(end)) return badRequest('invalid start or end: use YYYY-MM-DD');
    if (start > end) return badRequest('start must not be after end');
    const limit = query.limit === undefined ? 100 : /^\d{1,9}$/.test(query.limit) ? Number(query.limit) : Number.NaN;
    if (!(limit >= 1 && limit <= 1000)) return { status: 422, body: { message: 'invalid limit: must be from 1 to 1000' } };
    const sort = query.sort ?? 'asc';
    if (sort !== 'asc' && sort !== 'desc') return badRequest(`invalid sort: ${sort}`);
    const paramsKey = JSON.stringify({ ...query, page_token: undefined });
    let offset = 0;
    if (query.page_token !== undefined) {
      const token = decodeToken(query.page_token, paramsKey);
      if (!token || !Number.isInteger(token.o) || (token.o as number) < 0) return badRequest('invalid page token');
      offset = token.o as number;
    }

    const wanted = new Set(symbols);
    const typeSet = new Set(types);
    const records = visibleActions(this.actions, now)
      .filter((a) => typeSet.has(a.type) && a.exDate >= start && a.exDate <= end)
      .filter((a) => wanted.has(a.symbol) || (a.type === 'name_change' && wanted.has(a.newSymbol!)))
      .map((a) => ({ action: a, id: actionId(a) }))
      .sort((x, y) => {
        const a = x.action;
        const b = y.action;
        const by = (p: string | number, q: string | number) => (p < q ? -1 : p > q ? 1 : 0);
        return by(a.exDate, b.exDate) || by(ACTION_ORDER.indexOf(a.type), ACTION_ORDER.indexOf(b.type)) || by(a.symbol, b.symbol) || by(x.id, y.id);
      });
    if (sort === 'desc') records.reverse();
    const page = records.slice(offset, offset + limit);
    const next = offset + page.length < records.length ? encodeToken(paramsKey, { o: offset + page.length }) : null;
    const grouped: Record<string, unknown[]> = {};
    for (const { action: a, id } of page) {
      (grouped[ACTION_KEYS[a.type]] ??= []).push(this.actionRecord(a, id));
    }
    return { status: 200, body: { corporate_actions: grouped, next_page_token: next } };
  }

  /** One action as Alpaca renders it (reference "Corporate actions"; process_date = ex_date here). */
  private actionRecord(a: FakeCorporateAction, id: string): Record<string, unknown> {
    const ex = a.exDate;
    switch (a.type) {
      case 'forward_split':
      case 'reverse_split': {
        const payable = a.type === 'forward_split' ? (sessionBefore(ex) ?? addDays(ex, -1)) : ex;
        const record = a.type === 'forward_split' ? (sessionBefore(payable) ?? addDays(payable, -1)) : ex;
        return { id, symbol: a.symbol, cusip: cusipOf(a.symbol), new_rate: a.newRate, old_rate: a.oldRate, process_date: ex, ex_date: ex, record_date: record, payable_date: payable };
      }
      case 'cash_dividend':
        return { id, symbol: a.symbol, cusip: cusipOf(a.symbol), rate: a.cash, special: false, foreign: false, process_date: ex, ex_date: ex, record_date: ex, payable_date: addDays(ex, 14) };
      case 'name_change':
        return { id, old_symbol: a.symbol, old_cusip: cusipOf(a.symbol), new_symbol: a.newSymbol, new_cusip: cusipOf(a.newSymbol!), process_date: ex };
    }
  }

  private assets(query: Record<string, string>): { status: number; body: unknown } {
    const wanted = query.status;
    const list = Object.entries(this.symbols)
      .map(([symbol, meta]) => ({ id: `id-${symbol}`, class: 'us_equity', exchange: 'NASDAQ', symbol, name: `${symbol} Inc.`, status: meta.status ?? 'active', tradable: (meta.status ?? 'active') === 'active' }))
      .filter((a) => wanted === undefined || a.status === wanted);
    return { status: 200, body: list };
  }

  private calendar(query: Record<string, string>): { status: number; body: unknown } {
    // Dates or RFC-3339 instants (the SDK sends instants); the calendar works in dates.
    const from = (query.start ?? nyDateOf(Date.now())).slice(0, 10);
    const to = (query.end ?? from).slice(0, 10);
    const hhmm = (ms: number, date: string): string => {
      const minutes = Math.round((ms - nyMidnightUtc(date)) / 60_000);
      return `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
    };
    const days = nyseRuleCalendar.sessions(from, to).map((s) => ({
      date: s.date,
      open: hhmm(s.open, s.date),
      close: hhmm(s.close, s.date),
      session_open: hhmm(s.extendedOpen, s.date).replace(':', ''),
      session_close: hhmm(s.extendedClose, s.date).replace(':', ''),
      settlement_date: s.date,
    }));
    return { status: 200, body: days };
  }
}
