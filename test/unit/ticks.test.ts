import { describe, expect, it } from 'vitest';
import { nyseRuleCalendar } from '../../src/shared/calendar.js';
import { dayPartitionKey, isPartitionOf, parsePartitionPath, partitionBounds, partitionGlob, partitionId, partitionKeyOf, partitionSubdir } from '../../src/shared/lake-paths.js';
import { int64Halves, writeNanos } from '../../src/shared/nanos.js';
import { planMarketWideTickDays, planTickDays, type TickPlanRequest, TICK_SYMBOLS_PER_UNIT, wantedDays } from '../../src/plan/tick-days.js';
import { fromListedDates } from '../../src/shared/calendar.js';
import { conditionsCode } from '../../src/sources/massive/flat-file-formats.js';
import { TEXT_LIST_CODES } from '../../src/lake/text-codes.js';
import { checkTickCapabilities } from '../../src/run/tick-pipeline.js';
import { UsageError } from '../../src/shared/errors.js';
import { syntheticSource } from '../../src/sources/synthetic/source.js';
import { addDays, nyMidnightUtc } from '../../src/shared/time.js';

const day = (d: string) => nyMidnightUtc(d);
const request = (over: Partial<TickPlanRequest> = {}): TickPlanRequest => ({
  symbols: ['AAPL'],
  calendar: nyseRuleCalendar,
  startDate: '2024-03-08',
  explicitStart: true,
  endInstant: day('2024-03-13'),
  covered: new Map(),
  lookbackSessions: 0,
  refetch: false,
  maxSymbolsPerRequest: 200,
  threads: 2,
  ...over,
});

describe('tick days plan', () => {
  it('fetches whole New York trading days, one unit per day, across a DST change', () => {
    // 2024-03-10 (Sunday) is the spring-forward day: 03-11 is 23 hours after 03-10's midnight.
    const p = planTickDays(request());
    expect(p.units.map((u) => [u.start, u.end])).toEqual([
      [day('2024-03-08'), day('2024-03-09')],
      [day('2024-03-11'), day('2024-03-12')],
      [day('2024-03-12'), day('2024-03-13')],
    ]);
    expect(p.units[1].end - p.units[1].start).toBe(24 * 3_600_000);
    expect(p.units.every((u) => u.covers.length === 1 && u.covers[0].start === u.start && u.covers[0].end === u.end)).toBe(true);
  });

  it('fetches a day cut by the run end, but covers only finished days', () => {
    const end = day('2024-03-12') + 15 * 3_600_000; // 15:00 New York on the 12th
    const p = planTickDays(request({ endInstant: end }));
    const last = p.units[p.units.length - 1];
    expect([last.start, last.end]).toEqual([day('2024-03-12'), end]);
    expect(last.covers).toEqual([]);
    expect(p.units[0].covers).toEqual([{ start: day('2024-03-08'), end: day('2024-03-09') }]);
  });

  it('skips covered days, fetches a day whose coverage is partial, and everything with refetch', () => {
    const covered = new Map([['AAPL', [{ start: day('2024-03-08'), end: day('2024-03-12') + 3_600_000 }]]]);
    expect(wantedDays(request({ covered }), 'AAPL')).toEqual(['2024-03-12']);
    expect(wantedDays(request({ covered, refetch: true }), 'AAPL')).toEqual(['2024-03-08', '2024-03-11', '2024-03-12']);
    const all = new Map([['AAPL', [{ start: day('2024-03-01'), end: day('2024-03-20') }]]]);
    expect(planTickDays(request({ covered: all })).upToDate).toEqual(['AAPL']);
  });

  it('continues a stored symbol from its covered end without an explicit start', () => {
    const covered = new Map([['AAPL', [{ start: day('2024-03-04'), end: day('2024-03-09') }]]]);
    expect(wantedDays(request({ covered, explicitStart: false, startDate: '2020-01-02' }), 'AAPL')).toEqual(['2024-03-11', '2024-03-12']);
  });

  it('batches the symbols wanting a day, a few per unit, and spreads few symbols over the workers', () => {
    const symbols = Array.from({ length: 20 }, (_, i) => `S${String.fromCharCode(65 + i)}`);
    const p = planTickDays(request({ symbols, startDate: '2024-03-08', endInstant: day('2024-03-09') }));
    expect(p.units.map((u) => u.symbols.length)).toEqual([TICK_SYMBOLS_PER_UNIT, TICK_SYMBOLS_PER_UNIT, 20 - 2 * TICK_SYMBOLS_PER_UNIT]);
    expect(p.units.flatMap((u) => u.symbols)).toEqual(symbols);
    expect(planTickDays(request({ symbols, endInstant: day('2024-03-09'), maxSymbolsPerRequest: 1 })).units).toHaveLength(20);
    expect(planTickDays(request({ symbols, endInstant: day('2024-03-09'), threads: 8 })).units.map((u) => u.symbols.length)).toEqual(Array(10).fill(2));
    expect(planTickDays(request({ symbols: symbols.slice(0, 10), endInstant: day('2024-03-09'), threads: 8 })).units).toHaveLength(10);
  });
});

describe('market-wide tick days plan', () => {
  const symbols = Array.from({ length: 20 }, (_, i) => `S${String.fromCharCode(65 + i)}`);

  it('makes one unit per day for every symbol wanting it, with the day file version', () => {
    const versions = new Map([['2024-03-08', '"e1"'], ['2024-03-11', '"e2"'], ['2024-03-12', '"e3"']]);
    const covered = new Map([['SA', [{ start: day('2024-03-08'), end: day('2024-03-09') }]]]);
    const p = planMarketWideTickDays(request({ symbols, covered }), { versions });
    expect(p.units.map((u) => [u.start, u.end, u.symbols.length, u.versions])).toEqual([
      [day('2024-03-08'), day('2024-03-09'), 19, { '2024-03-08': '"e1"' }],
      [day('2024-03-11'), day('2024-03-12'), 20, { '2024-03-11': '"e2"' }],
      [day('2024-03-12'), day('2024-03-13'), 20, { '2024-03-12': '"e3"' }],
    ]);
    expect(p.units[0].symbols).toEqual(symbols.slice(1));
    expect(p.units.map((u) => u.id)).toEqual([1, 2, 3]);
  });

  it('fetches a republished day again for every symbol holding it, and only listed days', () => {
    const all = new Map(symbols.slice(0, 2).map((s) => [s, [{ start: day('2024-03-01'), end: day('2024-03-13') }]]));
    // Only 03-11 is published; 03-08 was republished for the symbols holding it (SA, and OLD outside the request).
    const calendar = fromListedDates(['2024-03-08', '2024-03-11'], '2024-03-08', '2024-03-12');
    const refresh = new Map([['SA', ['2024-03-08']], ['OLD', ['2024-03-08']]]);
    const p = planMarketWideTickDays(request({ symbols: symbols.slice(0, 3), covered: all, calendar, endInstant: day('2024-03-12') }), { refresh });
    expect(p.units.map((u) => [u.start, u.symbols])).toEqual([
      [day('2024-03-08'), ['SC', 'SA', 'OLD']],
      [day('2024-03-11'), ['SC']],
    ]);
    expect(p.upToDate).toEqual(['SB']);
  });

  it('leaves a day the run end cuts to a later run: a file holds a whole day', () => {
    const end = day('2024-03-12') + 15 * 3_600_000;
    const p = planMarketWideTickDays(request({ symbols: ['SA'], startDate: '2024-03-11', endInstant: end }), {});
    expect(p.units.map((u) => u.start)).toEqual([day('2024-03-11')]);
    expect(planMarketWideTickDays(request({ symbols: ['SA'], startDate: '2024-03-12', endInstant: end }), {}).upToDate).toEqual(['SA']);
  });
});

describe('tick capabilities', () => {
  it('names the sources that have the kind when one has not', () => {
    const barsOnly = { ...syntheticSource.capabilities, kinds: ['bars' as const] };
    expect(() => checkTickCapabilities(barsOnly, 'bars-only', { kind: 'quotes', feed: undefined })).toThrow(UsageError);
    expect(() => checkTickCapabilities(barsOnly, 'bars-only', { kind: 'quotes', feed: undefined })).toThrow(/source bars-only has no quotes; use --source alpaca, massive, massive-files or synthetic for quotes/);
    expect(() => checkTickCapabilities(syntheticSource.capabilities, 'synthetic', { kind: 'quotes', feed: undefined })).not.toThrow();
  });
});

describe('flat-file condition fields', () => {
  it('reads a field of integer codes as REST lists them, and keeps other codes as text', () => {
    const list = (code: number) => TEXT_LIST_CODES.values[code];
    expect(list(conditionsCode('12,37'))).toEqual(['12', '37']);
    expect(conditionsCode('[12, 37]')).toBe(conditionsCode('12,37'));
    expect(conditionsCode('{12,37}')).toBe(conditionsCode('12,37'));
    expect(conditionsCode('12 37')).toBe(conditionsCode('12,37'));
    expect(list(conditionsCode('[]'))).toEqual([]);
    expect(list(conditionsCode('007'))).toEqual(['7']);
    expect(conditionsCode('')).toBe(0);
    expect(list(conditionsCode('12,X'))).toEqual(['12', 'X']);
    expect(list(conditionsCode('1,2,3,4,5,6'))).toEqual(['1', '2', '3', '4', '5', '6']);
  });
});

describe('daily partitions', () => {
  it('round-trips the day layout and bounds a New York day', () => {
    const key = dayPartitionKey('BRK.B', '2024-11-04');
    expect(partitionSubdir(key)).toBe('symbol=BRK.B/year=2024/month=11/day=04');
    expect(partitionId(key)).toBe('2024-11-04');
    expect(partitionKeyOf('BRK.B', '2024-11-04')).toEqual(key);
    expect(parsePartitionPath('symbol=BRK.B/year=2024/month=11/day=04/data.parquet')).toEqual(key);
    expect(parsePartitionPath('symbol=BRK.B/year=2024/month=02/day=30/data.parquet')).toBeUndefined();
    expect(partitionBounds(key)).toEqual({ start: day('2024-11-04'), end: day('2024-11-05') });
    expect(partitionGlob('day', 'AAPL')).toBe('symbol=AAPL/year=*/month=*/day=*/data.parquet');
    expect(isPartitionOf(key, 'day')).toBe(true);
    expect(isPartitionOf({ year: 2024, month: 11 }, 'day')).toBe(false);
    expect(isPartitionOf({ year: 2024, month: undefined }, 'year')).toBe(true);
    // The fall-back day is 25 hours long.
    const fallBack = partitionBounds(dayPartitionKey('A', '2024-11-03'));
    expect(fallBack.end - fallBack.start).toBe(25 * 3_600_000);
    expect(addDays('2024-11-03', 1)).toBe('2024-11-04');
  });
});

describe('nanosecond columns', () => {
  it('writes seconds and nanoseconds exactly, without a BigInt per row', () => {
    const column = new BigInt64Array(6);
    const halves = int64Halves(column);
    const cases: [number, number][] = [
      [0, 0],
      [0, 999_999_999],
      [1_709_908_200, 123_456_789],
      [4_102_444_799, 999_999_999], // 2099-12-31T23:59:59.999999999Z
      [2 ** 32 - 1, 1],
      [1_000_000_000, 500_000_000],
    ];
    cases.forEach(([s, n], i) => writeNanos(halves, i, s, n));
    expect([...column]).toEqual(cases.map(([s, n]) => BigInt(s) * 1_000_000_000n + BigInt(n)));
  });
});
