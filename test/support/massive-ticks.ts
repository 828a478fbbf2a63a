/**
 * Massive's (formerly Polygon.io) trades and quotes as the fakes serve them, written from
 * ../shared/reference/massive-market-data.md (section 2, SPEC fields): fake-ticks' deterministic model
 * (times, prices, sizes, ids, ties) carried over into Massive's fields. FakeMassive serves these rows
 * over REST (`/v3/trades`, `/v3/quotes`) and FakeS3 writes the same rows into `trades_v1` / `quotes_v1`
 * flat files, so a symbol-day with the same (kind, ticker, date, count, seed) is the same rows in both.
 *
 * Interpretations (not documented facts): participant ids are A = 1 … Z = 26 of fake-ticks' letters
 * (D, the TRF, = 4; its trades carry `trf_id` 201 and `trf_timestamp`); condition and correction codes
 * are a plausible fixed mapping; `correction` 0 appears on some uncorrected trades; an empty bid side
 * is left out and an empty ask side is zeros (both forms occur); some quotes carry `indicators` [604].
 */
import { isNyseTradingDay } from '../../src/shared/calendar.js';
import type { IsoDate } from '../../src/shared/time.js';
import type { TickRow } from './lake.js';
import { type FakeTickKind, generatedDay, type TickDay, type TickRows, type WireQuote, type WireTrade } from './fake-ticks.js';

/** FakeMassive's default seed (its `seed` option): also FakeS3's default `tickSeed`, so both serve the same rows. */
export const DEFAULT_MASSIVE_SEED = 42;

/** A trade as Massive serves it (SPEC fields); nanosecond stamps are bigints, which a JS number cannot hold. */
export interface MassiveTrade {
  conditions?: number[];
  correction?: number;
  exchange: number;
  id: string;
  participant_timestamp: bigint;
  price: number;
  sequence_number: number;
  sip_timestamp: bigint;
  size: number;
  tape: number;
  trf_id?: number;
  trf_timestamp?: bigint;
}

/** A quote as Massive serves it; a side without a quote is absent or zeros (exchange 0). */
export interface MassiveQuote {
  ask_exchange?: number;
  ask_price?: number;
  ask_size?: number;
  bid_exchange?: number;
  bid_price?: number;
  bid_size?: number;
  conditions?: number[];
  indicators?: number[];
  participant_timestamp: bigint;
  sequence_number: number;
  sip_timestamp: bigint;
  tape: number;
}

export interface MassiveTicks {
  trades: MassiveTrade;
  quotes: MassiveQuote;
}

/** fake-ticks' one-letter participant codes as Massive's integer ids: A = 1 … Z = 26. */
const participantId = (letter: string): number => letter.charCodeAt(0) - 64;
/** The FINRA trade reporting facility ('D'): its trades also carry trf_timestamp and trf_id. */
const TRF_PARTICIPANT = participantId('D');
const TAPE_NUMBERS: Record<string, number> = { A: 1, B: 2, C: 3 };
/** Form T, odd lot, intermarket sweep; a regular sale ('@' or ' ') carries no code. */
const TRADE_CONDITION_IDS: Record<string, number> = { T: 12, I: 37, F: 14 };
const QUOTE_CONDITION_IDS: Record<string, number> = { R: 1, Y: 2, A: 3, B: 4, O: 5, C: 6 };
const CORRECTION_IDS: Record<string, number> = { canceled: 8, incorrect: 7, corrected: 12 };

/** Row k of a day: stamps and sequence numbers around the model's time (increasing, not contiguous). */
function stamps(sip: bigint, k: number): { participant_timestamp: bigint; sequence_number: number; sip_timestamp: bigint } {
  return { participant_timestamp: sip - BigInt(1_000 + (k % 97) * 1_013), sequence_number: 1_000 + 3 * k + (k % 2), sip_timestamp: sip };
}

function massiveTrade(t: WireTrade, sip: bigint, k: number): MassiveTrade {
  const trade: MassiveTrade = { ...stamps(sip, k), exchange: participantId(t.x), id: t.i.toString(), price: t.p, size: t.s, tape: TAPE_NUMBERS[t.z] };
  const conditions = t.c.filter((c) => Object.hasOwn(TRADE_CONDITION_IDS, c)).map((c) => TRADE_CONDITION_IDS[c]);
  if (conditions.length > 0) trade.conditions = conditions;
  if (t.u !== undefined) trade.correction = CORRECTION_IDS[t.u];
  else if (k % 7 === 3) trade.correction = 0;
  if (trade.exchange === TRF_PARTICIPANT) {
    trade.trf_id = 201;
    trade.trf_timestamp = trade.participant_timestamp + 250n;
  }
  return trade;
}

function massiveQuote(q: WireQuote, sip: bigint, k: number): MassiveQuote {
  const quote: MassiveQuote = { ...stamps(sip, k), conditions: q.c.map((c) => QUOTE_CONDITION_IDS[c]), tape: TAPE_NUMBERS[q.z] };
  // fake-ticks' empty side (' ', 0, 0): an empty bid is left out, an empty ask is zeros, so both forms are served.
  if (q.bx !== ' ') Object.assign(quote, { bid_exchange: participantId(q.bx), bid_price: q.bp, bid_size: q.bs });
  Object.assign(quote, q.ax === ' ' ? { ask_exchange: 0, ask_price: 0, ask_size: 0 } : { ask_exchange: participantId(q.ax), ask_price: q.ap, ask_size: q.as });
  if (k % 11 === 5) quote.indicators = [604];
  return quote;
}

/**
 * A ticker's trades or quotes of a New York date, oldest first: fake-ticks' model in Massive's fields;
 * undefined when `count` ≤ 0 or the date is not an NYSE trading day. Row k is built from k alone
 * (a fresh object on every `at`), so a day never materializes.
 */
export function massiveTickDay<K extends FakeTickKind>(kind: K, ticker: string, date: IsoDate, count: number, seed: number): TickDay<MassiveTicks[K]> | undefined {
  if (count <= 0 || !isNyseTradingDay(date)) return undefined;
  const day = generatedDay(kind, ticker, date, count, seed);
  const convert = (kind === 'trades' ? massiveTrade : massiveQuote) as (row: TickRows[K], sip: bigint, k: number) => MassiveTicks[K];
  return { length: day.length, at: (k) => convert(day.at(k), day.timeNs(k), k), timeNs: (k) => day.timeNs(k) };
}

const TAPES = [null, 'A', 'B', 'C'];
const codes = (list: number[] | undefined): string[] | null => list?.map(String) ?? null;
/** An integer code as the lake stores it: its text, 0 or absent being none. */
const nonZero = (n: number | undefined): string | null => (n ? String(n) : null);

/** A served trade as the lake stores it (the columns `readTicks` gives). */
export const storedTrade = (t: MassiveTrade): TickRow => [t.sip_timestamp.toString(), t.price, t.size, String(t.exchange), BigInt(t.id).toString(), codes(t.conditions), TAPES[t.tape], nonZero(t.correction)];

/** A served quote as the lake stores it: an absent side is zeros and NULL exchanges. */
export const storedQuote = (q: MassiveQuote): TickRow => [
  q.sip_timestamp.toString(), q.bid_price ?? 0, q.bid_size ?? 0, nonZero(q.bid_exchange), q.ask_price ?? 0, q.ask_size ?? 0, nonZero(q.ask_exchange), codes(q.conditions), TAPES[q.tape],
];
