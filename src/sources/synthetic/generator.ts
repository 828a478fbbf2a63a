/**
 * Deterministic, plausible bars: the same symbol, timeframe and time always give the same bar, whatever
 * range was asked for. Prices follow a multi-scale value-noise walk (a pure function of time, so no
 * state is carried between requests); OHLC are consistent in whole cents, VWAP lies within [low, high],
 * and bars exist only in real NYSE sessions (extended hours for intraday, with thin pre/post markets).
 */
import { nyseRuleCalendar, type Session } from '../../shared/calendar.js';
import { addDays, isoFromParts, MINUTE_MS, nyDateOf, nyMidnightUtc, weekday } from '../../shared/time.js';
import { intradayMinutes, isIntraday, type Timeframe } from '../../shared/timeframe.js';

/** One bar as a tuple: time (UTC ms), open, high, low, close, volume, trade count, VWAP. */
export type BarTuple = [t: number, o: number, h: number, l: number, c: number, v: number, n: number, vw: number];

function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A uniform number in [0, 1) from a seed and an integer (a splitmix-style integer hash). */
export function unit(seed: number, x: number, salt: number): number {
  let h = (seed ^ Math.imul(salt + 0x9e3779b9, 0x85ebca6b)) >>> 0;
  h = Math.imul(h ^ (x >>> 0), 0xcc9e2d51);
  h ^= Math.floor(x / 4294967296);
  h = Math.imul(h ^ (h >>> 15), 0x1b873593);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return ((h ^ (h >>> 16)) >>> 0) / 4294967296;
}

function valueNoise(seed: number, x: number, salt: number): number {
  const i = Math.floor(x);
  const f = x - i;
  const s = f * f * (3 - 2 * f);
  const a = unit(seed, i, salt) * 2 - 1;
  const b = unit(seed, i + 1, salt) * 2 - 1;
  return a + (b - a) * s;
}

/** Noise scales in minutes and their amplitudes in log-price. */
const SCALES: readonly [number, number][] = [
  [17, 0.0015],
  [390, 0.012],
  [390 * 5, 0.025],
  [390 * 21, 0.06],
  [390 * 252, 0.35],
];

export class SyntheticMarket {
  private readonly seeds = new Map<string, number>();

  seedOf(symbol: string): number {
    let s = this.seeds.get(symbol);
    if (s === undefined) {
      s = fnv1a(symbol);
      this.seeds.set(symbol, s);
    }
    return s;
  }

  /** Price in cents at an instant. */
  priceCents(symbol: string, utcMs: number): number {
    const seed = this.seedOf(symbol);
    const minute = utcMs / MINUTE_MS;
    let log = 0;
    for (let k = 0; k < SCALES.length; k++) log += SCALES[k][1] * valueNoise(seed, minute / SCALES[k][0], k);
    const base = 2_000 + (seed % 48_000); // $20 – $500
    return Math.max(100, Math.round(base * Math.exp(log)));
  }

  /** A bar over [from, to) stamped at `stamp`; `weight` scales volume (thin extended hours). */
  private bar(symbol: string, stamp: number, from: number, to: number, weight: number): BarTuple {
    const seed = this.seedOf(symbol);
    const key = Math.floor(stamp / MINUTE_MS);
    const o = this.priceCents(symbol, from);
    const c = this.priceCents(symbol, to);
    const mid = this.priceCents(symbol, (from + to) / 2);
    const spanMinutes = (to - from) / MINUTE_MS;
    const wiggle = Math.max(1, Math.round(((o + c) / 2) * 0.0004 * Math.sqrt(spanMinutes)));
    const h = Math.max(o, c, mid) + Math.floor(unit(seed, key, 11) * wiggle);
    const l = Math.max(1, Math.min(o, c, mid) - Math.floor(unit(seed, key, 12) * wiggle));
    const vwapCents = l + (h - l) * unit(seed, key, 13);
    const volume = Math.max(1, Math.round(weight * spanMinutes * (200 + 4_000 * unit(seed, key, 14))));
    const trades = Math.max(1, Math.min(volume, Math.round(volume / (20 + 80 * unit(seed, key, 15)))));
    return [stamp, o / 100, h / 100, l / 100, c / 100, volume, trades, Math.round(vwapCents * 100) / 10_000];
  }

  /** Every bar of a symbol with start time in [start, end] inclusive. */
  bars(symbol: string, tf: Timeframe, start: number, end: number): BarTuple[] {
    const out: BarTuple[] = [];
    if (end < start) return out;
    const firstDate = addDays(nyDateOf(start), tf.unit === 'Month' ? -31 * tf.amount : tf.unit === 'Week' ? -7 : 0);
    const sessions = nyseRuleCalendar.sessions(firstDate, nyDateOf(end));
    if (isIntraday(tf)) {
      const step = intradayMinutes(tf) * MINUTE_MS;
      const seed = this.seedOf(symbol);
      for (const s of sessions) {
        const midnight = nyMidnightUtc(s.date);
        // Bars align to multiples of the bar length counted from New York midnight.
        let t = midnight + Math.ceil((s.extendedOpen - midnight) / step) * step;
        for (; t < s.extendedClose; t += step) {
          if (t < start || t > end) continue;
          const regular = t >= s.open && t < s.close;
          // Pre/post markets are thin: some minutes have no trade, hence no bar.
          if (!regular && step < 15 * MINUTE_MS && unit(seed, t / MINUTE_MS, 7) < 0.3) continue;
          out.push(this.bar(symbol, t, t, Math.min(t + step, s.extendedClose), regular ? 1 : 0.1));
        }
      }
      return out;
    }
    for (const group of groupSessions(sessions, tf)) {
      const stamp = nyMidnightUtc(group[0].date);
      if (stamp < start || stamp > end) continue;
      out.push(this.bar(symbol, stamp, group[0].open, group[group.length - 1].close, 1));
    }
    return out;
  }
}

/** Sessions grouped into daily, weekly (Mon–Fri) or k-month bars. */
function groupSessions(sessions: readonly Session[], tf: Timeframe): Session[][] {
  const keyOf = (s: Session): string => {
    if (tf.unit === 'Day') return s.date;
    if (tf.unit === 'Week') return addDays(s.date, -((weekday(s.date) + 6) % 7));
    const year = +s.date.slice(0, 4);
    const month = +s.date.slice(5, 7);
    return isoFromParts(year, Math.floor((month - 1) / tf.amount) * tf.amount + 1, 1);
  };
  const groups: Session[][] = [];
  let lastKey = '';
  for (const s of sessions) {
    const key = keyOf(s);
    if (key !== lastKey) groups.push([]);
    groups[groups.length - 1].push(s);
    lastKey = key;
  }
  return groups;
}
