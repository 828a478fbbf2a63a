/**
 * Corporate actions as the loopback fakes model them: one list of actions that both fake-alpaca
 * (`/v1/corporate-actions`, bars `adjustment=`) and fake-massive (`/stocks/v1/splits`,
 * `/stocks/v1/dividends`, `adjusted=true`) serve, and the provider-style back-adjustment of bars.
 * Written from ../shared/reference/alpaca-market-data.md ("Corporate actions") and
 * ../shared/reference/massive-market-data.md (sections 1 and 4).
 *
 * The model, in a few rules:
 * - An action is *visible* (listed by the provider) from its `announced` New York date on
 *   (default: 30 days before the ex-date). A provider lists announced actions whose ex-date is
 *   still ahead.
 * - An action is *effective* at `now` when it is visible and its ex-date is on or before `now`.
 *   Only effective actions adjust bars: a provider adjusts history as of the request, so a split
 *   announced for next week does not yet scale today's prices.
 * - A bar's date is the New York date of its timestamp (a daily bar is stamped at New York
 *   midnight; a weekly or monthly bar takes the date of its first session). A bar is adjusted by
 *   an action when its date is before the ex-date; bars on or after an ex-date equal raw (Alpaca:
 *   "bars on or after an ex-date equal raw"; Massive: the execution date's pre-market is already
 *   adjusted).
 * - Split factor for a bar = Π oldRate / Π newRate over the effective splits of its symbol with a
 *   later ex-date, computed as one division of two products (4-for-1 → exactly 0.25; 1-for-10
 *   reverse → 10).
 * - Dividend factor for a bar = Π (1 − cash ÷ raw close of the last session before the ex-date)
 *   over the effective cash dividends of its symbol with a later ex-date, multiplied in ex-date
 *   order. Cash and close are both raw (unadjusted), so the ratio needs no split correction. A
 *   dividend without a raw close before it (not listed yet) contributes 1.
 * - Adjusting: prices (o, h, l, c, vw) × price factor, where the price factor is the split factor
 *   ('split'), the dividend factor ('dividend'), or split × dividend ('all'). Volume ÷ split factor,
 *   rounded to an integer ('split' and 'all'; dividends leave volume alone). The trade count is
 *   never changed. Prices are not rounded (neither reference says a provider rounds).
 * - Name changes are records only: the synthetic market generates each symbol on its own, so a
 *   rename moves no history, and splits/dividends match on `symbol` alone.
 */
import { createHash } from 'node:crypto';
import { nyseRuleCalendar } from '../../src/shared/calendar.js';
import { addDays, isIsoDate, nyDateOf } from '../../src/shared/time.js';
import type { BarTuple } from '../../src/sources/synthetic/generator.js';

export type FakeActionType = 'forward_split' | 'reverse_split' | 'cash_dividend' | 'name_change';

export interface FakeCorporateAction {
  /** For name_change: the old symbol. */
  symbol: string;
  type: FakeActionType;
  /** New York date YYYY-MM-DD. For a name change, the date the new symbol takes effect. */
  exDate: string;
  /** Splits: old shares → new shares (4-for-1: old 1, new 4; 1-for-10 reverse: old 10, new 1). */
  oldRate?: number;
  newRate?: number;
  /** cash_dividend: cash per share. */
  cash?: number;
  /** name_change: the new symbol. */
  newSymbol?: string;
  /** New York date from which the provider lists it (default: 30 days before exDate). */
  announced?: string;
  /** Default: a deterministic UUID-shaped id from the type, symbol, ex-date and new symbol (`actionId`). */
  id?: string;
}

/** The provider-style adjustments a fake applies to bars. */
export type FakeAdjustment = 'split' | 'dividend' | 'all';

const SPLITS: ReadonlySet<FakeActionType> = new Set(['forward_split', 'reverse_split']);

export function isSplit(action: FakeCorporateAction): boolean {
  return SPLITS.has(action.type);
}

/** Throws on an action the fakes cannot serve (so a test's typo fails loudly, not as a wrong factor). */
export function checkActions(actions: readonly FakeCorporateAction[]): void {
  for (const a of actions) {
    const bad = (why: string): never => {
      throw new Error(`bad corporate action (${why}): ${JSON.stringify(a)}`);
    };
    if (!a.symbol) bad('symbol');
    if (!isIsoDate(a.exDate)) bad('exDate');
    if (a.announced !== undefined && !isIsoDate(a.announced)) bad('announced');
    if (isSplit(a) && !((a.oldRate ?? 0) > 0 && (a.newRate ?? 0) > 0)) bad('oldRate and newRate must be > 0');
    if (a.type === 'cash_dividend' && !((a.cash ?? 0) > 0)) bad('cash must be > 0');
    if (a.type === 'name_change' && !a.newSymbol) bad('newSymbol');
    if (!['forward_split', 'reverse_split', 'cash_dividend', 'name_change'].includes(a.type)) bad('type');
  }
}

/** The New York date from which a provider lists the action. */
export function announcedOf(action: FakeCorporateAction): string {
  return action.announced ?? addDays(action.exDate, -30);
}

/** A stable id: the action's own, or a UUID-shaped digest of what identifies it. */
export function actionId(action: FakeCorporateAction): string {
  if (action.id !== undefined) return action.id;
  const h = createHash('md5').update(`${action.type}|${action.symbol}|${action.exDate}|${action.newSymbol ?? ''}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** Actions visible at `now` (a NY date): announced on or before it. */
export function visibleActions(actions: readonly FakeCorporateAction[], now: string): FakeCorporateAction[] {
  return actions.filter((a) => announcedOf(a) <= now);
}

/** Actions that adjust bars at `now`: visible, and with an ex-date on or before `now`. */
export function effectiveActions(actions: readonly FakeCorporateAction[], now: string): FakeCorporateAction[] {
  return actions.filter((a) => announcedOf(a) <= now && a.exDate <= now);
}

/** The last NYSE session strictly before `date` (rule calendar), or undefined if none within two weeks. */
export function sessionBefore(date: string): string | undefined {
  const sessions = nyseRuleCalendar.sessions(addDays(date, -14), addDays(date, -1));
  return sessions.at(-1)?.date;
}

/** Π oldRate / Π newRate of splits: one division, so simple ratios stay exact. */
function ratioOf(splits: readonly FakeCorporateAction[]): number {
  let num = 1;
  let den = 1;
  for (const s of splits) {
    num *= s.oldRate!;
    den *= s.newRate!;
  }
  return num / den;
}

/**
 * Split factor for a bar on NY date `barDate`: Π oldRate / Π newRate over the splits of `symbol`
 * effective at `now` (visible, ex-date ≤ now) with exDate > barDate. Exact ratios (4-for-1 → 0.25).
 */
export function splitFactor(actions: readonly FakeCorporateAction[], symbol: string, barDate: string, now: string): number {
  return ratioOf(effectiveActions(actions, now).filter((a) => a.symbol === symbol && isSplit(a) && a.exDate > barDate));
}

/**
 * Dividend factor for a bar on NY date `barDate`: Π (1 − cash / raw close of the session before the
 * ex-date) over the cash dividends of `symbol` effective at `now` with exDate > barDate, in ex-date order.
 */
export function dividendFactor(
  actions: readonly FakeCorporateAction[],
  symbol: string,
  barDate: string,
  now: string,
  rawCloseBefore: (exDate: string) => number | undefined,
): number {
  let factor = 1;
  for (const d of dividendsOf(actions, symbol, now)) {
    if (d.exDate <= barDate) continue;
    const close = rawCloseBefore(d.exDate);
    if (close !== undefined && close > 0) factor *= 1 - d.cash! / close;
  }
  return factor;
}

function dividendsOf(actions: readonly FakeCorporateAction[], symbol: string, now: string): FakeCorporateAction[] {
  return effectiveActions(actions, now)
    .filter((a) => a.symbol === symbol && a.type === 'cash_dividend')
    .sort((a, b) => (a.exDate < b.exDate ? -1 : a.exDate > b.exDate ? 1 : 0));
}

/**
 * A function adjusting one bar of `symbol` as `adjustBars` does, with the actions resolved once
 * (the fakes adjust bar by bar while paging). Returns the bar itself when nothing applies to it.
 */
export function barAdjuster(
  symbol: string,
  kind: FakeAdjustment,
  actions: readonly FakeCorporateAction[],
  now: string,
  rawCloseBefore: (exDate: string) => number | undefined,
): (bar: BarTuple) => BarTuple {
  const effective = effectiveActions(actions, now).filter((a) => a.symbol === symbol);
  const splits = kind === 'dividend' ? [] : effective.filter(isSplit);
  // Each dividend's own factor, computed once from the raw series.
  const dividends =
    kind === 'split'
      ? []
      : dividendsOf(effective, symbol, now).flatMap((d) => {
          const close = rawCloseBefore(d.exDate);
          return close !== undefined && close > 0 ? [{ exDate: d.exDate, factor: 1 - d.cash! / close }] : [];
        });
  if (splits.length === 0 && dividends.length === 0) return (bar) => bar;
  const last = [...splits, ...dividends].reduce((max, a) => (a.exDate > max ? a.exDate : max), '');
  return (bar) => {
    const date = nyDateOf(bar[0]);
    if (date >= last) return bar;
    const split = ratioOf(splits.filter((s) => s.exDate > date));
    let dividend = 1;
    for (const d of dividends) if (d.exDate > date) dividend *= d.factor;
    if (split === 1 && dividend === 1) return bar;
    const price = split * dividend;
    const [t, o, h, l, c, v, n, vw] = bar;
    return [t, o * price, h * price, l * price, c * price, split === 1 ? v : Math.round(v / split), n, vw * price];
  };
}

/**
 * Provider-style back-adjustment of a bar series as of `now`: 'split' (prices × split factor,
 * volume ÷ split factor rounded), 'dividend' (prices × Π(1 − cash / raw close of the session before
 * the ex-date)), 'all' (prices × split factor × dividend factor, volume ÷ split factor). Bars on or
 * after an ex-date are unchanged; only actions effective at `now` count. Returns a new array (bars
 * that nothing applies to are the same tuples).
 */
export function adjustBars(
  bars: BarTuple[],
  symbol: string,
  kind: FakeAdjustment,
  actions: readonly FakeCorporateAction[],
  now: string,
  rawCloseBefore: (exDate: string) => number | undefined,
): BarTuple[] {
  return bars.map(barAdjuster(symbol, kind, actions, now, rawCloseBefore));
}

/**
 * Massive's cumulative `historical_adjustment_factor` of an event: the factor a price on the day
 * before its ex-date is multiplied by, as of `now` — the event's own factor times that of every
 * effective event of the same kind and symbol after it. Splits: old/new ratios; dividends:
 * 1 − cash / raw close before the ex-date.
 */
export function historicalFactor(
  event: FakeCorporateAction,
  actions: readonly FakeCorporateAction[],
  now: string,
  rawCloseBefore: (exDate: string) => number | undefined,
): number {
  const later = effectiveActions(actions, now).filter((a) => a !== event && a.symbol === event.symbol && a.exDate >= event.exDate);
  if (isSplit(event)) return ratioOf([event, ...later.filter(isSplit)]);
  if (event.type !== 'cash_dividend') return 1;
  let factor = 1;
  for (const d of [event, ...later.filter((a) => a.type === 'cash_dividend').sort((a, b) => (a.exDate < b.exDate ? -1 : 1))]) {
    const close = rawCloseBefore(d.exDate);
    if (close !== undefined && close > 0) factor *= 1 - d.cash! / close;
  }
  return factor;
}
