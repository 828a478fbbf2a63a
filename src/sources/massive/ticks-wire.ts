/**
 * Massive's trades and quotes (`GET /v3/trades/{ticker}`, `GET /v3/quotes/{ticker}`): the request
 * URL, and pages (`{"results": [{…}], "status": "OK", "request_id": …, "next_url": …}`) read from
 * their UTF-8 bytes straight into the lake's tick columns, as Alpaca's are: no string for the page,
 * and no object, string or BigInt per row. A row's time is its `sip_timestamp`, the field Massive
 * filters, orders and pages by, so rows keep the provider's order; it and a trade's `id` are integers
 * beyond 2^53, read digit by digit into int64 halves. Integer codes (exchange, conditions, tape,
 * correction) become text dictionary codes as `tick-codes` maps them.
 */
import { batchFor, QUOTES_SCHEMA, type QuoteColumns, type TickColumns, type TickKind, TRADES_SCHEMA, type TradeColumns } from '../../lake/schema.js';
import { int64Halves, nsOfMs } from '../../shared/nanos.js';
import { PageFormatError } from '../errors.js';
import { BACKSLASH, COLON, DOT, JsonScanner, LBRACE, LBRACKET, MINUS, QUOTE, RBRACE, RBRACKET, ZERO } from '../json-bytes.js';
import { trimBase } from './rest-wire.js';
import { integerListCode, integerText, nonZeroText, tapeText } from './tick-codes.js';

/** Rows one page may hold (`limit`'s maximum). */
export const TICKS_PAGE_LIMIT = 50_000;

/** Every trade or quote of one ticker stamped in [start, end) (UTC ms), oldest first (Massive's default is newest first). */
export function ticksUrl(baseUrl: string, kind: TickKind, ticker: string, start: number, end: number): string {
  const ns = (ms: number): string => nsOfMs(ms).toString();
  const params = new URLSearchParams({ 'timestamp.gte': ns(start), 'timestamp.lt': ns(end), order: 'asc', sort: 'timestamp', limit: String(TICKS_PAGE_LIMIT) });
  return `${trimBase(baseUrl)}/v3/${kind}/${encodeURIComponent(ticker)}?${params.toString()}`;
}

export interface TicksPage<C> {
  columns: C;
  nextUrl: string | undefined;
}

// Row members, as MemberNames reports them; UNUSED ones are documented and skipped.
const UNUSED = 0;
const SIP_TIMESTAMP = 1;
const PRICE = 2;
const SIZE = 3;
const EXCHANGE = 4;
const ID = 5;
const CONDITIONS = 6;
const TAPE = 7;
const CORRECTION = 8;
const BID_PRICE = 9;
const BID_SIZE = 10;
const BID_EXCHANGE = 11;
const ASK_PRICE = 12;
const ASK_SIZE = 13;
const ASK_EXCHANGE = 14;

/**
 * Member names of a fixed set, recognized by their bytes in place: a row has a dozen long names, and
 * a string each would be most of a page's allocations. Any other name is read whole and gives -1.
 */
class MemberNames {
  private readonly byLength: { bytes: Uint8Array; id: number }[][] = [];

  constructor(private readonly ids: Readonly<Record<string, number>>) {
    for (const [name, id] of Object.entries(ids)) (this.byLength[name.length] ??= []).push({ bytes: Buffer.from(name), id });
  }

  read(s: JsonScanner): number {
    s.ws();
    const t = s.bytes;
    const start = s.pos + 1;
    if (t[s.pos] === QUOTE) {
      let end = start;
      while (end < t.length && t[end] !== QUOTE && t[end] !== BACKSLASH) end++;
      for (const candidate of (t[end] === QUOTE && this.byLength[end - start]) || []) {
        const b = candidate.bytes;
        let k = 0;
        while (k < b.length && b[k] === t[start + k]) k++;
        if (k === b.length) {
          s.pos = end + 1;
          return candidate.id;
        }
      }
    }
    // An escaped, unknown or malformed name: the scanner reads (or rejects) it.
    const name = s.string();
    return Object.hasOwn(this.ids, name) ? this.ids[name] : -1;
  }
}

const MEMBERS = new MemberNames({
  sip_timestamp: SIP_TIMESTAMP,
  price: PRICE,
  size: SIZE,
  exchange: EXCHANGE,
  id: ID,
  conditions: CONDITIONS,
  tape: TAPE,
  correction: CORRECTION,
  bid_price: BID_PRICE,
  bid_size: BID_SIZE,
  bid_exchange: BID_EXCHANGE,
  ask_price: ASK_PRICE,
  ask_size: ASK_SIZE,
  ask_exchange: ASK_EXCHANGE,
  participant_timestamp: UNUSED,
  trf_timestamp: UNUSED,
  trf_id: UNUSED,
  sequence_number: UNUSED,
  indicators: UNUSED,
});

/** True (and past it) at a JSON null. */
function isNull(s: JsonScanner): boolean {
  s.ws();
  return s.bytes[s.pos] === 110 && s.literal('null');
}

function integer(s: JsonScanner): number {
  const n = s.number();
  if (!Number.isInteger(n)) s.fail(`expected an integer, got ${n}`);
  return n;
}

/** An optional integer code (an exchange of a quote side, a correction) as text; 0 or null is none (NULL). */
function optionalText(s: JsonScanner): number {
  return isNull(s) ? 0 : nonZeroText(integer(s));
}

function tapeCode(s: JsonScanner): number {
  return isNull(s) ? 0 : tapeText(integer(s));
}

/** The list being read, reused so that a cached list allocates nothing. */
const listValues: number[] = [];

function integerList(s: JsonScanner): number {
  if (isNull(s)) return 0;
  listValues.length = 0;
  if (s.open(LBRACKET, RBRACKET)) {
    do listValues.push(integer(s));
    while (s.more(RBRACKET));
  }
  return integerListCode(listValues);
}

/** A trade's `id`: a string of decimal digits (leading zeros allowed), stored as the uint64 it spells. */
function tradeId(s: JsonScanner, halves: Int32Array, row: number): void {
  s.expect(QUOTE);
  const t = s.bytes;
  const start = s.pos;
  let end = start;
  while (t[end] >= ZERO && t[end] <= ZERO + 9) end++;
  if (end === start || t[end] !== QUOTE) {
    s.pos = start - 1;
    const text = s.string();
    s.pos = start - 1;
    s.fail(`trade id ${JSON.stringify(text)} is not an unsigned 64-bit integer`);
  }
  let first = start;
  while (first < end - 1 && t[first] === ZERO) first++;
  s.pos = first;
  s.uint64(halves, row);
  s.pos = end + 1;
}

/**
 * Skip a member the lake does not keep. Most are integers (nanosecond stamps, sequence numbers) that
 * JsonScanner.number would read through a string beyond 15 digits; a plain integer is stepped over.
 */
function skip(s: JsonScanner): void {
  s.ws();
  const t = s.bytes;
  let p = s.pos;
  if (t[p] === MINUS) p++;
  const digits = p;
  while (t[p] >= ZERO && t[p] <= ZERO + 9) p++;
  // A fraction or exponent after the digits: a number the scanner must read.
  if (p > digits && t[p] !== DOT && t[p] !== 101 && t[p] !== 69) s.pos = p;
  else s.skipValue();
}

interface RowReader {
  /** Reads the row object at the scanner into the next row of the columns. */
  row(s: JsonScanner): void;
}

/** The next row's index; a page asked for at most TICKS_PAGE_LIMIT rows cannot hold more. */
function nextRow(s: JsonScanner, columns: { length: number; symbol: Float64Array }): number {
  if (columns.length === columns.symbol.length) s.fail(`more than the ${TICKS_PAGE_LIMIT} rows a page may hold`);
  return columns.length;
}

class TradeRows implements RowReader {
  readonly columns: TradeColumns;
  private readonly time: Int32Array;
  private readonly id: Int32Array;

  constructor(private readonly symbol: number, reuse: TradeColumns | undefined) {
    this.columns = batchFor(TRADES_SCHEMA, reuse, TICKS_PAGE_LIMIT);
    this.time = int64Halves(this.columns.time);
    this.id = int64Halves(this.columns.id);
  }

  row(s: JsonScanner): void {
    const c = this.columns;
    const i = nextRow(s, c);
    let seen = 0;
    // Optional members start absent: reused columns hold older rows.
    let conditions = 0;
    let tape = 0;
    let correction = 0;
    if (s.open(LBRACE, RBRACE)) {
      do {
        const member = MEMBERS.read(s);
        s.expect(COLON);
        switch (member) {
          case SIP_TIMESTAMP: s.uint64(this.time, i); seen |= 1; break;
          case PRICE: c.price[i] = s.number(); seen |= 2; break;
          case SIZE: c.size[i] = s.number(); seen |= 4; break;
          case EXCHANGE: c.exchange[i] = integerText(integer(s)); seen |= 8; break;
          case ID: tradeId(s, this.id, i); seen |= 16; break;
          case CONDITIONS: conditions = integerList(s); break;
          case TAPE: tape = tapeCode(s); break;
          case CORRECTION: correction = optionalText(s); break;
          default: skip(s);
        }
      } while (s.more(RBRACE));
    }
    if (seen !== 31) s.fail('a trade lacks one of sip_timestamp, price, size, exchange, id');
    c.conditions[i] = conditions;
    c.tape[i] = tape;
    c.correction[i] = correction;
    c.symbol[i] = this.symbol;
    c.length = i + 1;
  }
}

class QuoteRows implements RowReader {
  readonly columns: QuoteColumns;
  private readonly time: Int32Array;

  constructor(private readonly symbol: number, reuse: QuoteColumns | undefined) {
    this.columns = batchFor(QUOTES_SCHEMA, reuse, TICKS_PAGE_LIMIT);
    this.time = int64Halves(this.columns.time);
  }

  row(s: JsonScanner): void {
    const c = this.columns;
    const i = nextRow(s, c);
    let seen = false;
    // Every member but the stamps is optional: a side without a quote is zeros (exchange 0) or absent.
    let bidPrice = 0;
    let bidSize = 0;
    let bidExchange = 0;
    let askPrice = 0;
    let askSize = 0;
    let askExchange = 0;
    let conditions = 0;
    let tape = 0;
    if (s.open(LBRACE, RBRACE)) {
      do {
        const member = MEMBERS.read(s);
        s.expect(COLON);
        switch (member) {
          case SIP_TIMESTAMP: s.uint64(this.time, i); seen = true; break;
          case BID_PRICE: bidPrice = s.number(); break;
          case BID_SIZE: bidSize = s.number(); break;
          case BID_EXCHANGE: bidExchange = optionalText(s); break;
          case ASK_PRICE: askPrice = s.number(); break;
          case ASK_SIZE: askSize = s.number(); break;
          case ASK_EXCHANGE: askExchange = optionalText(s); break;
          case CONDITIONS: conditions = integerList(s); break;
          case TAPE: tape = tapeCode(s); break;
          default: skip(s);
        }
      } while (s.more(RBRACE));
    }
    if (!seen) s.fail('a quote lacks sip_timestamp');
    // Sizes are stored as served. Massive documents them as round lots, while the SIPs report shares
    // since November 2025 and Massive does not say which unit which dates are in: no guess is made.
    c.bidPrice[i] = bidPrice;
    c.bidSize[i] = bidSize;
    c.bidExchange[i] = bidExchange;
    c.askPrice[i] = askPrice;
    c.askSize[i] = askSize;
    c.askExchange[i] = askExchange;
    c.conditions[i] = conditions;
    c.tape[i] = tape;
    c.symbol[i] = this.symbol;
    c.length = i + 1;
  }
}

/**
 * Read the envelope: every row of `results` through `rows`, and `next_url`. Member order does not
 * matter and unknown members are skipped; no `results` (or null) is no rows, as Massive says it.
 */
function readPage(body: Uint8Array, rows: RowReader): string | undefined {
  // Typed explicitly so that s.fail (never) narrows below.
  const s: JsonScanner = new JsonScanner(body);
  let nextUrl: string | undefined;
  let status: string | undefined;
  if (s.open(LBRACE, RBRACE)) {
    do {
      const name = s.string();
      s.expect(COLON);
      if (name === 'results') {
        if (isNull(s) || !s.open(LBRACKET, RBRACKET)) continue;
        do rows.row(s);
        while (s.more(RBRACKET));
      } else if (name === 'next_url') {
        nextUrl = isNull(s) ? undefined : s.string() || undefined;
      } else if (name === 'status') {
        status = isNull(s) ? undefined : s.string();
      } else {
        s.skipValue();
      }
    } while (s.more(RBRACE));
  }
  s.ws();
  if (s.pos !== s.bytes.length) s.fail('unexpected content after the page object');
  if (status !== 'OK' && status !== 'DELAYED') s.fail(`status ${JSON.stringify(status)} is not OK`);
  return nextUrl;
}

/** Parse one trades page of the ticker at `symbol` in the request. `reuse` is overwritten and returned when it is big enough. */
export function parseTradesPage(body: Uint8Array, symbol: number, reuse?: TradeColumns): TicksPage<TradeColumns> {
  const rows = new TradeRows(symbol, reuse);
  const nextUrl = readPage(body, rows);
  return { columns: rows.columns, nextUrl };
}

/** Parse one quotes page; `reuse` as for trades. */
export function parseQuotesPage(body: Uint8Array, symbol: number, reuse?: QuoteColumns): TicksPage<QuoteColumns> {
  const rows = new QuoteRows(symbol, reuse);
  const nextUrl = readPage(body, rows);
  return { columns: rows.columns, nextUrl };
}

/** Parse one page of either kind; `reuse` is the request's previous batch, overwritten when it is of this kind and big enough. */
export function parseTicksPage(kind: TickKind, body: Uint8Array, symbol: number, reuse: TickColumns | undefined): TicksPage<TickColumns> {
  // The `in` checks only tell TypeScript the batch's kind.
  if (kind === 'trades') return parseTradesPage(body, symbol, reuse && 'price' in reuse ? reuse : undefined);
  return parseQuotesPage(body, symbol, reuse && 'bidPrice' in reuse ? reuse : undefined);
}

/** A 200 body as a page, or why it is unusable (it is then retried, like a truncated body), as readAggregatesPage does. */
export function readTicksPage(kind: TickKind, body: Uint8Array, symbol: number, reuse: TickColumns | undefined): { page: TicksPage<TickColumns> } | { reason: string } {
  try {
    return { page: parseTicksPage(kind, body, symbol, reuse) };
  } catch (error) {
    if (error instanceof PageFormatError) return { reason: error.message };
    throw error;
  }
}
