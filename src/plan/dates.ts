/** The date range a run asks for, from the user's New York trading dates. Pure. */
import { UsageError } from '../shared/errors.js';
import { addDays, isIsoDate, type IsoDate, nyDateOf, nyMidnightUtc } from '../shared/time.js';

export interface DateRange {
  startDate: IsoDate;
  /** Exclusive end instant, UTC ms. */
  endInstant: number;
  /** Adjustments worth telling the user about (a future end clamped). */
  notes: string[];
}

/**
 * Dates are New York trading dates, inclusive at both ends. The end is capped at now minus the
 * source's delay for recent data; without an end, that cap is the end.
 */
export function resolveDates(start: string, end: string | undefined, nowMs: number, recentDataDelayMs: number): DateRange {
  const notes: string[] = [];
  if (!isIsoDate(start)) throw new UsageError(`start ${JSON.stringify(start)} is not a date; use YYYY-MM-DD`);
  if (end !== undefined && !isIsoDate(end)) throw new UsageError(`end ${JSON.stringify(end)} is not a date; use YYYY-MM-DD`);
  if (end !== undefined && start > end) throw new UsageError(`start ${start} is after end ${end}; swap them or fix one`);
  const cap = nowMs - recentDataDelayMs;
  const delay = `now − ${Math.round(recentDataDelayMs / 60_000)} min`;
  let endInstant = cap;
  if (end !== undefined) {
    const requested = nyMidnightUtc(addDays(end, 1));
    if (requested > cap) notes.push(`end ${end} is in the future or too recent for the source; using ${delay} (${new Date(cap).toISOString()})`);
    endInstant = Math.min(requested, cap);
  }
  if (nyMidnightUtc(start) >= endInstant) throw new UsageError(`start ${start} is after the latest available data (${nyDateOf(cap)}); choose an earlier start`);
  return { startDate: start, endInstant, notes };
}
