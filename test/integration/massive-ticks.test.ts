/**
 * Trades and quotes from Massive over REST: the built CLI (and the source itself) against the
 * loopback fake. Every stored row is compared with what the fake served, nanoseconds and 64-bit ids
 * included, in the fake's order.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TEXT_CODES } from '../../src/lake/text-codes.js';
import type { TradeColumns } from '../../src/lake/schema.js';
import { addDays, nyMidnightUtc } from '../../src/shared/time.js';
import { massiveSource } from '../../src/sources/massive/rest.js';
import { FakeMassive, type FakeMassiveOptions, type MassiveQuote, type MassiveTrade } from '../support/fake-massive.js';
import { quietSourceContext } from '../support/source-context.js';
import { type CliResult, listFiles, runCli, tempDir } from '../support/cli.js';
import { query, readTicks, type TickRow as Row } from '../support/lake.js';
import { storedQuote as quoteRow, storedTrade as tradeRow } from '../support/massive-ticks.js';

const fakes: FakeMassive[] = [];
async function serve(options: FakeMassiveOptions): Promise<FakeMassive> {
  const fake = await new FakeMassive(options).start();
  fakes.push(fake);
  return fake;
}
afterEach(async () => {
  await Promise.all(fakes.splice(0).map((f) => f.stop()));
});

const TIMEOUT = 120_000;
const env = (fake: FakeMassive, extra: Record<string, string> = {}) => ({ MASSIVE_API_KEY: fake.apiKey, MASSIVE_API_URL: fake.url, ...extra });
/** The free plan's 5 requests a minute would make tests wait: the fake has no limit unless asked. */
const fast = ['--rate-limit', '60000', '--retry-delay', '20'];
const args = (out: string, kind: 'trades' | 'quotes', start: string, end: string, ...symbols: string[]) => [
  'symbols', ...symbols, '--source', 'massive', '--data', kind, '--start', start, '--end', end, '--out', out, ...fast,
];
const window = (start: string, end: string): [number, number] => [nyMidnightUtc(start), nyMidnightUtc(addDays(end, 1))];
const ok = (r: CliResult): void => expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
const TWO_POW_53 = 2n ** 53n;

/** No file under the storage directory and no output holds the key. */
function expectNoKey(fake: FakeMassive, out: string, ...results: CliResult[]): void {
  for (const f of listFiles(out)) expect(fs.readFileSync(path.join(out, f)).includes(fake.apiKey), f).toBe(false);
  for (const r of results) expect(r.stdout + r.stderr).not.toContain(fake.apiKey);
}

describe('trades and quotes from Massive REST (fake server)', () => {
  it('stores every trade exactly as served (nanoseconds, 64-bit ids, codes as text), paging through next_url with the key only in a header; a rerun fetches nothing', async () => {
    // 1,200 trades a symbol-day in pages of 500: three pages each, the later ones through next_url.
    const fake = await serve({ ticksPerDay: { trades: 1_200 }, tickPageRows: 500 });
    const out = tempDir();
    const r = await runCli([...args(out, 'trades', '2024-03-07', '2024-03-08', 'MSFT', 'AAPL'), '--json'], env(fake));
    ok(r);
    expect(JSON.parse(r.stdout)).toMatchObject({ kind: 'trades', source: 'massive', rows: 4_800, partitions: 4, complete: true });
    expect(fake.tradeRequests).toHaveLength(12);
    expect(fake.log.every((q) => q.auth === 'bearer' && !('apiKey' in q.query) && q.status === 200)).toBe(true);
    const first = fake.tradeRequests.filter((q) => q.query.cursor === undefined);
    expect(first.map((q) => q.path).sort()).toEqual(['/v3/trades/AAPL', '/v3/trades/AAPL', '/v3/trades/MSFT', '/v3/trades/MSFT']);
    const [start, end] = window('2024-03-07', '2024-03-07');
    expect(first.find((q) => q.path === '/v3/trades/AAPL' && q.query['timestamp.gte'] === `${start}000000`)?.query).toEqual({
      'timestamp.gte': `${start}000000`,
      'timestamp.lt': `${end}000000`,
      order: 'asc',
      sort: 'timestamp',
      limit: '50000',
    });
    expect(fake.tradeRequests.filter((q) => Object.keys(q.query).join() === 'cursor')).toHaveLength(8);

    const lake = await readTicks(out, 'equities_trades', 'trades');
    const served = new Map(['AAPL', 'MSFT'].map((s) => [s, fake.expectedTrades(s, ...window('2024-03-07', '2024-03-08'))]));
    for (const [s, trades] of served) expect(lake.get(s), s).toEqual(trades.map(tradeRow));
    // The awkward cases were all served: ids beyond 2^53, corrections (and explicit zeros), no conditions, TRF stamps.
    const all = [...served.values()].flat();
    expect(all.some((t) => BigInt(t.id) > TWO_POW_53 && BigInt(t.id) % 2n === 1n)).toBe(true);
    expect(all.some((t) => BigInt(t.id) > 2n ** 63n)).toBe(true);
    expect(all.some((t) => t.correction === 0) && all.some((t) => t.correction !== undefined && t.correction > 0)).toBe(true);
    expect(all.some((t) => t.conditions === undefined) && all.some((t) => t.trf_timestamp !== undefined)).toBe(true);
    expect(all.some((t, i) => i > 0 && t.sip_timestamp === all[i - 1].sip_timestamp)).toBe(true);
    expectNoKey(fake, out, r);

    // The same range again: nothing fetched, nothing rewritten.
    const requests = fake.log.length;
    const files = listFiles(out).map((f) => [f, fs.statSync(path.join(out, f)).mtimeMs]);
    const again = await runCli([...args(out, 'trades', '2024-03-07', '2024-03-08', 'MSFT', 'AAPL'), '--json'], env(fake));
    ok(again);
    expect(JSON.parse(again.stdout)).toMatchObject({ rows: 0, upToDate: 2 });
    expect(fake.log.length).toBe(requests);
    const after = new Map(listFiles(out).map((f) => [f, fs.statSync(path.join(out, f)).mtimeMs]));
    for (const [f, mtime] of files) if (String(f).endsWith('.parquet')) expect(after.get(String(f)), String(f)).toBe(mtime);
    expectNoKey(fake, out, again);
  }, TIMEOUT);

  it('stores quotes as served (sizes unscaled), an absent or 0 side exchange as NULL', async () => {
    const fake = await serve({ ticksPerDay: { quotes: 900 }, tickPageRows: 400 });
    const out = tempDir();
    // A Friday before and a Monday after 2025-11-03, when the SIPs moved quote sizes from lots to shares.
    const r = await runCli(args(out, 'quotes', '2025-10-31', '2025-11-03', 'AAPL', 'BRK.B'), env(fake));
    ok(r);
    const lake = await readTicks(out, 'equities_quotes', 'quotes');
    const all: MassiveQuote[] = [];
    for (const s of ['AAPL', 'BRK.B']) {
      const served = fake.expectedQuotes(s, ...window('2025-10-31', '2025-11-03'));
      expect(served).toHaveLength(1_800);
      expect(lake.get(s), s).toEqual(served.map(quoteRow));
      all.push(...served);
    }
    expect(all.some((q) => q.bid_exchange === undefined) && all.some((q) => q.ask_exchange === 0)).toBe(true);
    expect(fake.quoteRequests.some((q) => q.query.cursor !== undefined)).toBe(true);
    expectNoKey(fake, out, r);
    const verify = await runCli(['verify', '--out', out], {});
    expect(verify.code, verify.stdout).toBe(0);
  }, TIMEOUT);

  it('rides out 429s and server errors and ends exact', async () => {
    const fake = await serve({ ticksPerDay: { trades: 600 }, tickPageRows: 250, faults: { serverErrorRate: 0.25, storm: { count: 3 } } });
    const out = tempDir();
    const r = await runCli([...args(out, 'trades', '2024-03-07', '2024-03-08', 'NVDA'), '--json'], env(fake));
    ok(r);
    expect(JSON.parse(r.stdout).retries).toBeGreaterThan(0);
    expect(fake.log.filter((q) => q.status === 429).length).toBeGreaterThanOrEqual(3);
    expect(fake.log.some((q) => q.status >= 500)).toBe(true);
    expect((await readTicks(out, 'equities_trades', 'trades')).get('NVDA')).toEqual(fake.expectedTrades('NVDA', ...window('2024-03-07', '2024-03-08')).map(tradeRow));
  }, TIMEOUT);

  it('stops with exit 3 on a rejected key, and with the plan hint when the plan has no quotes', async () => {
    const fake = await serve({ ticksNotEntitled: ['quotes'] });
    const out = tempDir();
    const wrong = await runCli(args(out, 'trades', '2024-03-07', '2024-03-07', 'AAPL'), env(fake, { MASSIVE_API_KEY: 'not-the-key' }));
    expect(wrong.code).toBe(3);
    expect(wrong.stdout + wrong.stderr).toMatch(/rejected the API key \(HTTP 401: Unknown API Key/);
    expect(wrong.stdout + wrong.stderr).not.toContain('not-the-key');
    const quotes = await runCli(args(out, 'quotes', '2024-03-07', '2024-03-07', 'AAPL'), env(fake));
    expect(quotes.code).toBe(3);
    expect(quotes.stdout + quotes.stderr).toMatch(/not entitled to this data[\s\S]*quotes from the Advanced plan/);
    expectNoKey(fake, out, quotes);
  }, TIMEOUT);

  it('the fake keeps Massive’s defaults: newest first, 1,000 rows a page, a date naming its New York day; bad parameters are 400', async () => {
    const fake = await serve({ ticksPerDay: { trades: 2_500 } });
    const get = async (query: string, key = fake.apiKey) => {
      const res = await fetch(`${fake.url}/v3/trades/AAPL?${query}`, { headers: key ? { Authorization: `Bearer ${key}` } : {} });
      // Stamps beyond 2^53 quoted before JSON.parse can round them.
      return { status: res.status, body: JSON.parse((await res.text()).replace(/"(\w+_timestamp)":(\d+)/g, '"$1":"$2"')) as { results?: { sip_timestamp: string }[]; next_url?: string } };
    };
    const day = fake.expectedTrades('AAPL', ...window('2024-03-07', '2024-03-07')).map((t) => t.sip_timestamp.toString());
    const newest = await get('timestamp=2024-03-07');
    expect(newest.body.results!.map((t) => t.sip_timestamp)).toEqual(day.slice(-1_000).reverse());
    expect(newest.body.next_url).toMatch(/^https:\/\/api\.massive\.com\/v3\/trades\/AAPL\?cursor=[\w-]+$/);
    const next = await get(new URL(newest.body.next_url!).search.slice(1));
    expect(next.body.results!.map((t) => t.sip_timestamp)).toEqual(day.slice(-2_000, -1_000).reverse());
    const bounded = await get(`timestamp.gt=${day[9]}&timestamp.lte=${day[20]}&order=asc`);
    expect(bounded.body.results!.map((t) => t.sip_timestamp)).toEqual(day.filter((t) => BigInt(t) > BigInt(day[9]) && BigInt(t) <= BigInt(day[20])));
    for (const bad of ['limit=50001', 'limit=0', 'order=up', 'sort=price', 'timestamp=yesterday', 'ticker=AAPL']) expect((await get(bad)).status, bad).toBe(400);
    expect((await get('timestamp=2024-03-07', '')).status).toBe(401);
  }, TIMEOUT);

  it('fetches a request of several symbols one after another, in the request order, each oldest first', async () => {
    const fake = await serve({ ticksPerDay: { trades: 700 }, tickPageRows: 300 });
    const source = massiveSource.create(quietSourceContext(env(fake), path.join(os.tmpdir(), 'unused-scratch')));
    const symbols = ['MSFT', 'AAPL'];
    const [start, end] = window('2024-03-07', '2024-03-08');
    const rows: [string, string, string][] = [];
    let last: TradeColumns | undefined;
    for await (const batch of source.fetchTicks!({ kind: 'trades', symbols, start, end, feed: undefined, scratch: path.join(os.tmpdir(), 'unused-scratch') }, new AbortController().signal, () => last)) {
      last = batch as TradeColumns;
      for (let i = 0; i < last.length; i++) rows.push([symbols[last.symbol[i]], last.time[i].toString(), TEXT_CODES.values[last.exchange[i]]!]);
    }
    const expected = symbols.flatMap((s) => fake.expectedTrades(s, start, end).map((t): [string, string, string] => [s, t.sip_timestamp.toString(), String(t.exchange)]));
    expect(rows).toEqual(expected);
    expect(fake.tradeRequests.map((q) => q.path.split('/')[3])).toEqual([...Array(5).fill('MSFT'), ...Array(5).fill('AAPL')]);
  }, TIMEOUT);
});
