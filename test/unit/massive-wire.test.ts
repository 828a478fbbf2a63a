import { describe, expect, it } from 'vitest';
import { symbolGroups } from '../../src/sources/massive/flat-file-formats.js';
import { flatFileDate, flatFileKey, flatFilePrefixes } from '../../src/sources/massive/flat-file-keys.js';
import { openDuckDB } from '../../src/lake/duck.js';
import { aggregatesToColumns, aggregatesUrl, followNextUrl, GroupedDailyRows, groupedDailyUrl, readAggregatesPage } from '../../src/sources/massive/rest-wire.js';
import { parseTimeframe } from '../../src/shared/timeframe.js';
import { nyMidnightUtc } from '../../src/shared/time.js';

const tf = (s: string) => parseTimeframe(s)!;
const bytes = (value: unknown) => new Uint8Array(Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)));

describe('Massive REST requests', () => {
  it('asks for raw bars unless split adjustment is chosen (Massive defaults to adjusted), with the largest limit and inclusive ms bounds', () => {
    const url = new URL(aggregatesUrl('https://api.massive.com/', 'BRK.B', tf('5Min'), 1_700_000_000_000, 1_700_086_400_000, undefined));
    expect(url.pathname).toBe('/v2/aggs/ticker/BRK.B/range/5/minute/1700000000000/1700086399999');
    expect(Object.fromEntries(url.searchParams)).toEqual({ adjusted: 'false', sort: 'asc', limit: '50000' });
    expect(new URL(aggregatesUrl('https://x', 'A', tf('1Week'), 0, 10, 'split')).searchParams.get('adjusted')).toBe('true');
    expect(new URL(aggregatesUrl('https://x', 'A', tf('3Month'), 0, 10, 'raw')).pathname).toContain('/range/3/month/');
    expect(groupedDailyUrl('https://x/', '2024-03-28', 'raw')).toBe('https://x/v2/aggs/grouped/locale/us/market/stocks/2024-03-28?adjusted=false&include_otc=true');
  });

  it('follows next_url on the configured host, never keeping a key from it', () => {
    const next = 'https://api.massive.com/v2/aggs/ticker/AAPL/range/1/minute/1700000000000/1700086399999?cursor=YWJj&apiKey=leaked';
    expect(followNextUrl('http://127.0.0.1:9999', next)).toBe('http://127.0.0.1:9999/v2/aggs/ticker/AAPL/range/1/minute/1700000000000/1700086399999?cursor=YWJj');
    expect(followNextUrl('https://proxy.example/massive/', next)).toBe('https://proxy.example/massive/v2/aggs/ticker/AAPL/range/1/minute/1700000000000/1700086399999?cursor=YWJj');
  });

  it('reads an absent results key as no bars, and refuses truncated or failed bodies', () => {
    const empty = readAggregatesPage(bytes({ ticker: 'ZZZZ', queryCount: 0, resultsCount: 0, adjusted: false, status: 'OK', request_id: 'r' }));
    expect(empty).toEqual({ page: { results: [], nextUrl: undefined } });
    expect(readAggregatesPage(bytes('{"status":"OK","results":[{"t":1'))).toEqual({ reason: 'body is not complete JSON (truncated?)' });
    expect('reason' in readAggregatesPage(bytes({ status: 'ERROR' }))).toBe(true);
  });

  it('keeps bars starting inside the window; a missing VWAP is NaN (NULL in the lake)', () => {
    const read = readAggregatesPage(bytes({ status: 'OK', results: [{ t: 5, o: 1, h: 2, l: 0.5, c: 1.5, v: 100, n: 3 }, { t: 10, o: 1, h: 1, l: 1, c: 1, v: 1, vw: 1, n: 1 }], next_url: 'https://a/b?cursor=c' }));
    if (!('page' in read)) throw new Error(read.reason);
    expect(read.page.nextUrl).toBe('https://a/b?cursor=c');
    const { columns } = aggregatesToColumns(read.page, 0, 0, 10, undefined);
    expect(columns.length).toBe(1);
    expect([columns.time[0], columns.open[0], columns.volume[0], columns.tradeCount[0]]).toEqual([5000, 1, 100, 3]);
    expect(Number.isNaN(columns.vwap[0])).toBe(true);
  });

  it('restamps grouped-daily bars from the 16:00 close to New York midnight, keeping only wanted tickers, in symbol-then-time order', () => {
    const rows = new GroupedDailyRows(new Map([['MSFT', 0], ['AAPL', 1]]));
    const close = (date: string) => nyMidnightUtc(date) + 16 * 3_600_000;
    const bar = (T: string, date: string) => ({ T, t: close(date), o: 2, h: 3, l: 1, c: 2, v: 10, vw: 2, n: 1 });
    rows.add('2024-03-28', { results: [bar('AAPL', '2024-03-28'), bar('ZZZ', '2024-03-28'), bar('MSFT', '2024-03-28')], nextUrl: undefined });
    rows.add('2024-04-01', { results: [bar('AAPL', '2024-04-01'), bar('MSFT', '2024-04-01')], nextUrl: undefined });
    const [batch] = [...rows.batches(100, () => undefined)];
    expect(Array.from(batch.symbol.subarray(0, batch.length))).toEqual([0, 0, 1, 1]);
    expect(Array.from(batch.time.subarray(0, batch.length))).toEqual([nyMidnightUtc('2024-03-28'), nyMidnightUtc('2024-04-01'), nyMidnightUtc('2024-03-28'), nyMidnightUtc('2024-04-01')].map((t) => t * 1000));
  });
});

describe('Massive flat-file keys', () => {
  const bars = (api: string) => ({ kind: 'bars' as const, timeframe: tf(api) });
  it('names one object per dataset and day, and reads the date back', () => {
    expect(flatFileKey(bars('1Min'), '2024-03-07')).toBe('us_stocks_sip/minute_aggs_v1/2024/03/2024-03-07.csv.gz');
    expect(flatFileKey(bars('1Day'), '2019-08-12')).toBe('us_stocks_sip/day_aggs_v1/2019/08/2019-08-12.csv.gz');
    expect(flatFileDate('us_stocks_sip/day_aggs_v1/2019/08/2019-08-12.csv.gz', bars('1Day'))).toBe('2019-08-12');
    expect(flatFileDate('us_stocks_sip/minute_aggs_v1/2019/08/2019-08-12.csv.gz', bars('1Day'))).toBeUndefined();
    expect(flatFilePrefixes(bars('1Min'), '2023-12-29', '2024-01-03')).toEqual(['us_stocks_sip/minute_aggs_v1/2023/', 'us_stocks_sip/minute_aggs_v1/2024/']);
  });

  it('keeps trades and quotes in their own datasets', () => {
    expect(flatFileKey({ kind: 'trades' }, '2024-03-07')).toBe('us_stocks_sip/trades_v1/2024/03/2024-03-07.csv.gz');
    expect(flatFileKey({ kind: 'quotes' }, '2024-03-07')).toBe('us_stocks_sip/quotes_v1/2024/03/2024-03-07.csv.gz');
    expect(flatFileDate('us_stocks_sip/quotes_v1/2024/03/2024-03-07.csv.gz', { kind: 'quotes' })).toBe('2024-03-07');
    expect(flatFileDate('us_stocks_sip/quotes_v1/2024/03/2024-03-07.csv.gz', { kind: 'trades' })).toBeUndefined();
    expect(flatFilePrefixes({ kind: 'trades' }, '2024-12-31', '2025-01-02')).toEqual(['us_stocks_sip/trades_v1/2024/', 'us_stocks_sip/trades_v1/2025/']);
  });
});

describe('Massive flat files: symbols read back by group', () => {
  /** The size of each group, in order, when `symbols` symbols are grouped by `perGroup`. */
  async function sizes(symbols: number, perGroup: number): Promise<number[]> {
    const duck = await openDuckDB(1);
    const connection = await duck.connect();
    try {
      const { groupOf } = symbolGroups(symbols, perGroup);
      const rows = (await connection.runAndReadAll(`SELECT ${groupOf('idx')} AS g, count(*)::INTEGER FROM range(${symbols}) t(idx) GROUP BY g ORDER BY g`)).getRows();
      rows.forEach(([g], i) => expect(Number(g)).toBe(i));
      return rows.map(([, n]) => Number(n));
    } finally {
      connection.closeSync();
      duck.closeSync();
    }
  }

  it('a first group a quarter of the others, then groups of the size asked for, every symbol in one', async () => {
    expect(await sizes(500, 208)).toEqual([52, 208, 208, 32]);
    expect(symbolGroups(500, 208).count).toBe(4);
    expect(await sizes(500, 52)).toEqual([13, ...Array(9).fill(52), 19]);
    expect(symbolGroups(500, 52).count).toBe(11);
    expect(await sizes(3, 208)).toEqual([3]);
    expect(symbolGroups(3, 208).count).toBe(1);
    expect(await sizes(5, 1)).toEqual([1, 1, 1, 1, 1]);
    expect(symbolGroups(5, 1).count).toBe(5);
  });
});

