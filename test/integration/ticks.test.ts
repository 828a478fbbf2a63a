/**
 * Trades and quotes end to end: the real CLI and library against the loopback Alpaca fake, and the
 * synthetic source offline. Every stored row is compared with what the fake served, nanoseconds and
 * 64-bit ids included, in the fake's order (ties in the provider's order).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { IngestionPipeline, UsageError } from '../../src/index.js';
import { addDays, nyMidnightUtc } from '../../src/shared/time.js';
import { FakeAlpaca, type FakeOptions } from '../support/fake-alpaca.js';
import { type WireQuote, type WireTrade, wireTimeToNs } from '../support/fake-ticks.js';
import { type CliResult, fakeEnv, listFiles, ROOT, runCli, startCli, tempDir } from '../support/cli.js';
import { query, readTicks, type TickRow as Row } from '../support/lake.js';

const fakes: FakeAlpaca[] = [];
async function serve(options: FakeOptions): Promise<FakeAlpaca> {
  const fake = await new FakeAlpaca(options).start();
  fakes.push(fake);
  return fake;
}
afterEach(async () => {
  await Promise.all(fakes.splice(0).map((f) => f.stop()));
});

const TIMEOUT = 120_000;
const window = (start: string, end: string): [number, number] => [nyMidnightUtc(start), nyMidnightUtc(addDays(end, 1))];

/** Quote sizes were round lots before this New York date; the lake stores shares. */
const SHARES_FROM = '2025-11-03';



const tradeRow = (t: WireTrade): Row => [wireTimeToNs(t.t).toString(), t.p, t.s, t.x, BigInt.asUintN(64, t.i).toString(), t.c, t.z, t.u ?? null];

function quoteRow(q: WireQuote): Row {
  const lots = new Date(Number(wireTimeToNs(q.t) / 1_000_000n)).toLocaleDateString('en-CA', { timeZone: 'America/New_York' }) < SHARES_FROM ? 100 : 1;
  const exchange = (x: string): string | null => (x === ' ' ? null : x);
  return [wireTimeToNs(q.t).toString(), q.bp, q.bs * lots, exchange(q.bx), q.ap, q.as * lots, exchange(q.ax), q.c, q.z];
}

async function expectTradesExact(fake: FakeAlpaca, out: string, symbols: string[], start: string, end: string, dataset = 'equities_trades'): Promise<number> {
  const lake = await readTicks(out, dataset, 'trades');
  let rows = 0;
  for (const s of symbols) {
    const expected = fake.expectedTrades(s, ...window(start, end)).map(tradeRow);
    expect(lake.get(s) ?? [], s).toEqual(expected);
    rows += expected.length;
  }
  return rows;
}

function dayFiles(out: string, dataset: string): string[] {
  return listFiles(path.join(out, dataset));
}

function versions(out: string, dataset: string): string[] {
  return dayFiles(out, dataset).map((f) => {
    const st = fs.statSync(path.join(out, dataset, f));
    return `${f}@${st.ino}:${st.mtimeMs}`;
  });
}

const ok = (r: CliResult): void => expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);

describe('trades and quotes from Alpaca', () => {
  it('stores every trade exactly as served (nanoseconds, 64-bit ids, ties in order), one file per symbol-day; a rerun changes nothing', async () => {
    // 7,000 trades a symbol-day: a unit's first page (10,000 rows) ends inside its second symbol.
    const fake = await serve({ ticksPerDay: { trades: 7_000 } });
    const out = tempDir();
    // One worker: a day's two symbols share a unit, so its requests name both.
    const args = ['symbols', 'MSFT', 'AAPL', '--data', 'trades', '--start', '2024-03-07', '--end', '2024-03-08', '--threads', '1', '--out', out, '--json'];
    const r = await runCli(args, fakeEnv(fake));
    ok(r);
    const summary = JSON.parse(r.stdout) as { kind: string; rows: number; partitions: number; complete: boolean };
    expect(summary).toMatchObject({ kind: 'trades', rows: 28_000, partitions: 4, complete: true });
    // Both symbols in one request, paged with tokens.
    expect(fake.tradeRequests.every((q) => q.query.symbols.split(',').sort().join(',') === 'AAPL,MSFT' && q.query.feed === 'sip')).toBe(true);
    expect(fake.tradeRequests.some((q) => q.query.page_token !== undefined)).toBe(true);
    expect(dayFiles(out, 'equities_trades')).toEqual([
      'symbol=AAPL/year=2024/month=03/day=07/data.parquet',
      'symbol=AAPL/year=2024/month=03/day=08/data.parquet',
      'symbol=MSFT/year=2024/month=03/day=07/data.parquet',
      'symbol=MSFT/year=2024/month=03/day=08/data.parquet',
    ]);
    expect(await expectTradesExact(fake, out, ['AAPL', 'MSFT'], '2024-03-07', '2024-03-08')).toBe(28_000);

    // No truncation to microseconds anywhere: a stored value with sub-microsecond digits equals the wire's.
    const served = fake.expectedTrades('AAPL', ...window('2024-03-07', '2024-03-07'));
    const fine = served.find((t) => wireTimeToNs(t.t) % 1000n !== 0n)!;
    const stored = await query(`SELECT epoch_ns("timestamp")::VARCHAR AS ns FROM read_parquet('${out}/equities_trades/symbol=AAPL/**/*.parquet') WHERE epoch_ns("timestamp") = ${wireTimeToNs(fine.t)}`);
    expect(stored.map((s) => s.ns)).toContain(wireTimeToNs(fine.t).toString());
    expect(served.some((t) => t.i > 2n ** 53n)).toBe(true);

    // The README's DuckDB example: per-minute VWAP of valid trades, from the files alone.
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const sql = /## Trades and quotes[\s\S]*?```sql\n([\s\S]*?)```/.exec(readme)![1].replaceAll("'data/", `'${out}/`);
    const minutes = await query(`SELECT epoch_ms(minute) AS m, vwap, trades FROM (${sql.trim().replace(/;$/, '')}) ORDER BY m`);
    const byMinute = new Map<number, { value: number; size: number; trades: number }>();
    for (const t of served.filter((x) => x.u === undefined)) {
      const m = Math.floor(Number(wireTimeToNs(t.t) / 1_000_000n) / 60_000) * 60_000;
      const acc = byMinute.get(m) ?? { value: 0, size: 0, trades: 0 };
      byMinute.set(m, { value: acc.value + t.p * t.s, size: acc.size + t.s, trades: acc.trades + 1 });
    }
    expect(minutes.map((r) => [Number(r.m), Number(r.trades)])).toEqual([...byMinute].sort(([a], [b]) => a - b).map(([m, a]) => [m, a.trades]));
    minutes.forEach((r) => expect(r.vwap as number).toBeCloseTo(byMinute.get(Number(r.m))!.value / byMinute.get(Number(r.m))!.size, 9));

    // The same range again: nothing fetched, nothing rewritten.
    const before = versions(out, 'equities_trades');
    const requests = fake.tradeRequests.length;
    const again = await runCli(args, fakeEnv(fake));
    ok(again);
    expect(JSON.parse(again.stdout)).toMatchObject({ rows: 0, upToDate: 2 });
    expect(fake.tradeRequests.length).toBe(requests);
    expect(versions(out, 'equities_trades')).toEqual(before);
    // Overlapping ranges give the union of days.
    ok(await runCli([...args.slice(0, 5), '--start', '2024-03-08', '--end', '2024-03-11', ...args.slice(9, 13)], fakeEnv(fake)));
    await expectTradesExact(fake, out, ['AAPL', 'MSFT'], '2024-03-07', '2024-03-11');

    const verify = await runCli(['verify', '--out', out], {});
    expect(verify.code, verify.stdout).toBe(0);
    expect(verify.stdout).toMatch(/equities_trades: 6 files, 42,000 rows checked/);
    const status = await runCli(['status', '--out', out, '--json'], {});
    const report = JSON.parse(status.stdout) as { datasets: { kind: string; rows: number; partitions: number }[] };
    expect(report.datasets[0]).toMatchObject({ kind: 'trades', rows: 42_000, partitions: 6 });
  }, TIMEOUT);

  it('stores quotes as shares (round lots before 2025-11-03), a blank side as NULL, and verify reports crossed quotes as information', async () => {
    const fake = await serve({ ticksPerDay: { quotes: 3_000 } });
    const out = tempDir();
    ok(await runCli(['symbols', 'AAPL', '--data', 'quotes', '--start', '2025-10-31', '--end', '2025-11-03', '--out', out], fakeEnv(fake)));
    const lake = await readTicks(out, 'equities_quotes', 'quotes');
    const served = fake.expectedQuotes('AAPL', ...window('2025-10-31', '2025-11-03'));
    expect(lake.get('AAPL')).toEqual(served.map(quoteRow));
    expect(served.some((q) => q.bx === ' ' || q.ax === ' ')).toBe(true);
    const crossed = served.filter((q) => q.bp > q.ap && q.ap > 0).length;
    expect(crossed).toBeGreaterThan(0);
    const verify = await runCli(['verify', '--out', out], {});
    expect(verify.code, verify.stdout).toBe(0);
    expect(verify.stdout).toContain(`info [crossed-quotes] AAPL: ${crossed} row(s) crossed`);
    // The view types the day, and tags the session.
    const view = await runCli(['query', '--out', out, '--format', 'json', 'SELECT day, count(*)::INTEGER AS n, count(DISTINCT session)::INTEGER AS sessions FROM equities_quotes GROUP BY day ORDER BY day'], {});
    expect(JSON.parse(view.stdout)).toEqual([
      { day: 3, n: 3_000, sessions: 3 },
      { day: 31, n: 3_000, sessions: 3 },
    ]);
  }, TIMEOUT);

  it('replaces a day whole when the provider corrects it, and removes a day the provider no longer has', async () => {
    const fake = await serve({ ticksPerDay: { trades: 4_000 } });
    const out = tempDir();
    const base = ['symbols', 'AAPL', 'MSFT', '--data', 'trades', '--out', out];
    ok(await runCli([...base, '--start', '2024-03-06', '--end', '2024-03-08'], fakeEnv(fake)));
    const untouched = versions(out, 'equities_trades').filter((v) => v.includes('day=06'));
    fake.correctDay('trades', 'AAPL', '2024-03-07');
    fake.setTicks('trades', 'MSFT', '2024-03-07', []);
    ok(await runCli([...base, '--start', '2024-03-07', '--end', '2024-03-07', '--refetch'], fakeEnv(fake)));
    await expectTradesExact(fake, out, ['AAPL', 'MSFT'], '2024-03-06', '2024-03-08');
    expect(dayFiles(out, 'equities_trades')).not.toContain('symbol=MSFT/year=2024/month=03/day=07/data.parquet');
    expect(versions(out, 'equities_trades').filter((v) => v.includes('day=06'))).toEqual(untouched);
    // The removed day stays covered: verify and a rerun agree with the lake.
    const verify = await runCli(['verify', '--out', out], {});
    expect(verify.stdout).not.toMatch(/DEFECT/);
    const rerun = await runCli([...base, '--start', '2024-03-06', '--end', '2024-03-08', '--json'], fakeEnv(fake));
    expect(JSON.parse(rerun.stdout)).toMatchObject({ rows: 0, upToDate: 2 });
  }, TIMEOUT);

  it('kill -9 in the middle of a large day, then a rerun: every visible day is whole, the rerun exact', async () => {
    // 150,000 trades: 15 pages and three parts for the day, so the kill lands while parts are on disk.
    const fake = await serve({ ticksPerDay: { trades: 150_000 }, latencyMs: 5 });
    const out = tempDir();
    const args = ['symbols', 'AAPL', '--data', 'trades', '--start', '2024-03-07', '--end', '2024-03-07', '--out', out];
    const held = fake.holdAfter(8);
    const cli = startCli(args, fakeEnv(fake));
    await held;
    cli.child.kill('SIGKILL');
    expect((await cli.done).signal).toBe('SIGKILL');
    fake.dropHeld();
    // Nothing of the half-fetched day is visible; its parts are only in the staging area.
    expect(dayFiles(out, 'equities_trades')).toEqual([]);
    const r = await runCli(args, fakeEnv(fake));
    ok(r);
    expect(await expectTradesExact(fake, out, ['AAPL'], '2024-03-07', '2024-03-07')).toBe(150_000);
    expect(listFiles(path.join(out, '.staging'))).toEqual([]);
    expect(dayFiles(out, 'equities_trades')).toEqual(['symbol=AAPL/year=2024/month=03/day=07/data.parquet']);
  }, TIMEOUT);

  it('refuses options that mean nothing for ticks before any request', async () => {
    const fake = await serve({});
    const out = tempDir();
    for (const extra of [['--timeframe', '1Min'], ['--adjustment', 'split'], ['--partition', 'month'], ['--lookback', '3'], ['--no-actions']]) {
      const r = await runCli(['symbols', 'AAPL', '--data', 'trades', ...extra, '--out', out], fakeEnv(fake));
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`${extra[0]} means nothing for trades`));
    }
    // The dry run says what the requests take at the rate limit, a lower bound for ticks.
    const dry = await runCli(['symbols', 'AAPL', '--data', 'trades', '--start', '2024-03-04', '--end', '2024-03-08', '--dry-run', '--out', out], fakeEnv(fake));
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/at 200 requests\/min those requests take at least \d/);
    expect(fake.log).toHaveLength(0);
  }, TIMEOUT);
});

describe('trades and quotes offline (synthetic source, library API)', () => {
  it('ingests synthetic ticks per day, reports them, and a rerun is up to date', async () => {
    const out = tempDir();
    const pipeline = new IngestionPipeline({ source: 'synthetic', storageDir: out });
    await expect(pipeline.ingestSymbols(['AAPL'], { data: 'trades', timeframe: '1Min' })).rejects.toBeInstanceOf(UsageError);
    const result = await pipeline.ingestSymbols(['AAPL', 'SPY'], { data: 'quotes', start: '2024-07-01', end: '2024-07-05' });
    // 07-04 is a holiday, 07-03 an early close.
    expect(result).toMatchObject({ kind: 'quotes', dataset: 'equities_quotes', complete: true, partitions: 8, succeeded: 2 });
    expect(result.rows).toBeGreaterThan(8 * 3_000);
    const again = await pipeline.ingestSymbols(['AAPL', 'SPY'], { data: 'quotes', start: '2024-07-01', end: '2024-07-05' });
    expect(again).toMatchObject({ rows: 0, upToDate: 2 });
    // Another kind into this dataset is refused, naming the option that chooses the kind.
    await expect(pipeline.ingestSymbols(['AAPL'], { data: 'trades', dataset: 'equities_quotes', start: '2024-07-01', end: '2024-07-01' })).rejects.toThrow(
      /holds kind quotes, not trades: use --data quotes to add to it/,
    );
    const status = await pipeline.status();
    expect(status.datasets[0]).toMatchObject({ kind: 'quotes', rows: result.rows, partitions: 8 });
    const verify = await pipeline.verify();
    expect(verify.datasets[0].findings.filter((f) => f.severity === 'defect')).toEqual([]);
    const q = await pipeline.query("SELECT any_value(typeof(day)) AS t, count(DISTINCT day)::INTEGER AS days, min(timestamp)::VARCHAR AS first FROM equities_quotes WHERE symbol = 'AAPL'");
    expect(q.rows[0].slice(0, 2)).toEqual(['INTEGER', 4]);
    // Nanoseconds survive: the first stamp has more than six fraction digits.
    expect(String(q.rows[0][2])).toMatch(/^2024-07-01 \d\d:\d\d:\d\d\.\d{7,9}$/);
    // The lake's nanosecond instants come back as ISO-8601 UTC; a wall-clock TIMESTAMP is not labelled UTC.
    const instants = await pipeline.query("SELECT min(timestamp) AS first, timezone('America/New_York', min(timestamp)::TIMESTAMPTZ) AS ny FROM equities_quotes WHERE symbol = 'AAPL'");
    expect(instants.rows[0][0]).toBe(`${String(q.rows[0][2]).replace(' ', 'T')}Z`);
    expect(String(instants.rows[0][1])).not.toMatch(/Z$/);
    // A read-only statement may open with a parenthesis.
    const union = await pipeline.query("(SELECT 1 AS n) UNION ALL (SELECT count(*)::INTEGER FROM equities_quotes WHERE symbol = 'AAPL' AND day = 20240701)");
    expect(union.rows[0]).toEqual([1]);
  }, TIMEOUT);
});
