/**
 * A loopback fake of Massive's (formerly Polygon.io) REST market data, written from
 * ../shared/reference/massive-market-data.md (sections 0, 1 and "Auth, errors, limits"). It serves the
 * synthetic market, so tests can compute exactly what it holds (`expectedBars`, `groupedTickers`).
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
 * - 403 `{"status":"NOT_AUTHORIZED","message":…}` for a range older than the plan's history, a future
 *   date (issue #313), or an endpoint outside the plan; 429 `{"status":"ERROR","error":…}` past the rate
 *   limit; 5xx as short JSON or text. `X-Request-Id` on every response; no X-RateLimit-* headers (none
 *   are documented for Massive).
 * - Injectable faults drawn on arrival from a seeded generator (502/503/504), a provider that is down
 *   (every request 503), a 429 storm, latency, and holding requests to stop a client at a known point.
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
import { DEFAULT_FAKE_SYMBOLS, type FakeSymbol, type LoggedRequest as BaseLoggedRequest, mulberry32 } from './fake-alpaca.js';
import { FixedWindowCount, LoopbackServer } from './loopback-server.js';

export type { FakeSymbol };

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
  /** Applied when adjusted=true: bars before `date` get prices ÷ ratio, volume × ratio (rounded), vw ÷ ratio. */
  splits?: { ticker: string; date: string; ratio: number }[];
  faults?: {
    /** Probability that a data request gets 502, 503 or 504. */
    serverErrorRate?: number;
    /** Every request gets 503. */
    down?: boolean;
    /** The first `count` aggregate/grouped requests get 429. */
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

export class FakeMassive extends LoopbackServer {
  readonly apiKey: string;
  readonly log: LoggedRequest[] = [];
  private readonly tickers: Record<string, FakeSymbol>;
  /** Generated tickers that only grouped daily returns (the per-ticker endpoint does not know them). */
  private readonly extras: Set<string>;
  private readonly allGrouped: string[];
  private readonly splits = new Map<string, { at: number; ratio: number }[]>();
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
    for (const s of options.splits ?? []) {
      if (!isIsoDate(s.date) || !(s.ratio > 0)) throw new Error(`bad split ${JSON.stringify(s)}`);
      const list = this.splits.get(s.ticker) ?? [];
      list.push({ at: nyMidnightUtc(s.date), ratio: s.ratio });
      this.splits.set(s.ticker, list);
    }
    this.seed = options.seed ?? 42;
    this.random = mulberry32(this.seed);
  }

  get aggRequests(): LoggedRequest[] {
    return this.log.filter((r) => r.path.startsWith('/v2/aggs/ticker/'));
  }

  get groupedRequests(): LoggedRequest[] {
    return this.log.filter((r) => r.path.startsWith('/v2/aggs/grouped/'));
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

  private adjust(ticker: string, bar: BarTuple): BarTuple {
    const splits = this.splits.get(ticker);
    if (!splits) return bar;
    let factor = 1;
    for (const s of splits) if (bar[0] < s.at) factor *= s.ratio;
    if (factor === 1) return bar;
    const [t, o, h, l, c, v, n, vw] = bar;
    return [t, o / factor, h / factor, l / factor, c / factor, Math.round(v * factor), n, vw / factor];
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
    const isData = url.pathname.startsWith('/v2/aggs/');
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
    // Only data requests (aggregates or grouped) count toward a hold.
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
}

function notAuthorized(requestId: string, message: string): Answer {
  return { status: 403, body: { status: 'NOT_AUTHORIZED', request_id: requestId, message } };
}
