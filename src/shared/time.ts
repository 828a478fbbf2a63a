/**
 * Time in the market's terms. Bars carry UTC instants; users think in New York trading dates.
 * US daylight-saving rules are applied directly (pure and fast) instead of going through Intl.
 */

export const MINUTE_MS = 60_000;
export const DAY_MS = 86_400_000;

/** A calendar date 'YYYY-MM-DD' (no time zone attached). */
export type IsoDate = string;

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

export function isIsoDate(value: string): boolean {
  const m = ISO_DATE.exec(value);
  if (!m) return false;
  const d = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3]));
  return d.getUTCFullYear() === +m[1] && d.getUTCMonth() === +m[2] - 1 && d.getUTCDate() === +m[3];
}

/** Days since 1970-01-01 for a date string; dates are handled as UTC midnights internally. */
export function dateToDayNumber(date: IsoDate): number {
  return Math.floor(Date.parse(`${date}T00:00:00Z`) / DAY_MS);
}

export function dayNumberToDate(day: number): IsoDate {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}

export function addDays(date: IsoDate, days: number): IsoDate {
  return dayNumberToDate(dateToDayNumber(date) + days);
}

/** 0 = Sunday … 6 = Saturday. */
export function weekday(date: IsoDate): number {
  return (dateToDayNumber(date) + 4) % 7;
}

/** The n-th (1-based) given weekday of a month; n = -1 means the last one. */
export function nthWeekday(year: number, month: number, dow: number, n: number): IsoDate {
  if (n > 0) {
    const first = new Date(Date.UTC(year, month - 1, 1)).getUTCDay();
    const day = 1 + ((dow - first + 7) % 7) + (n - 1) * 7;
    return isoFromParts(year, month, day);
  }
  const lastDay = new Date(Date.UTC(year, month, 0)).getUTCDate();
  const lastDow = new Date(Date.UTC(year, month - 1, lastDay)).getUTCDay();
  return isoFromParts(year, month, lastDay - ((lastDow - dow + 7) % 7));
}

export function isoFromParts(year: number, month: number, day: number): IsoDate {
  return `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
}

/** [first, end) local dates of daylight time per year; a run converts thousands of sessions. */
const dstBounds = new Map<number, readonly [IsoDate, IsoDate]>();

function dstBoundsOf(year: number): readonly [IsoDate, IsoDate] {
  let bounds = dstBounds.get(year);
  if (!bounds) {
    bounds = year >= 2007 ? [nthWeekday(year, 3, 0, 2), nthWeekday(year, 11, 0, 1)] : [nthWeekday(year, 4, 0, 1), nthWeekday(year, 10, 0, -1)];
    dstBounds.set(year, bounds);
  }
  return bounds;
}

/** Is New York on daylight time at this local date (a whole-day approximation, exact except 00:00–02:00 on switch days)? */
function isDstDate(date: IsoDate): boolean {
  const [start, end] = dstBoundsOf(+date.slice(0, 4));
  return date >= start && date < end;
}

/** Offset of New York from UTC, in minutes (−240 or −300), for a wall-clock time on a local date. */
export function nyOffsetMinutes(date: IsoDate, minuteOfDay: number): number {
  // Switches happen at 02:00 local; before that the previous day's rule still holds.
  const effective = minuteOfDay < 120 ? addDays(date, -1) : date;
  return isDstDate(effective) ? -240 : -300;
}

/** UTC instant (ms) of a New York wall-clock time on a date. */
export function nyWallToUtc(date: IsoDate, minuteOfDay: number): number {
  return dateToDayNumber(date) * DAY_MS + (minuteOfDay - nyOffsetMinutes(date, minuteOfDay)) * MINUTE_MS;
}

/** New York midnight of a date, as a UTC instant (ms). Daily bars are stamped here. */
export function nyMidnightUtc(date: IsoDate): number {
  return nyWallToUtc(date, 0);
}

/** The New York calendar date that a UTC instant falls on. */
export function nyDateOf(utcMs: number): IsoDate {
  const utcDate = dayNumberToDate(Math.floor(utcMs / DAY_MS));
  // Candidate is the UTC date or the day before; pick the one whose NY midnight is <= the instant.
  return nyMidnightUtc(utcDate) <= utcMs ? utcDate : addDays(utcDate, -1);
}
