/**
 * What to fetch: a pure function of the requested range, what the lake already covers, the trading
 * calendar and the timeframe. It returns units of work (a batch of symbols × one time window) sized
 * so that pages fill up (few requests) while there are still enough units to keep the pool busy.
 */
import type { TradingCalendar } from '../shared/calendar.js';
import { type Interval, normalize, subtract } from '../shared/intervals.js';
import { partitionId, partitionPeriodAt, type PartitionScheme } from '../shared/lake-paths.js';
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
  /** Symbols whose whole history (from their covered start, or the start) is fetched again. */
  refetchSymbols?: ReadonlySet<string>;
  /** Worker count: the planner keeps units small enough that there are at least this many. */
  threads: number;
  /** Rows per page, shared by the symbols of a request. */
  pageRows: number;
  /** Rows of the page limit one symbol's session uses at most; undefined: the timeframe's bars. */
  countedPerSession?: number;
  /** Cut windows so that each request fits one page. */
  windowFitsOnePage?: boolean;
  maxSymbolsPerRequest: number;
}

export interface WorkUnit {
  id: number;
  symbols: string[];
  /** Inclusive start instant sent to the provider. */
  start: number;
  /** Exclusive end instant; the provider is sent end − 1 ms (its end is inclusive). */
  end: number;
  /** Market-wide units: the sessions fetched for every symbol (one request or file each). */
  sessions?: IsoDate[];
  /** What the unit covers for each of its symbols once it finishes: its window, or its sessions' days. */
  covers: Interval[];
  /** The versions of its sessions (files' ETags), recorded in the ledger once it finishes. */
  versions?: Record<IsoDate, string>;
  estimatedBars: number;
  estimatedRequests: number;
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
export type CoverageRequest = Pick<PlanRequest, 'covered' | 'refetchSymbols' | 'explicitStart' | 'startDate' | 'endInstant' | 'refetch' | 'calendar' | 'lookbackSessions'>;

export function wantedIntervals(req: CoverageRequest, symbol: string): Interval[] {
  const covered = normalize(req.covered.get(symbol) ?? []);
  // A symbol fetched again whole starts at its own history's start, whatever the start asked for.
  const readjusted = req.refetchSymbols?.has(symbol) === true && covered.length > 0;
  const asked = req.explicitStart || covered.length === 0 ? nyMidnightUtc(req.startDate) : covered[0].start;
  const from = readjusted ? Math.min(covered[0].start, asked) : asked;
  const full: Interval = { start: from, end: req.endInstant };
  if (full.end <= full.start) return [];
  if (req.refetch || req.refetchSymbols?.has(symbol)) return [full];
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
  const perSession = countedPerSession(req);
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

function countedPerSession(req: PlanRequest): number {
  return req.countedPerSession ?? maxBarsPerSession(req.timeframe);
}

export function estimateBars(sessions: number, tf: Timeframe): number {
  return Math.max(1, Math.ceil(sessions * maxBarsPerSession(tf)));
}

/**
 * Target counted rows per unit: spread the work over the pool, but keep units at least
 * MIN_UNIT_PAGES pages long, because every unit may end on a partial page and requests are what the
 * provider limits. A provider whose window must fit a page gets windows of one page.
 */
export function unitTarget(totalEstimate: number, threads: number, pageRows: number, windowFitsOnePage = false): number {
  const spread = Math.ceil(totalEstimate / Math.max(1, threads));
  const target = Math.min(MAX_UNIT_BARS, Math.max(MIN_UNIT_PAGES * pageRows, spread));
  return windowFitsOnePage ? Math.min(target, pageRows) : target;
}

/** Requests a unit of `countedRows` needs at most: its rows in pages, and at least one. */
export function estimateRequests(countedRows: number, pageRows: number): number {
  return Math.max(1, Math.ceil(countedRows / pageRows));
}

/** Total requests of a plan, as estimated unit by unit. */
export function planRequests(work: Plan): number {
  return work.units.reduce((n, u) => n + u.estimatedRequests, 0);
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
  const target = unitTarget(Math.ceil(totalSessions * countedPerSession(req)), req.threads, req.pageRows, req.windowFitsOnePage);
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
    const countedPerSymbol = Math.max(1, Math.ceil(window.sessions * countedPerSession(req)));
    const perUnit = Math.max(1, Math.min(req.maxSymbolsPerRequest, Math.floor(target / countedPerSymbol)));
    // Spread symbols evenly over the batches this group needs, so no batch is a near-empty tail.
    const batches = Math.ceil(symbols.length / perUnit);
    const size = Math.ceil(symbols.length / batches);
    for (let i = 0; i < symbols.length; i += size) {
      const batch = symbols.slice(i, i + size);
      units.push({
        id: units.length + 1,
        symbols: batch,
        start: window.start,
        end: window.end,
        covers: [{ start: window.start, end: window.end }],
        estimatedBars: perSymbol * batch.length,
        estimatedRequests: estimateRequests(countedPerSymbol * batch.length, req.pageRows),
      });
    }
  }
  return { units, upToDate };
}

/** Sessions whose hours overlap an interval, by New York date. */
/** The sessions whose hours overlap an interval. */
export function sessionsIn(interval: Interval, calendar: TradingCalendar): IsoDate[] {
  return calendar
    .sessions(nyDateOf(interval.start), nyDateOf(interval.end - 1))
    .filter((s) => s.extendedOpen < interval.end && s.extendedClose > interval.start)
    .map((s) => s.date);
}

export interface SessionPlanOptions {
  /** The dataset's layout: a unit's sessions lie in one partition period, so a run writes each partition once. */
  scheme: PartitionScheme;
  /** Each session's version (versioned sources), copied into the units for the ledger. */
  versions?: ReadonlyMap<IsoDate, string>;
  /** Sessions to fetch again, per symbol, beyond what the run wants (see staleSessions). */
  refresh?: ReadonlyMap<string, readonly IsoDate[]>;
  /** Sessions a unit holds at most; undefined: a whole partition period. */
  maxSessionsPerUnit?: number;
}

/**
 * What a unit of sessions covers: each run of sessions that follow each other in the calendar
 * covers from its first day's midnight to the next session's, so the days between sessions are
 * covered too and never asked for again.
 */
export function sessionCovers(dates: readonly IsoDate[], calendar: TradingCalendar, endInstant: number): Interval[] {
  const covers: Interval[] = [];
  for (let i = 0; i < dates.length; ) {
    let j = i;
    let next = nextSession(dates[j], calendar);
    while (j + 1 < dates.length && dates[j + 1] === next) next = nextSession(dates[++j], calendar);
    covers.push({ start: nyMidnightUtc(dates[i]), end: Math.min(nyMidnightUtc(next ?? addDays(dates[j], 1)), endInstant) });
    i = j + 1;
  }
  return covers;
}

function nextSession(date: IsoDate, calendar: TradingCalendar): IsoDate | undefined {
  return calendar.sessions(addDays(date, 1), addDays(date, 14))[0]?.date;
}

/**
 * Units of whole sessions fetched market-wide (a grouped-daily request or a day file serves every
 * symbol): one unit per partition period holding every session any symbol wants in it, for the
 * symbols that want any of them. One request per session, whatever the number of symbols.
 */
export function planSessions(req: PlanRequest, options: SessionPlanOptions): Plan {
  // Most symbols want the same intervals: group symbols by interval, find each group's sessions once.
  const groups = new Map<string, { dates: readonly IsoDate[]; symbols: string[] }>();
  const join = (key: string, dates: () => readonly IsoDate[], symbol: string): number => {
    let group = groups.get(key);
    if (!group) groups.set(key, (group = { dates: dates(), symbols: [] }));
    group.symbols.push(symbol);
    return group.dates.length;
  };
  const upToDate: string[] = [];
  for (const symbol of req.symbols) {
    let sessions = 0;
    for (const interval of wantedIntervals(req, symbol)) sessions += join(`${interval.start}:${interval.end}`, () => sessionsIn(interval, req.calendar), symbol);
    if (sessions === 0) upToDate.push(symbol);
  }
  for (const [symbol, dates] of options.refresh ?? []) join(`refresh:${dates.join(',')}`, () => dates, symbol);
  // Per partition period: its wanted sessions, and the groups wanting any of them.
  const periods = new Map<string, { dates: Set<IsoDate>; groups: Set<{ symbols: string[] }> }>();
  for (const group of groups.values()) {
    for (const date of group.dates) {
      const key = partitionId(partitionPeriodAt(nyMidnightUtc(date), options.scheme));
      let period = periods.get(key);
      if (!period) periods.set(key, (period = { dates: new Set(), groups: new Set() }));
      period.dates.add(date);
      period.groups.add(group);
    }
  }
  const order = new Map(req.symbols.map((s, i) => [s, i]));
  const units: WorkUnit[] = [];
  const chunk = options.maxSessionsPerUnit ?? Infinity;
  for (const [, period] of [...periods.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const periodDates = [...period.dates].sort();
    const symbols = [...new Set([...period.groups].flatMap((g) => g.symbols))].sort((a, b) => (order.get(a) ?? Infinity) - (order.get(b) ?? Infinity) || (a < b ? -1 : 1));
    for (let from = 0; from < periodDates.length; from += chunk) units.push(sessionUnit(units.length + 1, periodDates.slice(from, from + chunk), symbols, req, options.versions));
  }
  return { units, upToDate };
}

function sessionUnit(id: number, dates: IsoDate[], symbols: string[], req: PlanRequest, listed: ReadonlyMap<IsoDate, string> | undefined): WorkUnit {
  const covers = sessionCovers(dates, req.calendar, req.endInstant);
  const versions = listed ? Object.fromEntries(dates.flatMap((d) => (listed.has(d) ? [[d, listed.get(d)!]] : []))) : undefined;
  return {
    id,
    symbols,
    start: covers[0].start,
    end: covers[covers.length - 1].end,
    sessions: dates,
    covers,
    ...(versions ? { versions } : {}),
    estimatedBars: Math.ceil(dates.length * symbols.length * maxBarsPerSession(req.timeframe)),
    estimatedRequests: dates.length,
  };
}

/**
 * Per group of symbols wanting the same intervals, whole sessions market-wide or windows per symbol
 * batch, whichever makes the run need the fewest requests: symbols wanting a few sessions share
 * grouped requests, symbols wanting long histories get their own. Trying each cut of the groups,
 * ordered by sessions wanted, finds it (500 current symbols and one new one: one grouped request
 * for the first, one history request for the other).
 */
export function fewestRequests(req: PlanRequest, options: SessionPlanOptions): Plan {
  const groups = new Map<string, { sessions: number; symbols: string[] }>();
  const sessionCache = new Map<string, number>();
  for (const symbol of req.symbols) {
    const intervals = wantedIntervals(req, symbol);
    const key = intervals.map((i) => `${i.start}:${i.end}`).join(',');
    let sessions = sessionCache.get(key);
    if (sessions === undefined) sessionCache.set(key, (sessions = intervals.reduce((n, i) => n + sessionsIn(i, req.calendar).length, 0)));
    const group = groups.get(key) ?? { sessions, symbols: [] };
    group.symbols.push(symbol);
    groups.set(key, group);
  }
  const ordered = [...groups.values()].sort((a, b) => a.sessions - b.sessions);
  const bySymbol = ordered.map((g) => planRequests(plan({ ...req, symbols: g.symbols })));
  let best = { cut: 0, requests: Infinity };
  for (let cut = 0; cut <= ordered.length; cut++) {
    const grouped = cut === 0 ? 0 : planRequests(planSessions({ ...req, symbols: ordered.slice(0, cut).flatMap((g) => g.symbols) }, options));
    const requests = grouped + bySymbol.slice(cut).reduce((n, r) => n + r, 0);
    // Per symbol on a tie: the canonical endpoint.
    if (requests < best.requests || (requests === best.requests && cut < best.cut)) best = { cut, requests };
  }
  const sessionPart = planSessions({ ...req, symbols: ordered.slice(0, best.cut).flatMap((g) => g.symbols) }, options);
  const symbolPart = plan({ ...req, symbols: ordered.slice(best.cut).flatMap((g) => g.symbols) });
  const units = [...sessionPart.units, ...symbolPart.units].map((u, i) => ({ ...u, id: i + 1 }));
  return { units, upToDate: req.symbols.filter((s) => sessionPart.upToDate.includes(s) || symbolPart.upToDate.includes(s)) };
}

/**
 * Sessions whose stored data is not the provider's current version, and who holds them: a session
 * the provider republished (another version than the one ingested), or one symbols hold without a
 * recorded version (a unit stopped after some of its partitions were committed). Every symbol
 * holding such a session gets it again, whatever the run asked for.
 */
export function staleSessions(
  listed: ReadonlyMap<IsoDate, string>,
  heldVersion: (date: IsoDate) => string | undefined,
  holders: (date: IsoDate) => readonly string[],
): Map<string, IsoDate[]> {
  const refresh = new Map<string, IsoDate[]>();
  for (const [date, version] of [...listed].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (heldVersion(date) === version) continue;
    for (const symbol of holders(date)) refresh.set(symbol, [...(refresh.get(symbol) ?? []), date]);
  }
  return refresh;
}
