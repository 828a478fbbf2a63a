/** The fake's trades and quotes: the tick model itself, and the endpoints through real HTTP on loopback. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nyDateOf, nyMidnightUtc, nyWallToUtc } from '../../src/shared/time.js';
import { FakeAlpaca } from '../support/fake-alpaca.js';
import {
  type FakeTickKind, generateQuotes, generateTrades, nsToWireTime, parseTicksPage, quoteDay, rowsOf, type TickRows, tickJson, tradeDay, type WireTrade, wireTimeToNs,
} from '../support/fake-ticks.js';

const ns = (ms: number): bigint => BigInt(ms) * 1_000_000n;
const fractionDigits = (t: string): number => /\.(\d+)Z$/.exec(t)?.[1].length ?? 0;

describe('tick model', () => {
  const date = '2024-03-11'; // the Monday after the switch to daylight time
  const trades = generateTrades('AAPL', date, 5_000, 7);
  const quotes = generateQuotes('AAPL', date, 5_000, 7);

  it('is deterministic and differs per symbol, date and seed', () => {
    expect(generateTrades('AAPL', date, 5_000, 7)).toEqual(trades);
    expect(generateTrades('MSFT', date, 50, 7)).not.toEqual(trades.slice(0, 50));
    expect(generateTrades('AAPL', '2024-03-12', 50, 7)).not.toEqual(generateTrades('AAPL', date, 50, 7));
    expect(generateTrades('AAPL', date, 50, 8)).not.toEqual(generateTrades('AAPL', date, 50, 7));
  });

  it('stamps rows in time order within 04:00–20:00 New York, with ties and trimmed fractions of every length', () => {
    for (const rows of [trades, quotes]) {
      const times = rows.map((r) => wireTimeToNs(r.t));
      expect(times.every((t, k) => k === 0 || t >= times[k - 1])).toBe(true);
      expect(times[0] >= ns(nyWallToUtc(date, 4 * 60))).toBe(true);
      expect(times[times.length - 1] < ns(nyWallToUtc(date, 20 * 60))).toBe(true);
      expect(times.filter((t, k) => k > 0 && t === times[k - 1]).length).toBeGreaterThan(rows.length * 0.03);
      const digits = new Set(rows.map((r) => fractionDigits(r.t)));
      for (const d of [0, 3, 6, 9]) expect(digits.has(d)).toBe(true);
      expect(rows.some((r) => /\.\d*0Z$/.test(r.t))).toBe(false);
      expect(rows.every((r) => nsToWireTime(wireTimeToNs(r.t)) === r.t)).toBe(true);
    }
    // Standard time the week before: 04:00 New York is 09:00Z, not 08:00Z.
    expect(generateTrades('AAPL', '2024-03-08', 100, 7)[0].t >= '2024-03-08T09:00:00Z').toBe(true);
    expect(trades[0].t >= '2024-03-11T08:00:00Z' && trades[0].t < '2024-03-11T08:10:00Z').toBe(true);
  });

  it('has uint64 ids past 2^53, 0–3 conditions, tapes, exchanges and correction markers', () => {
    const ids = trades.map((r) => r.i);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.some((i) => i > 2n ** 63n)).toBe(true);
    expect(ids.some((i) => i > 2n ** 53n && i < 2n ** 54n && BigInt(Number(i)) !== i)).toBe(true);
    expect(ids.every((i) => i >= 0n && i < 2n ** 64n)).toBe(true);
    const lengths = new Set(trades.map((r) => r.c.length));
    expect([...lengths].sort()).toEqual([0, 1, 2, 3]);
    const codes = new Set(trades.flatMap((r) => r.c));
    for (const c of ['@', 'T', 'I', 'F']) expect(codes.has(c)).toBe(true);
    expect(trades.every((r) => r.x.length === 1 && ['A', 'B', 'C'].includes(r.z) && r.p > 0 && Number.isInteger(r.s) && r.s > 0)).toBe(true);
    expect(trades.some((r) => r.u !== undefined)).toBe(true);
    expect(trades.filter((r) => r.u !== undefined).length).toBeLessThan(trades.length * 0.02);
  });

  it('has quotes with an empty side and crossed quotes, and round lots before 2025-11-03', () => {
    expect(quotes.some((q) => q.bx === ' ' && q.bp === 0 && q.bs === 0 && q.ap > 0)).toBe(true);
    expect(quotes.some((q) => q.ax === ' ' && q.ap === 0 && q.as === 0 && q.bp > 0)).toBe(true);
    expect(quotes.some((q) => q.bp > q.ap && q.ap > 0)).toBe(true);
    expect(quotes.every((q) => q.c.length >= 1 && q.c.length <= 2 && (q.bp > 0 || q.ap > 0))).toBe(true);
    expect(Math.max(...quotes.map((q) => q.bs))).toBeLessThanOrEqual(30);
    expect(Math.max(...generateQuotes('AAPL', '2025-11-03', 500, 7).map((q) => q.bs))).toBeGreaterThan(30);
  });

  it('writes ids as exact bare JSON numbers', () => {
    const big: WireTrade = { t: '2024-03-11T13:30:00.000000001Z', x: 'V', p: 187.12, s: 100, c: ['@'], i: 18_446_744_073_709_551_615n, z: 'C', u: 'canceled' };
    expect(tickJson(big)).toBe('{"t":"2024-03-11T13:30:00.000000001Z","x":"V","p":187.12,"s":100,"c":["@"],"i":18446744073709551615,"z":"C","u":"canceled"}');
  });

  it('reads a row of a million-row day without generating the rest', () => {
    const day = tradeDay('AAPL', date, 1_000_000, 7);
    const started = performance.now();
    const page = rowsOf(day, 600_000, 610_000).map(tickJson).join(',');
    expect(performance.now() - started).toBeLessThan(500);
    expect(page.length).toBeGreaterThan(500_000);
    expect(day.timeNs(999_999) < ns(nyWallToUtc(date, 20 * 60))).toBe(true);
    expect(wireTimeToNs(day.at(610_000).t)).toBe(day.timeNs(610_000));
    expect(quoteDay('AAPL', date, 10, 7).at(3)).toEqual(generateQuotes('AAPL', date, 10, 7)[3]);
  });
});

describe('fake trades and quotes over HTTP', () => {
  let fake: FakeAlpaca;
  beforeAll(async () => {
    fake = await new FakeAlpaca({
      symbols: { AAPL: { ticksPerDay: { trades: 300 } }, MSFT: {}, NEWCO: { listedFrom: '2024-03-11' } },
      ticksPerDay: { trades: 200, quotes: 250 },
    }).start();
  });
  afterAll(() => fake.stop());

  const get = async (path: string, params: Record<string, string>): Promise<{ status: number; text: string; headers: Headers }> => {
    const res = await fetch(`${fake.url}${path}?${new URLSearchParams(params).toString()}`, {
      headers: { 'APCA-API-KEY-ID': fake.keyId, 'APCA-API-SECRET-KEY': fake.secretKey },
    });
    return { status: res.status, text: await res.text(), headers: res.headers };
  };

  /** Follow the tokens to the end, keeping every page. */
  const collect = async <K extends FakeTickKind>(kind: K, path: string, params: Record<string, string>) => {
    const pages: ReturnType<typeof parseTicksPage<K>>[] = [];
    let token: string | null = null;
    do {
      const res = await get(path, token === null ? params : { ...params, page_token: token });
      expect(res.status, res.text).toBe(200);
      const page = parseTicksPage(kind, res.text);
      pages.push(page);
      token = page.nextPageToken;
    } while (token !== null);
    const bySymbol: Record<string, TickRows[K][]> = {};
    for (const page of pages) for (const [symbol, rows] of Object.entries(page.rows)) (bySymbol[symbol] ??= []).push(...rows);
    return { pages, bySymbol };
  };

  // Friday in standard time and Monday in daylight time; the weekend has no rows.
  const start = nyMidnightUtc('2024-03-08');
  const end = nyMidnightUtc('2024-03-12');
  const window = { start: nsToWireTime(ns(start)), end: nsToWireTime(ns(end) - 1n), feed: 'sip' };

  it('pages two symbols over two days in symbol-then-time order, a page ending mid-symbol, and reassembles exactly', async () => {
    const limit = 137;
    const { pages, bySymbol } = await collect('trades', '/v2/stocks/trades', { ...window, symbols: 'MSFT,AAPL,ZZZZ', limit: String(limit) });
    expect(Object.keys(bySymbol)).toEqual(['AAPL', 'MSFT']);
    expect(bySymbol.AAPL).toEqual(fake.expectedTrades('AAPL', start, end));
    expect(bySymbol.MSFT).toEqual(fake.expectedTrades('MSFT', start, end));
    expect(bySymbol.AAPL.length).toBe(600);
    expect(bySymbol.MSFT.length).toBe(400);
    // Every page but the last is full; the symbols run in order, one page holding the end of AAPL and the start of MSFT.
    const sizes = pages.map((p) => Object.values(p.rows).reduce((n, rows) => n + rows.length, 0));
    expect(sizes.slice(0, -1).every((n) => n === limit)).toBe(true);
    expect(sizes.reduce((a, b) => a + b)).toBe(1000);
    const keys = pages.map((p) => Object.keys(p.rows));
    expect(keys.flat()).toEqual([...keys.flat()].sort());
    expect(keys.some((k) => k.join() === 'AAPL,MSFT')).toBe(true);
    // The day boundary falls inside a page too: Friday's rows then Monday's.
    const days = bySymbol.AAPL.map((r) => nyDateOf(Number(wireTimeToNs(r.t) / 1_000_000n)));
    expect([...new Set(days)]).toEqual(['2024-03-08', '2024-03-11']);
  });

  it('pages one symbol through the single-symbol envelope', async () => {
    const { pages, bySymbol } = await collect('quotes', '/v2/stocks/MSFT/quotes', { ...window, limit: '100' });
    expect(bySymbol.MSFT).toEqual(fake.expectedQuotes('MSFT', start, end));
    expect(bySymbol.MSFT.length).toBe(500);
    // 500 rows in pages of 100: the sixth page is empty (null) and ends the paging.
    expect(pages.length).toBe(6);
    expect(pages.every((p) => p.symbol === 'MSFT')).toBe(true);
    const last = await get('/v2/stocks/MSFT/quotes', { ...window, limit: '100', start: '2024-03-09T05:00:00Z', end: '2024-03-11T03:59:59.999999999Z' });
    expect(JSON.parse(last.text)).toEqual({ quotes: null, symbol: 'MSFT', next_page_token: null });
  });

  it('has no rows before a listing, on weekends, or for an unknown symbol', async () => {
    const res = await get('/v2/stocks/trades', { ...window, symbols: 'NEWCO,QQQQ' });
    const page = parseTicksPage('trades', res.text);
    expect(Object.keys(page.rows)).toEqual(['NEWCO']);
    expect(page.rows.NEWCO.every((r) => r.t.startsWith('2024-03-11'))).toBe(true);
    const weekend = await get('/v2/stocks/trades', { symbols: 'AAPL', start: '2024-03-09T05:00:00Z', end: '2024-03-11T03:59:59.999999999Z' });
    expect(JSON.parse(weekend.text)).toEqual({ trades: {}, next_page_token: null, currency: 'USD' });
  });

  it('treats start and end as inclusive at nanosecond precision, with Z or an offset', async () => {
    const date = '2024-03-13';
    const at = ns(nyWallToUtc(date, 10 * 60)) + 123_456_789n;
    const row = (t: bigint, i: bigint): WireTrade => ({ t: nsToWireTime(t), x: 'Q', p: 10, s: 1, c: [], i, z: 'C' });
    fake.setTicks('trades', 'AAPL', date, [row(at - 1n, 1n), row(at, 2n), row(at, 3n), row(at + 1n, 4n)]);
    const ids = async (params: Record<string, string>) => parseTicksPage('trades', (await get('/v2/stocks/AAPL/trades', params)).text).rows.AAPL.map((r) => r.i);
    expect(await ids({ start: nsToWireTime(at - 10n), end: nsToWireTime(at) })).toEqual([1n, 2n, 3n]);
    expect(await ids({ start: nsToWireTime(at), end: nsToWireTime(at) })).toEqual([2n, 3n]);
    expect(await ids({ start: nsToWireTime(at + 1n), end: '2024-03-13T23:00:00Z' })).toEqual([4n]);
    // 14:00:00.123456789Z is 10:00:00.123456789-04:00.
    expect(await ids({ start: '2024-03-13T10:00:00.123456789-04:00', end: '2024-03-13T10:00:00.123456789-04:00' })).toEqual([2n, 3n]);
    expect(fake.expectedTrades('AAPL', Number((at - 1n) / 1_000_000n), Number(at / 1_000_000n) + 1).map((r) => r.i)).toEqual([1n, 2n, 3n, 4n]);
  });

  it('keeps ids past 2^53 exact in the JSON text', async () => {
    const date = '2024-03-14';
    const t = nsToWireTime(ns(nyWallToUtc(date, 12 * 60)));
    const ids = [18_446_744_073_709_551_615n, 9_007_199_254_740_993n, 42n];
    fake.setTicks('trades', 'MSFT', date, ids.map((i) => ({ t, x: 'N', p: 400.5, s: 7, c: ['@', 'I'], i, z: 'A' })));
    const res = await get('/v2/stocks/trades', { symbols: 'MSFT', start: `${date}T00:00:00Z`, end: `${date}T23:59:59Z` });
    expect(res.text).toContain('"i":18446744073709551615');
    expect(res.text).toContain('"i":9007199254740993');
    expect(parseTicksPage('trades', res.text).rows.MSFT.map((r) => r.i)).toEqual(ids);
  });

  it('serves a corrected day once the provider corrects it', async () => {
    const date = '2024-03-08';
    const from = nyMidnightUtc(date);
    const to = nyMidnightUtc('2024-03-09');
    const before = fake.expectedTrades('AAPL', from, to);
    const rows = fake.correctDay('trades', 'AAPL', date);
    const after = fake.expectedTrades('AAPL', from, to);
    expect(after).toEqual(rows);
    expect(after).not.toEqual(before);
    expect(after.length).toBeLessThan(before.length);
    expect(after.filter((r) => r.u === 'corrected').length).toBeGreaterThan(before.filter((r) => r.u === 'corrected').length);
    const served = await collect('trades', '/v2/stocks/trades', { symbols: 'AAPL', start: nsToWireTime(ns(from)), end: nsToWireTime(ns(to) - 1n), limit: '10000' });
    expect(served.bySymbol.AAPL).toEqual(after);
    const quotesBefore = fake.expectedQuotes('AAPL', from, to);
    fake.correctDay('quotes', 'AAPL', date);
    expect(fake.expectedQuotes('AAPL', from, to)).not.toEqual(quotesBefore);
  });

  it('rejects unknown parameters, bad symbols, limits and sorts; records the feed', async () => {
    const base = { symbols: 'AAPL', start: '2024-03-08T00:00:00Z', end: '2024-03-08T23:00:00Z' };
    const message = async (path: string, params: Record<string, string>, status = 400) => {
      const res = await get(path, params);
      expect(res.status, res.text).toBe(status);
      return (JSON.parse(res.text) as { message: string }).message;
    };
    expect(await message('/v2/stocks/trades', { ...base, timeframe: '1Min', foo: '1' })).toBe('unexpected query parameter(s): timeframe, foo');
    expect(await message('/v2/stocks/AAPL/quotes', base)).toBe('unexpected query parameter(s): symbols');
    expect(await message('/v2/stocks/quotes', { ...base, symbols: 'AAPL,bad$' })).toBe('invalid symbol: bad$');
    expect(await message('/v2/stocks/quotes', { ...base, feed: 'delayed_sip' })).toBe('invalid feed: delayed_sip');
    expect(await message('/v2/stocks/quotes', { ...base, limit: '10001' }, 422)).toBe('invalid limit');
    expect(await message('/v2/stocks/quotes', { ...base, sort: 'desc' })).toContain('desc');
    expect(await message('/v2/stocks/quotes', { ...base, end: '2024-03-08T23:00:00.1234567891Z' })).toBe('invalid start or end');
    expect(await message('/v2/stocks/quotes', { ...base, page_token: 'bm9wZQ' })).toBe('invalid page token');
    const ok = await get('/v2/stocks/quotes', { ...base, feed: 'iex', asof: '-', currency: 'USD', sort: 'asc', limit: '5' });
    expect(ok.status).toBe(200);
    expect(fake.quoteRequests.at(-1)?.query.feed).toBe('iex');
    expect(fake.tradeRequests.every((r) => r.path.endsWith('/trades'))).toBe(true);
    // A token resumes only the query it came from.
    const token = parseTicksPage('quotes', ok.text).nextPageToken!;
    expect(await message('/v2/stocks/quotes', { ...base, feed: 'sip', page_token: token })).toBe('invalid page token');
    const forbidden = await fetch(`${fake.url}/v2/stocks/trades?symbols=AAPL&start=2024-03-08T00:00:00Z`, { headers: { 'APCA-API-KEY-ID': 'x', 'APCA-API-SECRET-KEY': 'y' } });
    expect(forbidden.status).toBe(403);
  });

  it('leaves bars as they were', async () => {
    const res = await get('/v2/stocks/bars', { symbols: 'AAPL,MSFT', timeframe: '1Day', start: '2024-03-04', end: '2024-03-08', limit: '3' });
    const body = JSON.parse(res.text) as { bars: Record<string, unknown[]>; next_page_token: string | null };
    expect(Object.keys(body.bars)).toEqual(['AAPL']);
    expect(body.bars.AAPL.length).toBe(3);
    expect(body.next_page_token).not.toBeNull();
    expect((await get('/v2/stocks/bars', { symbols: 'AAPL', timeframe: '1Day', start: '2024-03-04', foo: '1' })).text).toContain('unexpected query parameter(s): foo');
  });
});

describe('fake ticks under limits and faults', () => {
  it('sends rate-limit headers and 429 for ticks, as for bars', async () => {
    const fake = await new FakeAlpaca({ rateLimit: { limit: 2, windowMs: 60_000 } }).start();
    try {
      const headers = { 'APCA-API-KEY-ID': fake.keyId, 'APCA-API-SECRET-KEY': fake.secretKey };
      const url = `${fake.url}/v2/stocks/trades?symbols=AAPL&start=2024-03-08T00:00:00Z&end=2024-03-08T23:00:00Z&limit=2`;
      const statuses: number[] = [];
      for (let n = 0; n < 3; n++) {
        const res = await fetch(url, { headers });
        await res.text();
        statuses.push(res.status);
        expect(res.headers.get('X-RateLimit-Limit')).toBe('2');
        expect(Number(res.headers.get('X-RateLimit-Reset'))).toBeGreaterThan(Date.now() / 1000 - 1);
      }
      expect(statuses).toEqual([200, 200, 429]);
      expect(fake.tradeRequests.map((r) => r.status)).toEqual([200, 200, 429]);
    } finally {
      await fake.stop();
    }
  });

  it('caches tick pages with cachePages until a day is replaced', async () => {
    const fake = await new FakeAlpaca({ cachePages: true }).start();
    try {
      const headers = { 'APCA-API-KEY-ID': fake.keyId, 'APCA-API-SECRET-KEY': fake.secretKey };
      const read = async (path: string) => (await fetch(`${fake.url}${path}?start=2024-03-08T05:00:00Z&end=2024-03-08T23:00:00Z&limit=3`, { headers })).text();
      const first = await read('/v2/stocks/AAPL/trades');
      expect(await read('/v2/stocks/AAPL/trades')).toBe(first);
      expect(await read('/v2/stocks/AAPL/quotes')).not.toBe(first);
      const only: WireTrade = { t: '2024-03-08T15:00:00.5Z', x: 'V', p: 1.5, s: 3, c: [], i: 7n, z: 'B' };
      fake.setTicks('trades', 'AAPL', '2024-03-08', [only]);
      expect(parseTicksPage('trades', await read('/v2/stocks/AAPL/trades')).rows.AAPL).toEqual([only]);
    } finally {
      await fake.stop();
    }
  });

  it('applies outages and holds to tick requests', async () => {
    const fake = await new FakeAlpaca({ faults: { down: true } }).start();
    const headers = { 'APCA-API-KEY-ID': fake.keyId, 'APCA-API-SECRET-KEY': fake.secretKey };
    try {
      const res = await fetch(`${fake.url}/v2/stocks/quotes?symbols=AAPL&start=2024-03-08T00:00:00Z`, { headers });
      expect(res.status).toBe(503);
    } finally {
      await fake.stop();
    }
    const holding = await new FakeAlpaca().start();
    try {
      const held = holding.holdAfter(1);
      const url = `${holding.url}/v2/stocks/AAPL/trades?start=2024-03-08T00:00:00Z&end=2024-03-08T23:00:00Z&limit=10`;
      expect((await fetch(url, { headers })).status).toBe(200);
      const stuck = fetch(url, { headers }).then(() => 'answered', () => 'cut off');
      await held;
      holding.dropHeld();
      expect(await stuck).toBe('cut off');
      expect(holding.tradeRequests.map((r) => r.status)).toEqual([200, -3]);
    } finally {
      await holding.stop();
    }
  });
});
