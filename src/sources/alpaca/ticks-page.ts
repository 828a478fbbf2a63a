/**
 * Alpaca's trades and quotes pages (`{"trades": {SYM: [{t,x,p,s,c,i,z,u?}, …]} | null,
 * "next_page_token": …}`; quotes alike with `{t,ax,ap,as,bx,bp,bs,c,z}`) read from their UTF-8
 * bytes straight into the lake's tick columns: no string for the page, and no object, string or
 * BigInt per row. Timestamps keep their nanoseconds and trade ids all 64 bits (both beyond a double),
 * written through 32-bit views; text becomes the process-wide dictionary codes, cached by byte
 * (exchanges, tapes) or by raw bytes (condition lists) so a repeated value costs no allocation.
 */
import { allocateBatch, growBatch, QUOTES_SCHEMA, type QuoteColumns, TRADES_SCHEMA, type TradeColumns } from '../../lake/schema.js';
import { TEXT_CODES, TEXT_LIST_CODES } from '../../lake/text-codes.js';
import { int64Halves } from '../../shared/nanos.js';
import { BACKSLASH, COLON, COMMA, JsonScanner, LBRACE, LBRACKET, QUOTE, RBRACE, RBRACKET } from '../json-bytes.js';
import { PAGE_LIMIT } from './bars-request.js';

export interface ParsedTicks<C> {
  columns: C;
  nextPageToken: string | null;
}

/**
 * Alpaca sent quote sizes in round lots (100 shares) for New York dates before 2025-11-03 and in
 * shares from then on; the lake stores shares. New York midnight that day (EST, UTC-5), UTC seconds.
 */
const QUOTE_SIZES_IN_SHARES_FROM = Date.UTC(2025, 10, 3, 5) / 1000;
const ROUND_LOT = 100;

/** TEXT_CODES of one-character texts by their byte, 0 until first seen. */
const CHAR_CODES = new Float64Array(128);

/** A text field's dictionary code (0 for null). */
function textCode(s: JsonScanner): number {
  s.ws();
  const t = s.bytes;
  const p = s.pos;
  const ch = t[p + 1];
  if (t[p] === QUOTE && t[p + 2] === QUOTE && ch >= 32 && ch < 128 && ch !== QUOTE && ch !== BACKSLASH) {
    s.pos = p + 3;
    return CHAR_CODES[ch] || (CHAR_CODES[ch] = TEXT_CODES.code(String.fromCharCode(ch)));
  }
  return s.literal('null') ? 0 : TEXT_CODES.code(s.string());
}

/** A quote side's exchange: a single space marks a side with no quote, stored as NULL. */
function sideExchangeCode(s: JsonScanner): number {
  s.ws();
  const t = s.bytes;
  const p = s.pos;
  if (t[p] === QUOTE && t[p + 1] === 32 && t[p + 2] === QUOTE) {
    s.pos = p + 3;
    return 0;
  }
  return textCode(s);
}

interface CachedList {
  bytes: Uint8Array;
  code: number;
  next: CachedList | undefined;
}

/** TEXT_LIST_CODES by a hash of the list's raw bytes, chained on collision. */
const LIST_CODES = new Map<number, CachedList>();

/** The end of a list of strings written compactly without escapes (`["@","I"]`), or -1 for any other form. */
function plainListEnd(t: Uint8Array, start: number): number {
  let p = start + 1;
  if (t[p] === RBRACKET) return p + 1;
  for (;;) {
    if (t[p] !== QUOTE) return -1;
    let ch = t[++p];
    while (ch >= 32 && ch !== QUOTE && ch !== BACKSLASH) ch = t[++p];
    if (ch !== QUOTE) return -1;
    ch = t[++p];
    if (ch === RBRACKET) return p + 1;
    if (ch !== COMMA) return -1;
    p++;
  }
}

function stringList(s: JsonScanner): string[] {
  const list: string[] = [];
  if (s.open(LBRACKET, RBRACKET)) {
    do list.push(s.string());
    while (s.more(RBRACKET));
  }
  return list;
}

/** A list-of-strings field's dictionary code (0 for null); a list seen before in the same bytes is found by them. */
function listCode(s: JsonScanner): number {
  s.ws();
  const t = s.bytes;
  const start = s.pos;
  if (t[start] !== LBRACKET) return s.literal('null') ? 0 : s.fail('expected a list of strings');
  const end = plainListEnd(t, start);
  if (end < 0) return TEXT_LIST_CODES.code(stringList(s));
  let hash = 0x811c9dc5;
  for (let q = start; q < end; q++) hash = Math.imul(hash ^ t[q], 0x01000193);
  const first = LIST_CODES.get(hash);
  for (let entry = first; entry !== undefined; entry = entry.next) {
    const b = entry.bytes;
    if (b.length !== end - start) continue;
    let q = 0;
    while (q < b.length && b[q] === t[start + q]) q++;
    if (q === b.length) {
      s.pos = end;
      return entry.code;
    }
  }
  const code = TEXT_LIST_CODES.code(stringList(s));
  LIST_CODES.set(hash, { bytes: t.slice(start, end), code, next: first });
  return code;
}

/** A member name as JsonScanner.shortKey reads it. */
function key(name: string): number {
  return name.length === 1 ? name.charCodeAt(0) : name.charCodeAt(0) * 256 + name.charCodeAt(1);
}

const T = key('t');
const C = key('c');
const Z = key('z');
const X = key('x');
const P = key('p');
const S = key('s');
const I = key('i');
const U = key('u');
const AX = key('ax');
const AP = key('ap');
const AS = key('as');
const BX = key('bx');
const BP = key('bp');
const BS = key('bs');

interface RowReader {
  /** Reads one row object at the scanner into the next row of the columns. */
  row(s: JsonScanner, symbol: number): void;
}

class TradeRows implements RowReader {
  columns: TradeColumns;
  private time: Int32Array;
  private id: Int32Array;

  constructor(reuse: TradeColumns | undefined) {
    this.columns = reuse ?? allocateBatch(TRADES_SCHEMA, PAGE_LIMIT);
    this.columns.length = 0;
    this.time = int64Halves(this.columns.time);
    this.id = int64Halves(this.columns.id);
  }

  row(s: JsonScanner, symbol: number): void {
    let c = this.columns;
    if (c.length === c.symbol.length) {
      this.columns = c = growBatch(TRADES_SCHEMA, c);
      this.time = int64Halves(c.time);
      this.id = int64Halves(c.id);
    }
    const i = c.length;
    let seen = 0;
    // Optional fields start absent: reused columns hold older rows.
    let conditions = 0;
    let tape = 0;
    let correction = 0;
    if (s.open(LBRACE, RBRACE)) {
      do {
        const field = s.shortKey();
        s.expect(COLON);
        switch (field) {
          case T: s.timestampNs(this.time, i); seen |= 1; break;
          case X: c.exchange[i] = textCode(s); seen |= 2; break;
          case P: c.price[i] = s.number(); seen |= 4; break;
          case S: c.size[i] = s.number(); seen |= 8; break;
          case I: s.uint64(this.id, i); seen |= 16; break;
          case C: conditions = listCode(s); break;
          case Z: tape = textCode(s); break;
          case U: correction = textCode(s); break;
          default: s.skipValue();
        }
      } while (s.more(RBRACE));
    }
    if (seen !== 31) s.fail('a trade lacks one of t, x, p, s, i');
    c.conditions[i] = conditions;
    c.tape[i] = tape;
    c.correction[i] = correction;
    c.symbol[i] = symbol;
    c.length = i + 1;
  }
}

class QuoteRows implements RowReader {
  columns: QuoteColumns;
  private time: Int32Array;

  constructor(reuse: QuoteColumns | undefined) {
    this.columns = reuse ?? allocateBatch(QUOTES_SCHEMA, PAGE_LIMIT);
    this.columns.length = 0;
    this.time = int64Halves(this.columns.time);
  }

  row(s: JsonScanner, symbol: number): void {
    let c = this.columns;
    if (c.length === c.symbol.length) {
      this.columns = c = growBatch(QUOTES_SCHEMA, c);
      this.time = int64Halves(c.time);
    }
    const i = c.length;
    let seen = 0;
    let seconds = 0;
    let conditions = 0;
    let tape = 0;
    if (s.open(LBRACE, RBRACE)) {
      do {
        const field = s.shortKey();
        s.expect(COLON);
        switch (field) {
          case T: seconds = s.timestampNs(this.time, i); seen |= 1; break;
          case AX: c.askExchange[i] = sideExchangeCode(s); seen |= 2; break;
          case AP: c.askPrice[i] = s.number(); seen |= 4; break;
          case AS: c.askSize[i] = s.number(); seen |= 8; break;
          case BX: c.bidExchange[i] = sideExchangeCode(s); seen |= 16; break;
          case BP: c.bidPrice[i] = s.number(); seen |= 32; break;
          case BS: c.bidSize[i] = s.number(); seen |= 64; break;
          case C: conditions = listCode(s); break;
          case Z: tape = textCode(s); break;
          default: s.skipValue();
        }
      } while (s.more(RBRACE));
    }
    if (seen !== 127) s.fail('a quote lacks one of t, ax, ap, as, bx, bp, bs');
    if (seconds < QUOTE_SIZES_IN_SHARES_FROM) {
      c.askSize[i] *= ROUND_LOT;
      c.bidSize[i] *= ROUND_LOT;
    }
    c.conditions[i] = conditions;
    c.tape[i] = tape;
    c.symbol[i] = symbol;
    c.length = i + 1;
  }
}

/**
 * Read the envelope: every row of `member` through `rows`, and the page token. Member order does not
 * matter and unknown members are skipped; a symbol not in `symbolIndex` fails the page.
 */
function readPage(page: Uint8Array | string, member: string, symbolIndex: ReadonlyMap<string, number>, rows: RowReader): string | null {
  // Typed explicitly so that s.fail (never) narrows below.
  const s: JsonScanner = new JsonScanner(typeof page === 'string' ? Buffer.from(page) : page);
  let nextPageToken: string | null | undefined;
  let sawMember = false;
  if (s.open(LBRACE, RBRACE)) {
    do {
      const name = s.string();
      s.expect(COLON);
      if (name === 'next_page_token') {
        nextPageToken = s.literal('null') ? null : s.string();
      } else if (name === member) {
        sawMember = true;
        if (s.literal('null') || !s.open(LBRACE, RBRACE)) continue;
        do {
          const symbol = s.string();
          s.expect(COLON);
          const index = symbolIndex.get(symbol) ?? s.fail(`${member} of ${symbol}, which the request did not name`);
          if (s.literal('null') || !s.open(LBRACKET, RBRACKET)) continue;
          do rows.row(s, index);
          while (s.more(RBRACKET));
        } while (s.more(RBRACE));
      } else {
        s.skipValue();
      }
    } while (s.more(RBRACE));
  }
  s.ws();
  if (s.pos !== s.bytes.length) s.fail('unexpected content after the page object');
  if (!sawMember) s.fail(`no "${member}" member`);
  if (nextPageToken === undefined) s.fail('no "next_page_token" member');
  return nextPageToken === '' ? null : nextPageToken;
}

/**
 * Parse one trades page. `reuse` is overwritten and returned (grown if needed) instead of
 * allocating new columns.
 */
export function parseTradesPage(page: Uint8Array | string, symbolIndex: ReadonlyMap<string, number>, reuse?: TradeColumns): ParsedTicks<TradeColumns> {
  const rows = new TradeRows(reuse);
  const nextPageToken = readPage(page, 'trades', symbolIndex, rows);
  return { columns: rows.columns, nextPageToken };
}

/** Parse one quotes page, sizes in shares; `reuse` as for trades. */
export function parseQuotesPage(page: Uint8Array | string, symbolIndex: ReadonlyMap<string, number>, reuse?: QuoteColumns): ParsedTicks<QuoteColumns> {
  const rows = new QuoteRows(reuse);
  const nextPageToken = readPage(page, 'quotes', symbolIndex, rows);
  return { columns: rows.columns, nextPageToken };
}
