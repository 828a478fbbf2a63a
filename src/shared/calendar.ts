/**
 * Trading sessions. The built-in calendar follows NYSE's published rules (weekends, holidays with
 * their observance rules, the 13:00 early closes, and the unscheduled closures since 2001); a
 * calendar fetched from the provider can replace it (`fromSessionList`).
 */
import {
  addDays,
  dateToDayNumber,
  dayNumberToDate,
  type IsoDate,
  isoFromParts,
  nthWeekday,
  nyWallToUtc,
  weekday,
} from './time.js';

export interface Session {
  date: IsoDate;
  /** Regular session open/close and extended (pre/post market) bounds, UTC ms. */
  open: number;
  close: number;
  extendedOpen: number;
  extendedClose: number;
  earlyClose: boolean;
}

export interface TradingCalendar {
  /** Sessions whose date lies in [from, to] inclusive, in date order. */
  sessions(from: IsoDate, to: IsoDate): Session[];
  readonly origin: 'nyse-rules' | 'provider';
}

/** Days NYSE closed outside its regular holiday rules. */
const UNSCHEDULED_CLOSURES = new Set<IsoDate>([
  '2001-09-11', '2001-09-12', '2001-09-13', '2001-09-14',
  '2004-06-11', // President Reagan's funeral
  '2007-01-02', // President Ford's funeral
  '2012-10-29', '2012-10-30', // Hurricane Sandy
  '2018-12-05', // President G. H. W. Bush's funeral
  '2025-01-09', // President Carter's funeral
]);

/** Easter Sunday (Anonymous Gregorian algorithm). */
export function easterSunday(year: number): IsoDate {
  const a = year % 19;
  const b = Math.floor(year / 100);
  const c = year % 100;
  const d = Math.floor(b / 4);
  const e = b % 4;
  const f = Math.floor((b + 8) / 25);
  const g = Math.floor((b - f + 1) / 3);
  const h = (19 * a + b - d - g + 15) % 30;
  const i = Math.floor(c / 4);
  const k = c % 4;
  const l = (32 + 2 * e + 2 * i - h - k) % 7;
  const m = Math.floor((a + 11 * h + 22 * l) / 451);
  const month = Math.floor((h + l - 7 * m + 114) / 31);
  const day = ((h + l - 7 * m + 114) % 31) + 1;
  return isoFromParts(year, month, day);
}

/** Saturday holidays move to Friday, Sunday holidays to Monday. */
function observed(date: IsoDate): IsoDate {
  const dow = weekday(date);
  if (dow === 6) return addDays(date, -1);
  if (dow === 0) return addDays(date, 1);
  return date;
}

const holidayCache = new Map<number, Set<IsoDate>>();

export function nyseHolidays(year: number): Set<IsoDate> {
  const cached = holidayCache.get(year);
  if (cached) return cached;
  const days = new Set<IsoDate>();
  // New Year's Day: a Saturday New Year is not observed on the Friday before (NYSE rule 7.2).
  const newYear = isoFromParts(year, 1, 1);
  if (weekday(newYear) !== 6) days.add(observed(newYear));
  if (year >= 1998) days.add(nthWeekday(year, 1, 1, 3)); // Martin Luther King Jr. Day
  days.add(nthWeekday(year, 2, 1, 3)); // Washington's Birthday
  days.add(addDays(easterSunday(year), -2)); // Good Friday
  days.add(nthWeekday(year, 5, 1, -1)); // Memorial Day
  if (year >= 2022) days.add(observed(isoFromParts(year, 6, 19))); // Juneteenth
  days.add(observed(isoFromParts(year, 7, 4))); // Independence Day
  days.add(nthWeekday(year, 9, 1, 1)); // Labor Day
  days.add(nthWeekday(year, 11, 4, 4)); // Thanksgiving
  days.add(observed(isoFromParts(year, 12, 25))); // Christmas
  for (const d of UNSCHEDULED_CLOSURES) if (d.startsWith(`${year}-`)) days.add(d);
  holidayCache.set(year, days);
  return days;
}

/** 13:00 closes: July 3 (when July 4 is Tue–Fri), the day after Thanksgiving, Dec 24 (Mon–Thu). */
export function isNyseEarlyClose(date: IsoDate): boolean {
  const year = +date.slice(0, 4);
  const month = +date.slice(5, 7);
  const day = +date.slice(8, 10);
  if (month === 7 && day === 3) {
    const dow = weekday(isoFromParts(year, 7, 4));
    return dow >= 2 && dow <= 5;
  }
  if (month === 11) return date === addDays(nthWeekday(year, 11, 4, 4), 1);
  if (month === 12 && day === 24) {
    const dow = weekday(date);
    return dow >= 1 && dow <= 4;
  }
  return false;
}

export function isNyseTradingDay(date: IsoDate): boolean {
  const dow = weekday(date);
  if (dow === 0 || dow === 6) return false;
  return !nyseHolidays(+date.slice(0, 4)).has(date);
}

const OPEN_MIN = 9 * 60 + 30;
const CLOSE_MIN = 16 * 60;
const EARLY_CLOSE_MIN = 13 * 60;
const EXT_OPEN_MIN = 4 * 60;
const EXT_CLOSE_MIN = 20 * 60;
const EARLY_EXT_CLOSE_MIN = 17 * 60;

export function makeSession(date: IsoDate, openMin: number, closeMin: number, extOpenMin: number, extCloseMin: number): Session {
  return {
    date,
    open: nyWallToUtc(date, openMin),
    close: nyWallToUtc(date, closeMin),
    extendedOpen: nyWallToUtc(date, extOpenMin),
    extendedClose: nyWallToUtc(date, extCloseMin),
    earlyClose: closeMin < CLOSE_MIN,
  };
}

/** A year's sessions by the rules, computed once: runs and the synthetic market ask for the same years thousands of times. */
const ruleSessionCache = new Map<number, readonly Session[]>();

function ruleSessionsOf(year: number): readonly Session[] {
  let sessions = ruleSessionCache.get(year);
  if (!sessions) {
    const list: Session[] = [];
    for (let day = dateToDayNumber(isoFromParts(year, 1, 1)), last = dateToDayNumber(isoFromParts(year, 12, 31)); day <= last; day++) {
      const date = dayNumberToDate(day);
      if (!isNyseTradingDay(date)) continue;
      const early = isNyseEarlyClose(date);
      list.push(Object.freeze(makeSession(date, OPEN_MIN, early ? EARLY_CLOSE_MIN : CLOSE_MIN, EXT_OPEN_MIN, early ? EARLY_EXT_CLOSE_MIN : EXT_CLOSE_MIN)));
    }
    sessions = list;
    ruleSessionCache.set(year, sessions);
  }
  return sessions;
}

export const nyseRuleCalendar: TradingCalendar = {
  origin: 'nyse-rules',
  sessions(from: IsoDate, to: IsoDate): Session[] {
    const out: Session[] = [];
    for (let year = +from.slice(0, 4); year <= +to.slice(0, 4); year++) {
      for (const s of ruleSessionsOf(year)) if (s.date >= from && s.date <= to) out.push(s);
    }
    return out;
  },
};

/** A calendar from an explicit session list (the provider's /v2/calendar). Dates outside it fall back to the rules. */
export function fromSessionList(list: readonly Session[]): TradingCalendar {
  const sorted = [...list].sort((a, b) => (a.date < b.date ? -1 : a.date > b.date ? 1 : 0));
  const first = sorted[0]?.date;
  const last = sorted[sorted.length - 1]?.date;
  return {
    origin: 'provider',
    sessions(from: IsoDate, to: IsoDate): Session[] {
      if (first === undefined || last === undefined) return nyseRuleCalendar.sessions(from, to);
      const out: Session[] = [];
      if (from < first) out.push(...nyseRuleCalendar.sessions(from, to < first ? to : addDays(first, -1)));
      for (const s of sorted) if (s.date >= from && s.date <= to) out.push(s);
      if (to > last) out.push(...nyseRuleCalendar.sessions(from > last ? from : addDays(last, 1), to));
      return out;
    },
  };
}

/** Parse "HH:MM" or "HHMM" into minutes after midnight. */
export function parseClock(value: string): number {
  const digits = value.replace(':', '');
  if (!/^\d{4}$/.test(digits)) throw new Error(`bad clock value ${JSON.stringify(value)}`);
  return +digits.slice(0, 2) * 60 + +digits.slice(2);
}

/** The session of a date by the rules (hours, early closes); a date the rules call a holiday gets regular hours. */
export function ruleSession(date: IsoDate): Session {
  return nyseRuleCalendar.sessions(date, date)[0] ?? makeSession(date, OPEN_MIN, CLOSE_MIN, EXT_OPEN_MIN, EXT_CLOSE_MIN);
}

/**
 * The sessions a provider holds data for (the day files it lists): inside [from, to] exactly the
 * listed dates, outside it the rules.
 */
export function fromListedDates(dates: Iterable<IsoDate>, from: IsoDate, to: IsoDate): TradingCalendar {
  const listed = [...dates].filter((d) => d >= from && d <= to).sort().map(ruleSession);
  return {
    origin: 'provider',
    sessions(a: IsoDate, b: IsoDate): Session[] {
      const out: Session[] = [];
      if (a < from) out.push(...nyseRuleCalendar.sessions(a, b < from ? b : addDays(from, -1)));
      for (const s of listed) if (s.date >= a && s.date <= b) out.push(s);
      if (b > to) out.push(...nyseRuleCalendar.sessions(a > to ? a : addDays(to, 1), b));
      return out;
    },
  };
}
