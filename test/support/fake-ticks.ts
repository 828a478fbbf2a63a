/**
 * A deterministic model of Alpaca's historical trades and quotes for the loopback fake, written from
 * ../shared/reference/alpaca-market-data.md ("Records", "Trades and quotes in detail"). A generated
 * symbol-day is a pure function of (kind, symbol, date, count, seed) and row k is computed from k
 * alone, so a page of a million-row day costs only its own rows. The rows are as awkward as the real
 * ones: nanosecond timestamps whose trailing fractional zeros are trimmed (9, 6, 3 or no fraction
 * digits), runs of equal timestamps, uint64 trade ids above 2^53, 0–3 condition codes, correction
 * markers, and quotes with an empty side or a crossed market. Times lie in the session's extended
 * hours (04:00–20:00 New York, 17:00 on early-close days), in ascending order.
 *
 * Trade ids are bigints: a JS number cannot hold them. Use `tickJson` / `renderTicksPage` to write
 * rows as Alpaca does (ids as bare JSON numbers, exact) and `parseTicksPage` to read such text back.
 */
import { ruleSession } from '../../src/shared/calendar.js';
import { addDays, dateToDayNumber, type IsoDate, nyMidnightUtc } from '../../src/shared/time.js';

export type FakeTickKind = 'trades' | 'quotes';
export type TradeCorrection = 'canceled' | 'incorrect' | 'corrected';

/** A trade as Alpaca serves it; `i` is a uint64. */
export interface WireTrade {
  t: string;
  x: string;
  p: number;
  s: number;
  c: string[];
  i: bigint;
  z: string;
  u?: TradeCorrection;
}

/** A quote as Alpaca serves it; an empty side is exchange " ", price 0, size 0. */
export interface WireQuote {
  t: string;
  ax: string;
  ap: number;
  as: number;
  bx: string;
  bp: number;
  bs: number;
  c: string[];
  z: string;
}

export interface TickRows {
  trades: WireTrade;
  quotes: WireQuote;
}
export type WireTick = TickRows[FakeTickKind];

/** One symbol-day of rows in time order, read by index (a generated day never materializes). */
export interface TickDay<R> {
  readonly length: number;
  at(index: number): R;
  /** Row `index`'s time, ns since the epoch. */
  timeNs(index: number): bigint;
}

export const DEFAULT_TICKS_PER_DAY: Readonly<Record<FakeTickKind, number>> = { trades: 2_500, quotes: 4_000 };

const NS_PER_MS = 1_000_000n;
const RFC3339 = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;

/** An RFC-3339 instant (up to 9 fraction digits, Z or an offset) as ns since the epoch; undefined when malformed. */
export function rfc3339ToNs(value: string): bigint | undefined {
  const m = RFC3339.exec(value);
  if (!m) return undefined;
  // Date.parse validates the rest (and is what the fake always used); it cannot hold the fraction.
  const ms = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(ms)) return undefined;
  return BigInt(ms) * NS_PER_MS + BigInt((m[2] ?? '').padEnd(9, '0'));
}

/** A wire timestamp as ns since the epoch, exactly (throws on a malformed one). */
export function wireTimeToNs(t: string): bigint {
  const ns = rfc3339ToNs(t);
  if (ns === undefined) throw new Error(`not an RFC-3339 timestamp: ${t}`);
  return ns;
}

/** Ns since the epoch as Alpaca writes it: UTC, trailing fractional zeros trimmed. */
export function nsToWireTime(ns: bigint): string {
  const seconds = ns / 1_000_000_000n - (ns % 1_000_000_000n < 0n ? 1n : 0n);
  return formatTime(Number(seconds), Number(ns - seconds * 1_000_000_000n));
}

function formatTime(epochSeconds: number, fractionNs: number): string {
  return `${new Date(epochSeconds * 1000).toISOString().slice(0, 19)}${fractionText(fractionNs)}Z`;
}

/** ".123" for 123,000,000 ns; "" for 0. */
function fractionText(fractionNs: number): string {
  if (fractionNs === 0) return '';
  let digits = fractionNs;
  let width = 9;
  while (digits % 10 === 0) {
    digits /= 10;
    width -= 1;
  }
  return `.${String(digits).padStart(width, '0')}`;
}

// --- deterministic randomness: every value is a hash of (day key, row, lane) ---

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function hashString(text: string, seed: number): number {
  let h = (seed ^ 0x811c9dc5) >>> 0;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return fmix(h >>> 0);
}

/** The hash of row `index` of a day; its lanes are drawn with `draw`. */
function rowSeed(key: number, index: number): number {
  return fmix((key + Math.imul(index, 0x9e3779b1)) >>> 0);
}

/** A uniform [0, 1) draw, independent per `lane`. */
function draw(seed: number, lane: number): number {
  return fmix(seed ^ Math.imul(lane + 1, 0x7feb352d)) / 4_294_967_296;
}

function unit(key: number, index: number, lane: number): number {
  return draw(rowSeed(key, index), lane);
}

function pick<T>(list: readonly T[], u: number): T {
  return list[Math.floor(u * list.length)];
}

const round = (x: number, places: number): number => Math.round(x * 10 ** places) / 10 ** places;

// Lanes: which independent draw a field uses.
const L_TIE = 0, L_RES = 1, L_SLOT = 2, L_X = 3, L_SIZE = 4, L_COND = 5, L_ID = 6, L_FIX = 7, L_PRICE = 8, L_FLAG = 9, L_AX = 10, L_BX = 11, L_SPREAD = 12, L_SHAPE = 13, L_AS = 14, L_BS = 15, L_ISO = 16;

/** One-character participant codes (the SIP's table); IEX is V. */
const EXCHANGES = ['A', 'B', 'C', 'D', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'P', 'Q', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z'] as const;
const TAPES = ['A', 'B', 'C'] as const;
const CORRECTIONS: readonly TradeCorrection[] = ['canceled', 'incorrect', 'corrected'];
const QUOTE_CONDITIONS = ['R', 'Y', 'A', 'B', 'O', 'C'] as const;
/** Quote sizes are round lots before this date and shares from it on (reference "Records"). */
const SHARE_SIZES_FROM = '2025-11-03';
/** Share of rows stamped exactly like the row before (participants stamp coarsely). */
const TIE_RATE = 0.08;
/** Fraction resolutions in ns, with their cumulative odds: whole seconds, ms, µs, ns. */
const RESOLUTIONS = [[1e9, 0.2], [1e6, 0.45], [1e3, 0.65], [1, 1]] as const;
const TWO_POW_53 = 2n ** 53n;
const UINT64_MAX = 2n ** 64n - 1n;

/** The time axis of a generated day: row k lies in its own slot [k·step, (k+1)·step) of the extended session, or ties with row k-1. */
class DayClock {
  private readonly baseSeconds: number;
  private readonly step: number;
  private lastSecond = Number.NaN;
  private lastPrefix = '';

  constructor(readonly baseMs: number, readonly spanNs: number, count: number, private readonly key: number) {
    // Extended-hours bounds are whole minutes, so second boundaries of the offset are absolute ones.
    this.baseSeconds = baseMs / 1000;
    this.step = spanNs / Math.max(1, count);
  }

  /** Ns after the session's extended open. */
  offsetNs(index: number): number {
    let k = index;
    let seed = rowSeed(this.key, k);
    while (k > 0 && draw(seed, L_TIE) < TIE_RATE) seed = rowSeed(this.key, --k);
    const lo = Math.floor(k * this.step);
    const hi = Math.max(lo + 1, Math.floor((k + 1) * this.step));
    const r = draw(seed, L_RES);
    // The coarsest resolution drawn that still has an instant inside the slot (slots never overlap: order holds).
    for (const [ns, odds] of RESOLUTIONS) {
      if (r >= odds) continue;
      const first = Math.ceil(lo / ns) * ns;
      if (first >= hi) continue;
      const choices = Math.floor((hi - 1 - first) / ns) + 1;
      return first + ns * Math.floor(draw(seed, L_SLOT) * choices);
    }
    return lo;
  }

  timeNs(index: number): bigint {
    return BigInt(this.baseMs) * NS_PER_MS + BigInt(this.offsetNs(index));
  }

  wire(offset: number): string {
    const second = this.baseSeconds + Math.floor(offset / 1e9);
    const fraction = offset % 1e9;
    // Neighbours share their second: format its prefix once.
    if (second !== this.lastSecond) {
      this.lastSecond = second;
      this.lastPrefix = formatTime(second, 0).slice(0, -1);
    }
    return `${this.lastPrefix}${fractionText(fraction)}Z`;
  }
}

interface DayModel {
  clock: DayClock;
  key: number;
  count: number;
  dayNumber: number;
  basePrice: number;
  tape: string;
  /** Regular session bounds as offsets from the extended open, ns. */
  openNs: number;
  closeNs: number;
  phase: [number, number];
  shareSizes: boolean;
}

function dayModel(kind: FakeTickKind, symbol: string, date: IsoDate, count: number, seed: number): DayModel {
  const session = ruleSession(date);
  const key = hashString(`${kind}|${symbol}|${date}`, seed);
  const symbolKey = hashString(symbol, seed);
  return {
    clock: new DayClock(session.extendedOpen, (session.extendedClose - session.extendedOpen) * 1e6, count, key),
    key,
    count,
    dayNumber: dateToDayNumber(date),
    basePrice: 20 + (symbolKey % 48_000) / 100,
    tape: TAPES[symbolKey % 3],
    openNs: (session.open - session.extendedOpen) * 1e6,
    closeNs: (session.close - session.extendedOpen) * 1e6,
    phase: [unit(key, 0, 100), unit(key, 0, 101)],
    shareSizes: date >= SHARE_SIZES_FROM,
  };
}

/** A smooth intraday path plus a little noise; always well above zero. */
function midPrice(m: DayModel, index: number, seed: number): number {
  const x = index / Math.max(1, m.count);
  const swing = 0.02 * Math.sin(2 * Math.PI * (1.3 * x + m.phase[0])) + 0.006 * Math.sin(2 * Math.PI * (23 * x + m.phase[1]));
  return m.basePrice * (1 + swing) + (draw(seed, L_PRICE) - 0.5) * 0.04;
}

function tradeAt(m: DayModel, k: number): WireTrade {
  const offset = m.clock.offsetNs(k);
  const h = rowSeed(m.key, k);
  const sizeDraw = draw(h, L_SIZE);
  const oddLot = sizeDraw < 0.2;
  const s = oddLot ? 1 + Math.floor(sizeDraw * 495) : sizeDraw < 0.8 ? 100 : sizeDraw < 0.95 ? 100 * (2 + Math.floor(sizeDraw * 97) % 9) : 1_000 + Math.floor(draw(h, L_SHAPE) * 49_000);
  const subPenny = draw(h, L_FLAG) < 0.03;
  const p = Math.max(0.01, round(midPrice(m, k, h), subPenny ? 4 : 2));
  // Conditions: a sale type ("@" regular, " " also seen on the wire), then form T outside regular hours, odd lot, ISO.
  const cond = draw(h, L_COND);
  const c: string[] = [];
  if (cond >= 0.05) c.push(cond < 0.85 ? '@' : ' ');
  if (offset < m.openNs || offset >= m.closeNs) c.push('T');
  if (oddLot) c.push('I');
  if (draw(h, L_ISO) < 0.06) c.push('F');
  // Unique per symbol across days; some ids need all 64 bits, some are odd numbers just past 2^53 (a double would round them).
  const serial = m.dayNumber * 100_000_000 + k;
  const idDraw = draw(h, L_ID);
  const i = idDraw < 0.03 ? UINT64_MAX - BigInt(serial) : idDraw < 0.06 ? TWO_POW_53 + BigInt(1 + 2 * serial) : BigInt(10_000_000_000_000 + serial);
  const trade: WireTrade = { t: m.clock.wire(offset), x: pick(EXCHANGES, draw(h, L_X)), p, s, c: c.slice(0, 3), i, z: m.tape };
  const fix = draw(h, L_FIX);
  if (fix < 0.004) trade.u = pick(CORRECTIONS, fix / 0.004);
  return trade;
}

function quoteAt(m: DayModel, k: number): WireQuote {
  const offset = m.clock.offsetNs(k);
  const h = rowSeed(m.key, k);
  const mid = midPrice(m, k, h);
  const spread = 0.01 * (1 + Math.floor(draw(h, L_SPREAD) * 5));
  let bp = Math.max(0.01, round(mid - spread / 2, 2));
  let ap = round(bp + spread, 2);
  const lots = (u: number): number => (m.shareSizes ? 1 + Math.floor(u * 3_000) : 1 + Math.floor(u * 30));
  let bs = lots(draw(h, L_BS));
  let as = lots(draw(h, L_AS));
  let bx: string = pick(EXCHANGES, draw(h, L_BX));
  let ax: string = pick(EXCHANGES, draw(h, L_AX));
  const shape = draw(h, L_SHAPE);
  // About 1% one-sided (the other side empty), 0.5% crossed (bid above ask).
  if (shape < 0.005) [bx, bp, bs] = [' ', 0, 0];
  else if (shape < 0.01) [ax, ap, as] = [' ', 0, 0];
  else if (shape < 0.015) bp = round(ap + 0.01 * (1 + Math.floor(draw(h, L_FLAG) * 3)), 2);
  const cond = draw(h, L_COND);
  // One flag for both sides, or [bid, ask].
  const c = cond < 0.9 ? ['R'] : [pick(QUOTE_CONDITIONS, draw(h, L_FLAG)), pick(QUOTE_CONDITIONS, (cond - 0.9) * 10)];
  return { t: m.clock.wire(offset), ax, ap, as, bx, bp, bs, c, z: m.tape };
}

/** A generated symbol-day; row k depends on k alone. */
class GeneratedDay<R> implements TickDay<R> {
  constructor(readonly length: number, private readonly model: DayModel, private readonly row: (m: DayModel, k: number) => R) {}
  at(index: number): R {
    if (!(index >= 0 && index < this.length)) throw new RangeError(`row ${index} of ${this.length}`);
    return this.row(this.model, index);
  }
  timeNs(index: number): bigint {
    return this.model.clock.timeNs(index);
  }
}

/** The lazily generated trades of a symbol-day: `count` rows spread over its extended hours. */
export function tradeDay(symbol: string, date: IsoDate, count: number, seed: number): TickDay<WireTrade> {
  return new GeneratedDay(count, dayModel('trades', symbol, date, count, seed), tradeAt);
}

export function quoteDay(symbol: string, date: IsoDate, count: number, seed: number): TickDay<WireQuote> {
  return new GeneratedDay(count, dayModel('quotes', symbol, date, count, seed), quoteAt);
}

export function generatedDay<K extends FakeTickKind>(kind: K, symbol: string, date: IsoDate, count: number, seed: number): TickDay<TickRows[K]> {
  return (kind === 'trades' ? tradeDay(symbol, date, count, seed) : quoteDay(symbol, date, count, seed)) as TickDay<TickRows[K]>;
}

/** Rows [from, to) of a day, in order, appended to `into` (a day can be too long to spread into push). */
export function rowsOf<R>(day: TickDay<R>, from = 0, to = day.length, into: R[] = []): R[] {
  for (let k = from; k < to; k++) into.push(day.at(k));
  return into;
}

export function generateTrades(symbol: string, date: IsoDate, count: number, seed: number): WireTrade[] {
  return rowsOf(tradeDay(symbol, date, count, seed));
}

export function generateQuotes(symbol: string, date: IsoDate, count: number, seed: number): WireQuote[] {
  return rowsOf(quoteDay(symbol, date, count, seed));
}

/**
 * A day from explicit rows (frozen copies). Throws unless they are in time order and every one lies
 * on `date` in New York, as a day of Alpaca's is.
 */
export function fixedDay<R extends WireTick>(date: IsoDate, rows: readonly R[]): TickDay<R> {
  const from = BigInt(nyMidnightUtc(date)) * NS_PER_MS;
  const to = BigInt(nyMidnightUtc(addDays(date, 1))) * NS_PER_MS;
  const times = rows.map((r) => wireTimeToNs(r.t));
  times.forEach((t, k) => {
    if (t < from || t >= to) throw new Error(`row ${k} (${rows[k].t}) is not on ${date} in New York`);
    if (k > 0 && t < times[k - 1]) throw new Error(`row ${k} (${rows[k].t}) is earlier than the row before`);
  });
  // Frozen copies: a test mutating its rows afterwards must not change what is served.
  const frozen = rows.map((r) => {
    const copy: R = { ...r, c: Object.freeze([...r.c]) as string[] };
    return Object.freeze(copy);
  });
  return { length: frozen.length, at: (k) => frozen[k], timeNs: (k) => times[k] };
}

/** First index whose time is ≥ ns (`after`: > ns). */
export function searchTime<R>(day: TickDay<R>, ns: bigint, after = false): number {
  let lo = 0;
  let hi = day.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const t = day.timeNs(mid);
    if (t < ns || (after && t === ns)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The provider corrects a day after the fact: a few rows vanish (about one in 500, at least one),
 * one trade is re-reported with `u: "corrected"` and a price a cent higher, or one quote's ask moves
 * a cent. Deterministic in `salt`; the result always differs from `rows` (which must not be empty).
 */
export function correctRows<K extends FakeTickKind>(kind: K, rows: readonly TickRows[K][], salt: number): TickRows[K][] {
  if (rows.length === 0) throw new Error('correctRows: the day has no rows to correct');
  const drop = new Set<number>();
  const drops = Math.max(1, Math.floor(rows.length / 500));
  for (let n = 0; drop.size < Math.min(drops, rows.length - 1); n++) drop.add(Math.floor(unit(salt, n, L_FIX) * rows.length));
  const kept = rows.filter((_, k) => !drop.has(k)).map((r) => ({ ...r, c: [...r.c] }) as TickRows[K]);
  const target = Math.floor(unit(salt, 0, L_PRICE) * kept.length);
  if (kind === 'trades') {
    const trade = kept[target] as WireTrade;
    trade.u = 'corrected';
    trade.p = round(trade.p + 0.01, 4);
  } else {
    // An empty ask (price 0) stays empty: move the first real one from the target on.
    const quotes = kept as WireQuote[];
    const at = [...quotes.keys()].map((k) => (k + target) % quotes.length).find((k) => quotes[k].ap > 0) ?? target;
    quotes[at].ap = round(quotes[at].ap + 0.01, 4);
    if (quotes[at].ax === ' ') quotes[at].ax = 'V';
  }
  return kept;
}

// --- the wire text ---

const str = JSON.stringify;
/** JSON text of the few short strings rows repeat (codes, tapes, flags): a page has a million of them. */
const codeText = new Map<string, string>();
function code(text: string): string {
  let json = codeText.get(text);
  if (json === undefined) {
    json = str(text);
    if (codeText.size < 10_000) codeText.set(text, json);
  }
  return json;
}

function codes(list: readonly string[]): string {
  return list.length === 1 ? `[${code(list[0])}]` : `[${list.map(code).join(',')}]`;
}

/** One row as Alpaca writes it (Alpaca's key order); a trade id is a bare, exact JSON number. `t` needs no escaping (RFC-3339). */
export function tickJson(row: WireTick): string {
  if ('i' in row) {
    const u = row.u === undefined ? '' : `,"u":${code(row.u)}`;
    return `{"t":"${row.t}","x":${code(row.x)},"p":${row.p},"s":${row.s},"c":${codes(row.c)},"i":${row.i},"z":${code(row.z)}${u}}`;
  }
  return `{"t":"${row.t}","ax":${code(row.ax)},"ap":${row.ap},"as":${row.as},"bx":${code(row.bx)},"bp":${row.bp},"bs":${row.bs},"c":${codes(row.c)},"z":${code(row.z)}}`;
}

const tokenJson = (token: string | null): string => (token === null ? 'null' : str(token));

/** A multi-symbol page: `{"trades": {"A": [...]}, "next_page_token": ..., "currency": "USD"}`; symbols without rows are absent. */
export function renderTicksPage(kind: FakeTickKind, entries: readonly (readonly [string, readonly WireTick[]])[], nextPageToken: string | null): string {
  const parts = entries.filter(([, rows]) => rows.length > 0).map(([symbol, rows]) => `${str(symbol)}:[${rows.map(tickJson).join(',')}]`);
  return `{"${kind}":{${parts.join(',')}},"next_page_token":${tokenJson(nextPageToken)},"currency":"USD"}`;
}

/** A single-symbol page: `{"trades": [...] or null, "symbol": "A", "next_page_token": ...}`. */
export function renderSingleTicksPage(kind: FakeTickKind, symbol: string, rows: readonly WireTick[], nextPageToken: string | null): string {
  const list = rows.length ? `[${rows.map(tickJson).join(',')}]` : 'null';
  return `{"${kind}":${list},"symbol":${str(symbol)},"next_page_token":${tokenJson(nextPageToken)}}`;
}

export interface ParsedTicksPage<R> {
  /** Rows per symbol (a single-symbol page gives one entry, empty for `null`). */
  rows: Record<string, R[]>;
  nextPageToken: string | null;
  /** Set for a single-symbol page. */
  symbol?: string;
}

/** Read a page written as Alpaca writes it, trade ids exactly (as bigints). */
export function parseTicksPage<K extends FakeTickKind>(kind: K, text: string): ParsedTicksPage<TickRows[K]> {
  // Quote the ids before JSON.parse can round them; nothing else on the wire has an "i" key.
  const body = JSON.parse(text.replace(/"i":(\d+)/g, '"i":"$1"'), (key, value: unknown) => (key === 'i' && typeof value === 'string' ? BigInt(value) : value)) as Record<string, unknown>;
  const data = body[kind];
  const nextPageToken = (body.next_page_token ?? null) as string | null;
  if (typeof body.symbol === 'string') return { rows: { [body.symbol]: (data ?? []) as TickRows[K][] }, nextPageToken, symbol: body.symbol };
  return { rows: (data ?? {}) as Record<string, TickRows[K][]>, nextPageToken };
}
