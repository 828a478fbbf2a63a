/**
 * What to fetch: a pure function of the requested range, what the lake already covers, the trading
 * calendar and the timeframe. It returns units of work (a batch of symbols × one time window) sized
 * so that pages fill up (few requests) while there are still enough units to keep the pool busy.
 */
import type { TradingCalendar } from '../shared/calendar.js';
import { type Interval, normalize, subtract } from '../shared/intervals.js';
import { addDays, type IsoDate, isoFromParts, nyDateOf, nyMidnightUtc, weekday } from '../shared/time.js';
import { maxBarsPerSession, type Timeframe } from '../shared/timeframe.js';

export interface PlanRequest {
  symbols: readonly string[];
  timeframe: Timeframe;
  calendar: TradingCalendar;
  /** First New York date wanted (the flag, or the settings' start for symbols new to the lake). */
  startDate: IsoDate;
  /**
   * Whether the start was asked for (gap-filling mode: everything from it not yet covered) or is
   * the default for new symbols (incremental mode: a stored symbol continues from its own history).
   */
  explicitStart: boolean;
  /** Exclusive end instant: New York midnight after the last wanted date, capped at "now − delay". */
  endInstant: number;
  /** Covered intervals per symbol, from the ledger (already reconciled with the files on disk). */
  covered: ReadonlyMap<string, readonly Interval[]>;
  /** Sessions re-fetched before the covered end in incremental mode (late corrections). */
  lookbackSessions: number;
  /** Ignore coverage and fetch the whole range. */
  refetch: boolean;
  /** Worker count: the planner keeps units small enough that there are at least this many. */
  threads: number;
  /** Rows per page, shared by the symbols of a request. */
  pageRows: number;
  maxSymbolsPerRequest: number;
}

export interface WorkUnit {
  id: number;
  symbols: string[];
  /** Inclusive start instant sent to the provider. */
  start: number;
  /** Exclusive end instant; the provider is sent end − 1 ms (its end is inclusive). */
  end: number;
  estimatedBars: number;
}

export interface Plan {
  units: WorkUnit[];
  /** Symbols with nothing to fetch (already covered, or no session in range). */
  upToDate: string[];
}

/** Bounds on a unit's estimated bars: large enough to fill pages, small enough to bound memory. */
export const MAX_UNIT_BARS = 250_000;
/** A unit's last page is usually partial: 20 pages per unit bounds that waste at 5 %. */
export const MIN_UNIT_PAGES = 20;

/** Where incremental mode resumes: New York midnight of the first of the last `lookback` sessions before `coveredEnd`. */
export function resumeInstant(coveredEnd: number, lookback: number, calendar: TradingCalendar): number {
  if (lookback <= 0) return coveredEnd;
  const lastDate = nyDateOf(coveredEnd - 1);
  // Look far enough back to find `lookback` sessions even across long holiday stretches.
  const sessions = calendar.sessions(addDays(lastDate, -(10 + lookback * 3)), lastDate).filter((s) => s.extendedOpen < coveredEnd);
  const first = sessions[Math.max(0, sessions.length - lookback)];
  return first ? Math.min(coveredEnd, nyMidnightUtc(first.date)) : coveredEnd;
}

/** Does any session (extended hours included) overlap the interval? */
export function hasSessionTime(interval: Interval, calendar: TradingCalendar): boolean {
  if (interval.end <= interval.start) return false;
  return calendar.sessions(nyDateOf(interval.start), nyDateOf(interval.end - 1)).some((s) => s.extendedOpen < interval.end && s.extendedClose > interval.start);
}

/**
 * The intervals a symbol still needs. With an explicit start: everything from it not yet covered.
 * Otherwise a symbol new to the lake starts at the default start, and a stored one continues from
 * its own history: the holes inside what it covers, and from its covered end (minus the correction
 * window) on — never reaching back to the default start for history nobody asked for.
 */
export function wantedIntervals(req: PlanRequest, symbol: string): Interval[] {
  const covered = normalize(req.covered.get(symbol) ?? []);
  const from = req.explicitStart || covered.length === 0 ? nyMidnightUtc(req.startDate) : covered[0].start;
  const full: Interval = { start: from, end: req.endInstant };
  if (full.end <= full.start) return [];
  if (req.refetch) return [full];
  const holes = subtract([full], covered);
  if (req.explicitStart || covered.length === 0) return holes;
  const coveredEnd = covered[covered.length - 1].end;
  // Nothing can have traded since the covered end: the lake is current, and no correction is fetched.
  if (!hasSessionTime({ start: coveredEnd, end: full.end }, req.calendar)) return holes;
  const resume = resumeInstant(coveredEnd, req.lookbackSessions, req.calendar);
  return normalize([...holes, { start: Math.max(full.start, resume), end: full.end }]);
}

/** Start of the bar period containing a date: weekly and monthly bars must be fetched whole. */
function periodStartDate(date: IsoDate, tf: Timeframe): IsoDate {
  if (tf.unit === 'Week') return addDays(date, -((weekday(date) + 6) % 7));
  if (tf.unit === 'Month') return isoFromParts(+date.slice(0, 4), +date.slice(5, 7), 1);
  return date;
}

interface Window {
  start: number;
  end: number;
  sessions: number;
}

/**
 * Snap an interval outward to New York date boundaries, drop the days without a session, and
 * split it at month starts into windows of at most `maxBars` estimated bars for one symbol.
 */
export function sessionWindows(interval: Interval, req: PlanRequest, maxBars: number): Window[] {
  const lastDate = nyDateOf(interval.end - 1);
  // Only sessions whose trading hours overlap the interval count; weekly and monthly bars are
  // fetched from the start of their period so a partial period never replaces a whole one.
  const overlapping = req.calendar.sessions(nyDateOf(interval.start), lastDate).filter((s) => s.extendedOpen < interval.end && s.extendedClose > interval.start);
  if (overlapping.length === 0) return [];
  const firstDate = periodStartDate(overlapping[0].date, req.timeframe);
  const sessions = req.calendar.sessions(firstDate, overlapping[overlapping.length - 1].date);
  const perSession = maxBarsPerSession(req.timeframe);
  // Sessions per month, so each month boundary is a cheap lookup.
  const monthSessions = new Map<string, number>();
  for (const s of sessions) monthSessions.set(s.date.slice(0, 7), (monthSessions.get(s.date.slice(0, 7)) ?? 0) + 1);
  const windows: Window[] = [];
  let current: { first: IsoDate; last: IsoDate; sessions: number } | undefined;
  const flush = (): void => {
    if (!current) return;
    const start = nyMidnightUtc(current.first);
    const end = Math.min(nyMidnightUtc(addDays(current.last, 1)), req.endInstant);
    if (end > start) windows.push({ start, end, sessions: current.sessions });
    current = undefined;
  };
  for (const s of sessions) {
    const month = s.date.slice(0, 7);
    // Windows break at month starts only, and only when the next month would overflow the unit.
    if (current && current.last.slice(0, 7) !== month && (current.sessions + (monthSessions.get(month) ?? 0)) * perSession > maxBars) flush();
    if (!current) current = { first: s.date, last: s.date, sessions: 0 };
    current.last = s.date;
    current.sessions += 1;
  }
  flush();
  // Tile the whole interval, non-session days included, so the ledger's coverage has no holes.
  if (windows.length > 0) {
    windows[0].start = Math.min(windows[0].start, nyMidnightUtc(firstDate));
    for (let i = 1; i < windows.length; i++) windows[i - 1].end = windows[i].start;
    const last = windows[windows.length - 1];
    last.end = Math.min(Math.max(last.end, nyMidnightUtc(addDays(lastDate, 1))), req.endInstant);
  }
  return windows;
}

export function estimateBars(sessions: number, tf: Timeframe): number {
  return Math.max(1, Math.ceil(sessions * maxBarsPerSession(tf)));
}

/**
 * Target bars per unit: spread the work over the pool, but keep units at least MIN_UNIT_PAGES pages
 * long, because every unit may end on a partial page and requests are what the provider limits.
 */
export function unitTarget(totalEstimate: number, threads: number, pageRows: number): number {
  const spread = Math.ceil(totalEstimate / Math.max(1, threads));
  return Math.min(MAX_UNIT_BARS, Math.max(MIN_UNIT_PAGES * pageRows, spread));
}

/** Requests a unit needs at most: its estimated bars in pages, and at least one. */
export function estimateRequests(unit: WorkUnit, pageRows: number): number {
  return Math.max(1, Math.ceil(unit.estimatedBars / pageRows));
}

export function plan(req: PlanRequest): Plan {
  let totalSessions = 0;
  const perSymbolIntervals: [string, Interval[]][] = [];
  // Most symbols share the same intervals: count sessions and cut windows once per distinct interval.
  const sessionCounts = new Map<string, number>();
  for (const symbol of req.symbols) {
    const intervals = wantedIntervals(req, symbol);
    perSymbolIntervals.push([symbol, intervals]);
    for (const i of intervals) {
      const key = `${i.start}:${i.end}`;
      let n = sessionCounts.get(key);
      if (n === undefined) {
        n = req.calendar.sessions(nyDateOf(i.start), nyDateOf(i.end - 1)).length;
        sessionCounts.set(key, n);
      }
      totalSessions += n;
    }
  }
  const target = unitTarget(estimateBars(totalSessions, req.timeframe), req.threads, req.pageRows);
  const windowCache = new Map<string, Window[]>();
  const windowsOf = (interval: Interval): Window[] => {
    const key = `${interval.start}:${interval.end}`;
    let w = windowCache.get(key);
    if (!w) {
      w = sessionWindows(interval, req, target);
      windowCache.set(key, w);
    }
    return w;
  };

  // Group identical windows across symbols, then pack symbols into batches up to the target.
  const groups = new Map<string, { window: Window; symbols: string[] }>();
  const upToDate: string[] = [];
  for (const [symbol, intervals] of perSymbolIntervals) {
    let any = false;
    for (const interval of intervals) {
      for (const window of windowsOf(interval)) {
        any = true;
        const key = `${window.start}:${window.end}`;
        const group = groups.get(key) ?? { window, symbols: [] };
        group.symbols.push(symbol);
        groups.set(key, group);
      }
    }
    if (!any) upToDate.push(symbol);
  }

  const units: WorkUnit[] = [];
  const ordered = [...groups.values()].sort((a, b) => a.window.start - b.window.start || a.window.end - b.window.end);
  for (const { window, symbols } of ordered) {
    const perSymbol = estimateBars(window.sessions, req.timeframe);
    const perUnit = Math.max(1, Math.min(req.maxSymbolsPerRequest, Math.floor(target / perSymbol)));
    // Spread symbols evenly over the batches this group needs, so no batch is a near-empty tail.
    const batches = Math.ceil(symbols.length / perUnit);
    const size = Math.ceil(symbols.length / batches);
    for (let i = 0; i < symbols.length; i += size) {
      const batch = symbols.slice(i, i + size);
      units.push({ id: units.length + 1, symbols: batch, start: window.start, end: window.end, estimatedBars: perSymbol * batch.length });
    }
  }
  return { units, upToDate };
}
