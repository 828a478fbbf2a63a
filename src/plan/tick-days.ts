/**
 * What to fetch for ticks: whole New York trading days. A tick has no identity a merge could use,
 * so a day is always fetched whole and replaced whole; the ledger covers finished days only, and a
 * day not over yet (or cut by the run's end) is fetched again by the next run.
 */
import { type Interval } from '../shared/intervals.js';
import { addDays, type IsoDate, nyMidnightUtc } from '../shared/time.js';
import { type CoverageRequest, type Plan, sessionsIn, wantedIntervals, type WorkUnit } from './planner.js';

export interface TickPlanRequest extends CoverageRequest {
  symbols: readonly string[];
  /** Symbols one request may name (they share its pages). */
  maxSymbolsPerRequest: number;
  /** Workers: a day's symbols are spread over at least this many units when there are enough. */
  threads: number;
}

/**
 * Symbols per unit at most: a liquid symbol-day is hundreds of pages on its own, so batching saves
 * only the last partial page of each; small batches keep a run's units spread over the workers.
 */
export const TICK_SYMBOLS_PER_UNIT = 8;

/** The New York days a symbol still needs, whole days, in date order. */
export function wantedDays(req: TickPlanRequest, symbol: string): IsoDate[] {
  const days = new Set<IsoDate>();
  for (const interval of wantedIntervals(req, symbol)) for (const date of sessionsIn(interval, req.calendar)) days.add(date);
  return [...days].sort();
}

/** A day's [start, end): its New York midnights, the end cut at the run's end. */
export function dayWindow(date: IsoDate, endInstant: number): Interval {
  return { start: nyMidnightUtc(date), end: Math.min(nyMidnightUtc(addDays(date, 1)), endInstant) };
}

/** Each day some symbols want, with those symbols in request order; and the symbols wanting none. */
function symbolsByDay(req: TickPlanRequest, refresh?: ReadonlyMap<string, readonly IsoDate[]>): { byDay: Map<IsoDate, string[]>; upToDate: string[] } {
  // A set per day keeps insertion (request) order and ignores a symbol wanting a day twice.
  const byDay = new Map<IsoDate, Set<string>>();
  const upToDate: string[] = [];
  const want = (date: IsoDate, symbol: string): void => {
    const symbols = byDay.get(date);
    if (symbols) symbols.add(symbol);
    else byDay.set(date, new Set([symbol]));
  };
  for (const symbol of req.symbols) {
    const days = wantedDays(req, symbol);
    if (days.length === 0 && !refresh?.has(symbol)) upToDate.push(symbol);
    for (const date of days) want(date, symbol);
  }
  for (const [symbol, dates] of refresh ?? []) for (const date of dates) want(date, symbol);
  return { byDay: new Map([...byDay].map(([date, symbols]) => [date, [...symbols]])), upToDate };
}

/** A unit of some symbols over one day; only a whole day counts as covered. */
function dayUnit(id: number, date: IsoDate, symbols: string[], endInstant: number, version: string | undefined): WorkUnit {
  const window = dayWindow(date, endInstant);
  const covers = window.end === nyMidnightUtc(addDays(date, 1)) ? [window] : [];
  return { id, symbols, start: window.start, end: window.end, covers, ...(version === undefined ? {} : { versions: { [date]: version } }), estimatedBars: 0, estimatedRequests: 1 };
}

/**
 * One unit per day and batch of symbols wanting it: every unit is one request stream over whole
 * days, and the days of a long backfill spread over the workers.
 */
export function planTickDays(req: TickPlanRequest): Plan {
  const { byDay, upToDate } = symbolsByDay(req);
  const units: WorkUnit[] = [];
  for (const date of [...byDay.keys()].sort()) {
    const symbols = byDay.get(date)!;
    // Each unit's pages come one after another: a day of few symbols gets one unit per symbol.
    const perUnit = Math.max(1, Math.min(req.maxSymbolsPerRequest, TICK_SYMBOLS_PER_UNIT, Math.floor(symbols.length / req.threads)));
    for (let i = 0; i < symbols.length; i += perUnit) units.push(dayUnit(units.length + 1, date, symbols.slice(i, i + perUnit), req.endInstant, undefined));
  }
  return { units, upToDate };
}

export interface MarketWideTickOptions {
  /** Each day's version (a day file's ETag), copied into its unit for the ledger. */
  versions?: ReadonlyMap<IsoDate, string>;
  /** Days to fetch again, per symbol, beyond what the run wants: held in another version than the listed one. */
  refresh?: ReadonlyMap<string, readonly IsoDate[]>;
}

/**
 * Days served market-wide (one file holds every symbol's day): one unit per day, for every symbol
 * wanting it, so a day's file is read once however many symbols want it. A file holds a whole day,
 * so a day the run's end cuts is left for a later run.
 */
export function planMarketWideTickDays(req: TickPlanRequest, options: MarketWideTickOptions): Plan {
  const { byDay } = symbolsByDay(req, options.refresh);
  const whole = [...byDay.keys()].filter((date) => nyMidnightUtc(addDays(date, 1)) <= req.endInstant).sort();
  const units = whole.map((date, i) => dayUnit(i + 1, date, byDay.get(date)!, req.endInstant, options.versions?.get(date)));
  const scheduled = new Set(units.flatMap((u) => u.symbols));
  return { units, upToDate: req.symbols.filter((s) => !scheduled.has(s)) };
}
