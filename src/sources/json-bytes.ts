/**
 * A strict JSON reader over UTF-8 bytes for the hot path of page parsing: callers walk a document
 * member by member and read numbers and timestamps in place, so no string is built for a page and
 * no JS object for a row. Anything malformed or truncated throws PageFormatError, so a bad body is
 * never half-used.
 *
 * Numbers take Clinger's fast path (an integer mantissa of at most 15 digits divided or multiplied by
 * an exact power of ten is correctly rounded, so the result equals Number(text)); anything else falls
 * back to Number(text).
 */
import { MAX_NANOS_SECONDS, setInt64, setWholeNumber, TWO_POW_32, writeNanos } from '../shared/nanos.js';

import { PageFormatError } from './errors.js';

export const POW10 = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22];

export const QUOTE = 34;
export const BACKSLASH = 92;
export const COMMA = 44;
export const COLON = 58;
export const LBRACE = 123;
export const RBRACE = 125;
export const LBRACKET = 91;
export const RBRACKET = 93;
export const MINUS = 45;
export const PLUS = 43;
export const DOT = 46;
export const ZERO = 48;

/** Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
export function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** The last date a timestamp named and its day number: consecutive rows almost always share it. */
let lastDate = -1;
let lastDays = 0;

const utf8 = new TextDecoder();

export function decode(bytes: Uint8Array, from: number, to: number): string {
  return utf8.decode(bytes.subarray(from, to));
}

export class JsonScanner {
  pos = 0;
  constructor(readonly bytes: Uint8Array) {}

  fail(detail: string): never {
    throw new PageFormatError(detail, this.pos);
  }

  ws(): void {
    const t = this.bytes;
    let p = this.pos;
    for (;;) {
      const ch = t[p];
      if (ch === 32 || ch === 10 || ch === 13 || ch === 9) p++;
      else break;
    }
    this.pos = p;
  }

  expect(ch: number): void {
    this.ws();
    if (this.bytes[this.pos] !== ch) this.fail(`expected '${String.fromCharCode(ch)}'`);
    this.pos++;
  }

  /** After a member or element: true if another follows (','), false at the closing bracket. */
  more(close: number): boolean {
    this.ws();
    const ch = this.bytes[this.pos];
    if (ch === COMMA) {
      this.pos++;
      return true;
    }
    if (ch === close) {
      this.pos++;
      return false;
    }
    return this.fail(`expected ',' or '${String.fromCharCode(close)}'`);
  }

  /** Opening bracket, then true if the container is non-empty. */
  open(openCh: number, close: number): boolean {
    this.expect(openCh);
    this.ws();
    if (this.bytes[this.pos] === close) {
      this.pos++;
      return false;
    }
    return true;
  }

  string(): string {
    this.expect(QUOTE);
    const t = this.bytes;
    const start = this.pos;
    let p = start;
    let escaped = false;
    for (;;) {
      const ch = t[p];
      if (ch === QUOTE) break;
      if (ch === BACKSLASH) {
        escaped = true;
        p += 2;
        continue;
      }
      if (p >= t.length) {
        this.pos = p;
        this.fail('unterminated string');
      }
      if (ch < 32) {
        this.pos = p;
        this.fail('control character in string');
      }
      p++;
    }
    this.pos = p + 1;
    if (!escaped) return decode(t, start, p);
    try {
      return JSON.parse(decode(t, start - 1, p + 1)) as string;
    } catch {
      return this.fail('bad escape in string');
    }
  }

  literal(word: string): boolean {
    this.ws();
    if (decode(this.bytes, this.pos, this.pos + word.length) === word) {
      this.pos += word.length;
      return true;
    }
    return false;
  }

  number(): number {
    this.ws();
    const t = this.bytes;
    const start = this.pos;
    let p = start;
    let negative = false;
    if (t[p] === MINUS) {
      negative = true;
      p++;
    }
    let mantissa = 0;
    let digits = 0;
    let fraction = 0;
    let ch = t[p];
    if (ch === ZERO) {
      p++;
      ch = t[p];
    } else if (ch > ZERO && ch <= ZERO + 9) {
      while (ch >= ZERO && ch <= ZERO + 9) {
        mantissa = mantissa * 10 + (ch - ZERO);
        digits++;
        ch = t[++p];
      }
    } else {
      this.fail('expected a number');
    }
    if (ch === DOT) {
      ch = t[++p];
      if (!(ch >= ZERO && ch <= ZERO + 9)) this.fail('expected a digit after the decimal point');
      while (ch >= ZERO && ch <= ZERO + 9) {
        mantissa = mantissa * 10 + (ch - ZERO);
        if (mantissa !== 0) digits++;
        fraction++;
        ch = t[++p];
      }
    }
    let exponent = 0;
    let hasExponent = false;
    if (ch === 101 || ch === 69) {
      hasExponent = true;
      ch = t[++p];
      let expNegative = false;
      if (ch === MINUS || ch === PLUS) {
        expNegative = ch === MINUS;
        ch = t[++p];
      }
      if (!(ch >= ZERO && ch <= ZERO + 9)) this.fail('expected an exponent');
      while (ch >= ZERO && ch <= ZERO + 9) {
        exponent = exponent * 10 + (ch - ZERO);
        ch = t[++p];
      }
      if (expNegative) exponent = -exponent;
    }
    this.pos = p;
    const scale = exponent - fraction;
    if (digits <= 15 && !hasExponent && fraction <= 22) {
      const value = fraction === 0 ? mantissa : mantissa / POW10[fraction];
      return negative ? -value : value;
    }
    if (digits <= 15 && scale >= -22 && scale <= 22) {
      const value = scale < 0 ? mantissa / POW10[-scale] : mantissa * POW10[scale];
      return negative ? -value : value;
    }
    return Number(decode(t, start, p));
  }

  /** An RFC-3339 timestamp as UTC microseconds, read in place (no string is built). */
  timestamp(): number {
    this.expect(QUOTE);
    const t = this.bytes;
    const b = this.pos;
    const bad = (): never => this.fail(`bad timestamp near ${JSON.stringify(decode(t, b, b + 40))}`);
    const n = (from: number, len: number): number => {
      let v = 0;
      for (let i = b + from; i < b + from + len; i++) {
        const d = t[i] - ZERO;
        if (!(d >= 0 && d <= 9)) bad();
        v = v * 10 + d;
      }
      return v;
    };
    const sep = t[b + 10];
    if (t[b + 4] !== MINUS || t[b + 7] !== MINUS || (sep !== 84 && sep !== 116) || t[b + 13] !== COLON || t[b + 16] !== COLON) bad();
    let seconds = daysFromCivil(n(0, 4), n(5, 2), n(8, 2)) * 86_400 + n(11, 2) * 3600 + n(14, 2) * 60 + n(17, 2);
    let p = b + 19;
    let micros = 0;
    if (t[p] === DOT) {
      p++;
      let digits = 0;
      for (let ch = t[p]; ch >= ZERO && ch <= ZERO + 9; ch = t[++p]) {
        // Microsecond precision is what the lake stores; finer digits are truncated.
        if (digits < 6) micros = micros * 10 + (ch - ZERO);
        digits++;
      }
      if (digits === 0) bad();
      for (let d = digits; d < 6; d++) micros *= 10;
    }
    const zone = t[p];
    if (zone === 90 || zone === 122) {
      p++;
    } else if (zone === PLUS || zone === MINUS) {
      if (t[p + 3] !== COLON) bad();
      const offset = (n(p - b + 1, 2) * 60 + n(p - b + 4, 2)) * 60;
      seconds += zone === PLUS ? -offset : offset;
      p += 6;
    } else {
      bad();
    }
    if (t[p] !== QUOTE) bad();
    this.pos = p + 1;
    return seconds * 1_000_000 + micros;
  }

  /**
   * A member name of one or two ASCII characters read in place as a number (c0, or c0 * 256 + c1),
   * with no string built; any other name is read whole and gives -1.
   */
  shortKey(): number {
    this.ws();
    const t = this.bytes;
    const p = this.pos;
    const c0 = t[p + 1];
    if (t[p] === QUOTE && c0 >= 32 && c0 < 128 && c0 !== QUOTE && c0 !== BACKSLASH) {
      if (t[p + 2] === QUOTE) {
        this.pos = p + 3;
        return c0;
      }
      const c1 = t[p + 2];
      if (t[p + 3] === QUOTE && c1 >= 32 && c1 < 128 && c1 !== BACKSLASH) {
        this.pos = p + 4;
        return c0 * 256 + c1;
      }
    }
    this.string();
    return -1;
  }

  /**
   * An RFC-3339 timestamp as exact UTC nanoseconds (up to 9 fraction digits), written to row
   * `index` of an int64 column seen through int64Halves. Returns its whole UTC seconds. Instants
   * before 1970 or after early 2116 fail.
   */
  timestampNs(halves: Int32Array, index: number): number {
    this.expect(QUOTE);
    const t = this.bytes;
    const b = this.pos;
    const bad = (): never => this.fail(`bad timestamp near ${JSON.stringify(decode(t, b, b + 40))}`);
    const sep = t[b + 10];
    const after = t[b + 19];
    // Checking the separators and that b + 19 exists first makes every digit position before it a byte.
    if (b + 19 >= t.length || t[b + 4] !== MINUS || t[b + 7] !== MINUS || (sep !== 84 && sep !== 116) || t[b + 13] !== COLON || t[b + 16] !== COLON) bad();
    const y0 = t[b] - ZERO, y1 = t[b + 1] - ZERO, y2 = t[b + 2] - ZERO, y3 = t[b + 3] - ZERO;
    const m0 = t[b + 5] - ZERO, m1 = t[b + 6] - ZERO, d0 = t[b + 8] - ZERO, d1 = t[b + 9] - ZERO;
    const h0 = t[b + 11] - ZERO, h1 = t[b + 12] - ZERO, n0 = t[b + 14] - ZERO, n1 = t[b + 15] - ZERO;
    const s0 = t[b + 17] - ZERO, s1 = t[b + 18] - ZERO;
    // A byte outside '0'..'9' gives a difference that is negative (huge as unsigned) or above 9.
    if ((y0 >>> 0) > 9 || (y1 >>> 0) > 9 || (y2 >>> 0) > 9 || (y3 >>> 0) > 9 || (m0 >>> 0) > 9 || (m1 >>> 0) > 9 || (d0 >>> 0) > 9) bad();
    if ((d1 >>> 0) > 9 || (h0 >>> 0) > 9 || (h1 >>> 0) > 9 || (n0 >>> 0) > 9 || (n1 >>> 0) > 9 || (s0 >>> 0) > 9 || (s1 >>> 0) > 9) bad();
    const month = m0 * 10 + m1;
    const day = d0 * 10 + d1;
    const hour = h0 * 10 + h1;
    const minute = n0 * 10 + n1;
    const second = s0 * 10 + s1;
    if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) bad();
    const date = (((y0 * 10 + y1) * 10 + y2) * 10 + y3) * 10_000 + month * 100 + day;
    if (date !== lastDate) {
      lastDays = daysFromCivil(Math.floor(date / 10_000), month, day);
      lastDate = date;
    }
    let seconds = lastDays * 86_400 + hour * 3600 + minute * 60 + second;
    let p = b + 19;
    let nanos = 0;
    if (after === DOT) {
      let ch = t[++p];
      const first = p;
      while (ch >= ZERO && ch <= ZERO + 9) {
        nanos = nanos * 10 + (ch - ZERO);
        ch = t[++p];
      }
      const digits = p - first;
      if (digits === 0 || digits > 9) bad();
      nanos *= POW10[9 - digits];
    }
    const zone = t[p];
    if (zone === 90 || zone === 122) {
      p++;
    } else if (zone === PLUS || zone === MINUS) {
      if (t[p + 3] !== COLON || t[p + 6] !== QUOTE) bad();
      const oh0 = t[p + 1] - ZERO, oh1 = t[p + 2] - ZERO, om0 = t[p + 4] - ZERO, om1 = t[p + 5] - ZERO;
      if ((oh0 >>> 0) > 9 || (oh1 >>> 0) > 9 || (om0 >>> 0) > 5 || (om1 >>> 0) > 9) bad();
      const offset = ((oh0 * 10 + oh1) * 60 + om0 * 10 + om1) * 60;
      seconds += zone === PLUS ? -offset : offset;
      p += 6;
    } else {
      bad();
    }
    if (t[p] !== QUOTE) bad();
    if (seconds < 0 || seconds > MAX_NANOS_SECONDS) this.fail('timestamp out of range (1970 to 2116)');
    this.pos = p + 1;
    writeNanos(halves, index, seconds, nanos);
    return seconds;
  }

  /**
   * A JSON integer in 0..2^64-1 written exactly to row `index` of an int64 column seen through
   * int64Halves (as its 64-bit pattern, so values above 2^63 read back as negative BigInt64).
   */
  uint64(halves: Int32Array, index: number): void {
    this.ws();
    const t = this.bytes;
    const start = this.pos;
    let p = start;
    let ch = t[p];
    let value = 0;
    if (ch === ZERO) {
      ch = t[++p];
    } else if (ch > ZERO && ch <= ZERO + 9) {
      do {
        value = value * 10 + (ch - ZERO);
        ch = t[++p];
      } while (ch >= ZERO && ch <= ZERO + 9);
    } else {
      this.fail('expected an unsigned integer');
    }
    // A fraction or exponent after it fails at the caller's next ',' or '}'.
    this.pos = p;
    if (p - start <= 15) {
      setWholeNumber(halves, index, value);
      return;
    }
    // Beyond 15 digits a double is no longer exact: read again in base 2^32.
    let low = 0;
    let high = 0;
    for (let q = start; q < p; q++) {
      low = low * 10 + (t[q] - ZERO);
      const carry = Math.floor(low / TWO_POW_32);
      low -= carry * TWO_POW_32;
      high = high * 10 + carry;
      if (high >= TWO_POW_32) this.fail('integer above 2^64-1');
    }
    setInt64(halves, index, low, high);
  }

  /** Skip any JSON value (members of the envelope we do not use). */
  skipValue(): void {
    this.ws();
    const ch = this.bytes[this.pos];
    if (ch === QUOTE) this.string();
    else if (ch === LBRACE) {
      if (this.open(LBRACE, RBRACE)) {
        do {
          this.string();
          this.expect(COLON);
          this.skipValue();
        } while (this.more(RBRACE));
      }
    } else if (ch === LBRACKET) {
      if (this.open(LBRACKET, RBRACKET)) {
        do this.skipValue();
        while (this.more(RBRACKET));
      }
    } else if (!this.literal('null') && !this.literal('true') && !this.literal('false')) {
      this.number();
    }
  }
}
