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

/**
 * One unit per day and batch of symbols wanting it: every unit is one request stream over whole
 * days, and the days of a long backfill spread over the workers.
 */
export function planTickDays(req: TickPlanRequest): Plan {
  const byDay = new Map<IsoDate, string[]>();
  const upToDate: string[] = [];
  for (const symbol of req.symbols) {
    const days = wantedDays(req, symbol);
    if (days.length === 0) upToDate.push(symbol);
    for (const date of days) byDay.set(date, [...(byDay.get(date) ?? []), symbol]);
  }
  const units: WorkUnit[] = [];
  for (const date of [...byDay.keys()].sort()) {
    const symbols = byDay.get(date)!;
    // Each unit's pages come one after another: a day of few symbols gets one unit per symbol.
    const perUnit = Math.max(1, Math.min(req.maxSymbolsPerRequest, TICK_SYMBOLS_PER_UNIT, Math.floor(symbols.length / req.threads)));
    const window = dayWindow(date, req.endInstant);
    // Only a whole day counts as covered.
    const covers = window.end === nyMidnightUtc(addDays(date, 1)) ? [window] : [];
    for (let i = 0; i < symbols.length; i += perUnit) {
      units.push({ id: units.length + 1, symbols: symbols.slice(i, i + perUnit), start: window.start, end: window.end, covers, estimatedBars: 0, estimatedRequests: 1 });
    }
  }
  return { units, upToDate };
}
