/**
 * Deterministic trades and quotes for the offline source: the same symbol and day always give the
 * same rows. A day's ticks spread over its extended session (thin before and after the regular
 * hours), with nanosecond stamps, some shared by neighbours as on a real tape; prices follow the
 * synthetic market's walk, quotes straddle it.
 */
import { type QuoteColumns, type TickColumns, type TradeColumns } from '../../lake/schema.js';
import { TEXT_CODES, TEXT_LIST_CODES } from '../../lake/text-codes.js';
import type { Session } from '../../shared/calendar.js';
import { dateToDayNumber } from '../../shared/time.js';
import { int64Halves, setWholeNumber, writeNanos } from '../../shared/nanos.js';
import type { TickKind } from '../../lake/schema.js';
import { SyntheticMarket, unit } from './generator.js';

const EXCHANGES = 'PQVNZKTBXYJ'.split('').map((x) => TEXT_CODES.code(x));
const TAPES = ['A', 'B', 'C'].map((t) => TEXT_CODES.code(t));
const REGULAR_TRADE = TEXT_LIST_CODES.code(['@']);
const ODD_LOT = TEXT_LIST_CODES.code(['@', 'I']);
const EXTENDED_TRADE = TEXT_LIST_CODES.code(['@', 'T']);
const QUOTE_CONDITIONS = TEXT_LIST_CODES.code(['R']);

/** Share of a day's ticks before the open and after the close. */
const PRE_SHARE = 0.12;
const POST_SHARE = 0.08;

export class SyntheticTicks {
  constructor(private readonly market: SyntheticMarket) {}

  /** Ticks of a symbol's day: a few thousand, more for some symbols, twice as many quotes as trades. */
  count(symbol: string, kind: TickKind, date: string): number {
    const seed = this.market.seedOf(symbol);
    const trades = 1_500 + (seed % 2_500) + Math.floor(unit(seed, dateToDayNumber(date), 21) * 500);
    return kind === 'trades' ? trades : 2 * trades;
  }

  /** The instant of tick i of n, UTC ms (fractional: the sub-millisecond part is the nanoseconds). */
  private instant(session: Session, seed: number, day: number, i: number, n: number): number {
    const f = (i + 0.9 * unit(seed, day * 8_192 + i, 22)) / n;
    if (f < PRE_SHARE) return session.extendedOpen + (f / PRE_SHARE) * (session.open - session.extendedOpen);
    if (f >= 1 - POST_SHARE) return session.close + ((f - (1 - POST_SHARE)) / POST_SHARE) * (session.extendedClose - session.close);
    return session.open + ((f - PRE_SHARE) / (1 - PRE_SHARE - POST_SHARE)) * (session.close - session.open);
  }

  /**
   * Write ticks [from, to) of the symbol's day stamped before `endMs` into the batch from row `at`;
   * returns the next row (fewer than asked once a tick reaches `endMs`). Every 9th tick carries its
   * predecessor's stamp (a tie).
   */
  fill(kind: TickKind, symbol: string, symbolIndex: number, session: Session, from: number, to: number, endMs: number, batch: TickColumns, at: number): number {
    const seed = this.market.seedOf(symbol);
    const day = dateToDayNumber(session.date);
    const n = this.count(symbol, kind, session.date);
    const time = int64Halves(batch.time);
    const ids = kind === 'trades' ? int64Halves((batch as TradeColumns).id) : undefined;
    let row = at;
    for (let i = from; i < to; i++, row++) {
      const tie = i > 0 && i % 9 === 0;
      const ms = this.instant(session, seed, day, tie ? i - 1 : i, n);
      if (ms >= endMs) break;
      const whole = Math.floor(ms);
      const nanos = Math.floor((ms - whole) * 1e6);
      writeNanos(time, row, Math.floor(whole / 1000), (whole % 1000) * 1e6 + nanos);
      batch.symbol[row] = symbolIndex;
      const cents = this.market.priceCents(symbol, whole);
      const u = unit(seed, day * 65_536 + i, kind === 'trades' ? 23 : 24);
      const regular = whole >= session.open && whole < session.close;
      if (kind === 'trades') {
        const t = batch as TradeColumns;
        const size = u < 0.3 ? 1 + Math.floor(u * 300) : 100 * (1 + Math.floor(u * 10));
        t.price[row] = (cents + Math.floor(u * 7) - 3) / 100;
        t.size[row] = size;
        t.exchange[row] = EXCHANGES[Math.floor(u * 997) % EXCHANGES.length];
        const id = day * 1_000_000 + i + 1;
        setWholeNumber(ids!, row, id);
        t.conditions[row] = !regular ? EXTENDED_TRADE : size < 100 ? ODD_LOT : REGULAR_TRADE;
        t.tape[row] = TAPES[seed % TAPES.length];
        t.correction[row] = 0;
      } else {
        const q = batch as QuoteColumns;
        const half = 1 + Math.floor(u * 3);
        q.bidPrice[row] = (cents - half) / 100;
        q.askPrice[row] = (cents + half) / 100;
        q.bidSize[row] = 100 * (1 + Math.floor(u * 20));
        q.askSize[row] = 100 * (1 + Math.floor(unit(seed, day * 65_536 + i, 25) * 20));
        q.bidExchange[row] = EXCHANGES[Math.floor(u * 991) % EXCHANGES.length];
        q.askExchange[row] = EXCHANGES[Math.floor(u * 983) % EXCHANGES.length];
        q.conditions[row] = QUOTE_CONDITIONS;
        q.tape[row] = TAPES[seed % TAPES.length];
      }
    }
    return row;
  }
}
