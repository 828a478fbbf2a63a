import { describe, expect, it } from 'vitest';
import { fromListedDates, nyseRuleCalendar } from '../../src/shared/calendar.js';
import { intersect, subtract, union } from '../../src/shared/intervals.js';
import { fewestRequests, plan, type PlanRequest, planRequests, planSessions, resumeInstant, sessionCovers, staleSessions, unitTarget, wantedIntervals } from '../../src/plan/planner.js';
import { parseTimeframe } from '../../src/shared/timeframe.js';
import { addDays, nyMidnightUtc } from '../../src/shared/time.js';

const day = (d: string) => nyMidnightUtc(d);
const base = (over: Partial<PlanRequest> = {}): PlanRequest => ({
  symbols: ['AAPL'],
  timeframe: parseTimeframe('1Day')!,
  calendar: nyseRuleCalendar,
  startDate: '2024-01-02',
  explicitStart: true,
  endInstant: day(addDays('2024-03-28', 1)),
  covered: new Map(),
  lookbackSessions: 2,
  refetch: false,
  threads: 8,
  pageRows: 10_000,
  maxSymbolsPerRequest: 200,
  ...over,
});

describe('intervals', () => {
  it('subtracts and unions', () => {
    expect(subtract([{ start: 0, end: 10 }], [{ start: 2, end: 4 }, { start: 8, end: 12 }])).toEqual([{ start: 0, end: 2 }, { start: 4, end: 8 }]);
    expect(union([{ start: 0, end: 2 }], [{ start: 2, end: 5 }, { start: 7, end: 9 }])).toEqual([{ start: 0, end: 5 }, { start: 7, end: 9 }]);
    expect(intersect([{ start: 0, end: 5 }, { start: 7, end: 9 }], [{ start: 3, end: 8 }])).toEqual([{ start: 3, end: 5 }, { start: 7, end: 8 }]);
  });
});

describe('planner', () => {
  it('fetches the whole range for a new symbol, in one window', () => {
    const p = plan(base());
    expect(p.units).toHaveLength(1);
    expect(p.units[0]).toMatchObject({ symbols: ['AAPL'], start: day('2024-01-02'), end: day('2024-03-29') });
  });

  it('fetches only the uncovered gap with an explicit start', () => {
    const covered = new Map([['AAPL', [{ start: day('2024-01-02'), end: day('2024-02-01') }, { start: day('2024-03-01'), end: day('2024-03-29') }]]]);
    const p = plan(base({ covered }));
    expect(p.units.map((u) => [u.start, u.end])).toEqual([[day('2024-02-01'), day('2024-03-01')]]);
  });

  it('plans nothing when everything is covered, and everything with --refetch', () => {
    const covered = new Map([['AAPL', [{ start: day('2024-01-01'), end: day('2024-04-01') }]]]);
    expect(plan(base({ covered })).units).toHaveLength(0);
    expect(plan(base({ covered })).upToDate).toEqual(['AAPL']);
    expect(plan(base({ covered, refetch: true })).units).toHaveLength(1);
  });

  it('resumes from the covered end minus the lookback sessions in incremental mode', () => {
    // Covered through Thursday 2024-03-28 (Good Friday 03-29 is a holiday).
    const covered = new Map([['AAPL', [{ start: day('2016-01-04'), end: day('2024-03-29') }]]]);
    const req = base({ explicitStart: false, startDate: '2016-01-01', covered, endInstant: day('2024-04-03') });
    expect(resumeInstant(day('2024-03-29'), 2, nyseRuleCalendar)).toBe(day('2024-03-27'));
    expect(wantedIntervals(req, 'AAPL')).toEqual([{ start: day('2024-03-27'), end: day('2024-04-03') }]);
    expect(plan(req).units.map((u) => [u.start, u.end])).toEqual([[day('2024-03-27'), day('2024-04-03')]]);
  });

  it('in incremental mode never reaches back before a stored symbol’s history, but fills holes inside it; new symbols start at the default start', () => {
    // First ingested from 2024-01-02, with a hole in February; the default start is 2016.
    const covered = new Map([['AAPL', [{ start: day('2024-01-02'), end: day('2024-02-01') }, { start: day('2024-03-01'), end: day('2024-03-29') }]]]);
    const req = base({ symbols: ['AAPL', 'NEWCO'], explicitStart: false, startDate: '2016-01-01', covered, endInstant: day('2024-04-03') });
    expect(wantedIntervals(req, 'AAPL')).toEqual([{ start: day('2024-02-01'), end: day('2024-03-01') }, { start: day('2024-03-27'), end: day('2024-04-03') }]);
    expect(wantedIntervals(req, 'NEWCO')).toEqual([{ start: day('2016-01-01'), end: day('2024-04-03') }]);
    // An explicit start asks for the earlier history.
    expect(wantedIntervals({ ...req, explicitStart: true, startDate: '2023-01-03' }, 'AAPL')[0]).toEqual({ start: day('2023-01-03'), end: day('2024-01-02') });
  });

  it('fetches a re-adjusted symbol from the start of its own history, whatever start was asked for', () => {
    const covered = new Map([['AAPL', [{ start: day('2015-01-02'), end: day('2024-03-29') }]]]);
    const req = base({ covered, refetchSymbols: new Set(['AAPL']), startDate: '2024-01-02', endInstant: day('2024-04-03') });
    expect(wantedIntervals(req, 'AAPL')).toEqual([{ start: day('2015-01-02'), end: day('2024-04-03') }]);
    expect(wantedIntervals({ ...req, explicitStart: false, startDate: '2010-01-04' }, 'AAPL')).toEqual([{ start: day('2015-01-02'), end: day('2024-04-03') }]);
  });

  it('plans nothing in incremental mode when no session time has passed since the covered end', () => {
    // Covered through Friday 2024-03-22 20:00 New York; "now" is Saturday.
    const coveredEnd = Date.parse('2024-03-23T00:00:00Z');
    const covered = new Map([['AAPL', [{ start: day('2016-01-04'), end: coveredEnd }]]]);
    const req = base({ explicitStart: false, startDate: '2016-01-04', covered, endInstant: Date.parse('2024-03-23T18:00:00Z') });
    expect(plan(req).units).toEqual([]);
    // Monday morning: new session time, so the correction window comes along.
    const monday = plan({ ...req, endInstant: Date.parse('2024-03-25T15:00:00Z') });
    expect(monday.units.map((u) => u.start)).toEqual([day('2024-03-21')]);
  });

  it('never plans a window without a session', () => {
    expect(plan(base({ startDate: '2024-03-29', endInstant: day('2024-04-01') })).units).toEqual([]);
  });

  it('packs daily bars of many symbols into full multi-symbol requests', () => {
    const symbols = Array.from({ length: 500 }, (_, i) => `S${i}`);
    const p = plan(base({ symbols, startDate: '2015-01-02', endInstant: day('2025-01-01') }));
    const estimated = p.units.reduce((n, u) => n + u.estimatedBars, 0);
    const pages = p.units.reduce((n, u) => n + Math.ceil(u.estimatedBars / 10_000), 0);
    expect(pages / Math.ceil(estimated / 10_000)).toBeLessThanOrEqual(1.05);
    expect(p.units.every((u) => u.symbols.length <= 200)).toBe(true);
    expect(new Set(p.units.flatMap((u) => u.symbols)).size).toBe(500);
  });

  it('splits long minute ranges into month-aligned windows of bounded size', () => {
    const p = plan(base({ timeframe: parseTimeframe('1Min')!, startDate: '2020-01-02', endInstant: day('2024-01-01'), threads: 2 }));
    expect(p.units.length).toBeGreaterThanOrEqual(4);
    expect(p.units.every((u) => u.estimatedBars <= 250_000)).toBe(true);
    for (let i = 1; i < p.units.length; i++) expect(p.units[i].start).toBe(p.units[i - 1].end);
  });

  it('spreads small jobs over the pool', () => {
    expect(unitTarget(1_800_000, 8, 10_000)).toBe(225_000);
    expect(unitTarget(10_000, 8, 10_000)).toBe(200_000);
    expect(unitTarget(100_000_000, 8, 10_000)).toBe(250_000);
  });

  it('fetches whole weeks for weekly bars', () => {
    const p = plan(base({ timeframe: parseTimeframe('1Week')!, startDate: '2024-03-27' }));
    expect(p.units[0].start).toBe(day('2024-03-25'));
  });
});

describe('planner for one-ticker requests that must fit one page (Massive aggregates)', () => {
  const massive = (over: Partial<PlanRequest> = {}): PlanRequest => base({ pageRows: 50_000, maxSymbolsPerRequest: 1, windowFitsOnePage: true, ...over });

  it('asks for 10 years of daily bars in one request per symbol', () => {
    const symbols = Array.from({ length: 500 }, (_, i) => `S${i}`);
    const p = plan(massive({ symbols, startDate: '2015-01-02', endInstant: day('2025-01-01') }));
    expect(p.units).toHaveLength(500);
    expect(planRequests(p)).toBe(500);
  });

  it('cuts minute windows so the base minutes scanned fit the 50,000 limit', () => {
    const p = plan(massive({ timeframe: parseTimeframe('1Min')!, countedPerSession: 960, startDate: '2024-01-02', endInstant: day('2025-01-01') }));
    for (const u of p.units) {
      const sessions = nyseRuleCalendar.sessions(addDays('2023-12-31', 0), '2025-01-01').filter((s) => s.extendedOpen >= u.start && s.extendedOpen < u.end).length;
      expect(sessions * 960).toBeLessThanOrEqual(50_000);
    }
    expect(p.units.length).toBeGreaterThanOrEqual(5);
    expect(planRequests(p)).toBe(p.units.length);
  });

  it('counts base minutes, not bars, for hourly windows', () => {
    const hourly = plan(massive({ timeframe: parseTimeframe('1Hour')!, countedPerSession: 960, startDate: '2024-01-02', endInstant: day('2025-01-01') }));
    const minute = plan(massive({ timeframe: parseTimeframe('1Min')!, countedPerSession: 960, startDate: '2024-01-02', endInstant: day('2025-01-01') }));
    expect(hourly.units.map((u) => [u.start, u.end])).toEqual(minute.units.map((u) => [u.start, u.end]));
  });
});

describe('planner for whole sessions fetched market-wide', () => {
  const symbols = Array.from({ length: 500 }, (_, i) => `S${i}`);

  it('plans one request per session, one unit per partition period', () => {
    const req = base({ symbols, startDate: '2015-01-02', endInstant: day('2025-01-01') });
    const p = planSessions(req, { scheme: 'year' });
    expect(p.units).toHaveLength(10);
    expect(planRequests(p)).toBe(nyseRuleCalendar.sessions('2015-01-02', '2024-12-31').length);
    expect(p.units.every((u) => u.symbols.length === 500 && u.sessions!.every((d) => d.startsWith(String(new Date(u.start).getUTCFullYear()))))).toBe(true);
    // Monthly layout: a unit per month, so each partition is written once.
    expect(planSessions(req, { scheme: 'month' }).units).toHaveLength(120);
  });

  it('takes the grouped path for a nightly update and per-symbol requests for a backfill', () => {
    const massive = { pageRows: 50_000, maxSymbolsPerRequest: 1, windowFitsOnePage: true };
    const covered = new Map(symbols.map((s) => [s, [{ start: day('2015-01-02'), end: day('2024-03-28') }]]));
    const nightly = base({ ...massive, symbols, covered, explicitStart: false, startDate: '2015-01-02', lookbackSessions: 0, endInstant: day('2024-03-29') });
    const chosen = fewestRequests(nightly, { scheme: 'year' });
    expect(chosen.units).toHaveLength(1);
    expect(chosen.units[0].sessions).toEqual(['2024-03-28']);
    expect(planRequests(chosen)).toBe(1);
    const backfill = base({ ...massive, symbols, startDate: '2015-01-02', endInstant: day('2025-01-01') });
    const choice = fewestRequests(backfill, { scheme: 'year' });
    expect(choice.units.every((u) => u.sessions === undefined)).toBe(true);
    expect(planRequests(choice)).toBe(500);
    // The nightly update with one symbol new to the lake: one grouped request, one history request.
    const mixed = fewestRequests({ ...nightly, symbols: [...symbols, 'NEW'] }, { scheme: 'year' });
    expect(planRequests(mixed)).toBe(2);
    expect(mixed.units.find((u) => u.sessions)?.symbols).toHaveLength(500);
    expect(mixed.units.find((u) => !u.sessions)?.symbols).toEqual(['NEW']);
  });

  it('covers runs of sessions up to the next session, so weekends are covered and gaps are not', () => {
    // Thursday 2024-03-28, then Good Friday and a weekend, then Monday 04-01 and Tuesday 04-02; Thursday 04-04 alone.
    const covers = sessionCovers(['2024-03-28', '2024-04-01', '2024-04-02', '2024-04-04'], nyseRuleCalendar, day('2024-04-06'));
    expect(covers).toEqual([
      { start: day('2024-03-28'), end: day('2024-04-03') },
      { start: day('2024-04-04'), end: day('2024-04-05') },
    ]);
  });

  it('fetches the sessions any symbol wants for every symbol that wants one, and refreshes republished sessions for other symbols', () => {
    const covered = new Map([['A', [{ start: day('2024-01-02'), end: day('2024-03-01') }]]]);
    const req = base({ symbols: ['A', 'B'], covered, startDate: '2024-01-02', endInstant: day('2024-03-29') });
    const p = planSessions(req, { scheme: 'year', versions: new Map([['2024-03-01', '"e1"']]), refresh: new Map([['OLD', ['2024-01-05']]]) });
    expect(p.units).toHaveLength(1);
    const [unit] = p.units;
    expect(unit.symbols).toEqual(['A', 'B', 'OLD']);
    expect(unit.sessions![0]).toBe('2024-01-02');
    expect(unit.versions!['2024-03-01']).toBe('"e1"');
  });
});

describe('versioned sessions (day files with ETags)', () => {
  const listed = new Map([['2024-03-04', '"a"'], ['2024-03-05', '"b2"'], ['2024-03-06', '"c"'], ['2024-03-07', '"d"']]);
  const held: Record<string, string> = { '2024-03-04': '"a"', '2024-03-05': '"b1"' };
  const holders: Record<string, string[]> = { '2024-03-04': ['AAPL'], '2024-03-05': ['AAPL', 'OLD'], '2024-03-06': ['AAPL'] };

  it('refreshes a republished session and one held without a version, for every symbol holding it; never a session nobody holds', () => {
    const refresh = staleSessions(listed, (d) => held[d], (d) => holders[d] ?? []);
    expect(Object.fromEntries(refresh)).toEqual({ AAPL: ['2024-03-05', '2024-03-06'], OLD: ['2024-03-05'] });
  });

  it('plans refreshed sessions even before the run’s own range, with the listed versions', () => {
    const req = base({ symbols: ['AAPL'], startDate: '2024-03-07', endInstant: day('2024-03-08'), calendar: fromListedDates(listed.keys(), '2024-03-04', '2024-03-07') });
    const p = planSessions(req, { scheme: 'month', versions: listed, refresh: staleSessions(listed, (d) => held[d], (d) => holders[d] ?? []) });
    expect(p.units).toHaveLength(1);
    expect(p.units[0].sessions).toEqual(['2024-03-05', '2024-03-06', '2024-03-07']);
    expect(p.units[0].symbols).toEqual(['AAPL', 'OLD']);
    expect(p.units[0].versions).toEqual({ '2024-03-05': '"b2"', '2024-03-06': '"c"', '2024-03-07': '"d"' });
  });

  it('knows only the listed sessions inside the listed range, the rules outside it', () => {
    const calendar = fromListedDates(['2024-03-05', '2024-03-07'], '2024-03-04', '2024-03-08');
    expect(calendar.sessions('2024-03-01', '2024-03-12').map((s) => s.date)).toEqual(['2024-03-01', '2024-03-05', '2024-03-07', '2024-03-11', '2024-03-12']);
  });

  it('splits a period into units of at most maxSessionsPerUnit sessions', () => {
    const req = base({ symbols: ['A', 'B'], startDate: '2024-01-02', endInstant: day('2024-04-01') });
    const p = planSessions(req, { scheme: 'year', maxSessionsPerUnit: 21 });
    expect(p.units.map((u) => u.sessions!.length)).toEqual([21, 21, 19]);
    for (let i = 1; i < p.units.length; i++) expect(p.units[i].start).toBe(p.units[i - 1].end);
  });
});

