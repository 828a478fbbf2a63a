/** End to end: the built CLI against the loopback fake, checked through DuckDB. */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTimeframe } from '../../src/shared/timeframe.js';
import { addDays, nyMidnightUtc } from '../../src/shared/time.js';
import { DEFAULT_FAKE_SYMBOLS, FakeAlpaca } from '../support/fake-alpaca.js';
import { fakeEnv, listFiles, runCli, tempDir } from '../support/cli.js';
import { query, readLake } from '../support/lake.js';

const tf = (s: string) => parseTimeframe(s)!;
const range = (start: string, end: string) => [nyMidnightUtc(start), nyMidnightUtc(addDays(end, 1)) - 1] as const;

let fake: FakeAlpaca;
beforeAll(async () => {
  fake = await new FakeAlpaca().start();
});
afterAll(async () => {
  await fake.stop();
});

async function expectLakeEquals(storage: string, dataset: string, symbols: string[], timeframe: string, start: string, end: string): Promise<void> {
  const lake = await readLake(storage, dataset);
  for (const symbol of symbols) {
    const expected = fake.expectedBars(symbol, tf(timeframe), ...range(start, end));
    expect(lake.get(symbol) ?? [], `${symbol} bars`).toEqual(expected);
  }
}

describe('ingest from Alpaca (fake server)', () => {
  it('writes exactly the server data for a daily multi-symbol run, one file per partition', async () => {
    const out = tempDir();
    const symbols = ['AAPL', 'MSFT', 'BRK.B', 'NVDA'];
    const r = await runCli(['symbols', 'aapl', 'MSFT', 'brk/b', 'NVDA', '--start', '2023-01-03', '--end', '2024-03-28', '--out', out], fakeEnv(fake));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    await expectLakeEquals(out, 'equities_1day', symbols, '1Day', '2023-01-03', '2024-03-28');
    const files = listFiles(path.join(out, 'equities_1day'));
    // Daily bars: one file per symbol-year.
    expect(files).toEqual(symbols.sort().flatMap((s) => [`symbol=${s}/year=2023/data.parquet`, `symbol=${s}/year=2024/data.parquet`]));
    const meta = JSON.parse(fs.readFileSync(path.join(out, 'metadata/datasets/equities_1day.json'), 'utf8'));
    expect(meta).toMatchObject({ kind: 'bars', source: 'alpaca', feed: 'sip', adjustment: 'raw', timeframe: '1Day', synthetic: false, partition: 'year' });
  });

  it('follows page tokens across symbols for minute bars and stores UTC instants sorted', async () => {
    const out = tempDir();
    const before = fake.barRequests.length;
    const r = await runCli(['symbols', 'AAPL', 'MSFT', '--start', '2024-01-02', '--end', '2024-02-09', '--timeframe', '1Min', '--out', out], fakeEnv(fake));
    expect(r.code).toBe(0);
    await expectLakeEquals(out, 'equities_1min', ['AAPL', 'MSFT'], '1Min', '2024-01-02', '2024-02-09');
    const pages = fake.barRequests.slice(before);
    expect(pages.length).toBeGreaterThan(2);
    expect(pages.every((p) => p.query.limit === '10000' && p.query.feed === 'sip' && p.query.adjustment === 'raw')).toBe(true);
    const [schema] = await query(`SELECT typeof("timestamp") AS ts, typeof(volume) AS v, typeof(vwap) AS vw FROM read_parquet('${out}/equities_1min/**/*.parquet') LIMIT 1`);
    expect(schema).toEqual({ ts: 'TIMESTAMP WITH TIME ZONE', v: 'BIGINT', vw: 'DOUBLE' });
    const unsorted = await query(
      `SELECT count(*) AS n FROM (SELECT "timestamp" < lag("timestamp") OVER (PARTITION BY filename ORDER BY file_row_number) AS bad
       FROM read_parquet('${out}/equities_1min/**/*.parquet', filename = true, file_row_number = true)) WHERE bad`,
    );
    expect(Number(unsorted[0].n)).toBe(0);
  });

  it('rerun leaves the lake unchanged and an overlapping range gives the union', async () => {
    const out = tempDir();
    const env = fakeEnv(fake);
    expect((await runCli(['symbols', 'AAPL', 'TSLA', '--start', '2024-01-02', '--end', '2024-02-15', '--timeframe', '15Min', '--out', out], env)).code).toBe(0);
    const snapshot = (await readLake(out, 'equities_15min'));
    const rerun = await runCli(['symbols', 'AAPL', 'TSLA', '--start', '2024-01-02', '--end', '2024-02-15', '--timeframe', '15Min', '--out', out, '--refetch'], env);
    expect(rerun.code).toBe(0);
    expect(await readLake(out, 'equities_15min')).toEqual(snapshot);
    expect((await runCli(['symbols', 'AAPL', 'TSLA', '--start', '2024-02-01', '--end', '2024-03-28', '--timeframe', '15Min', '--out', out], env)).code).toBe(0);
    await expectLakeEquals(out, 'equities_15min', ['AAPL', 'TSLA'], '15Min', '2024-01-02', '2024-03-28');
  });

  it('skips symbols that are not Alpaca assets, reports no data, exits 0; isolates a symbol the server rejects', async () => {
    const strict = await new FakeAlpaca({ rejectSymbols: ['BADX'], symbols: { ...DEFAULT_FAKE_SYMBOLS, BADX: {} } }).start();
    try {
      const out = tempDir();
      const r = await runCli(['symbols', 'AAPL', 'ZZZZ', 'NEWCO', '--start', '2024-01-02', '--end', '2024-01-31', '--out', out], fakeEnv(strict));
      expect(r.code).toBe(0);
      expect(r.stderr).toMatch(/ZZZZ: not listed by alpaca/);
      expect(r.stdout).toMatch(/NEWCO: no data/); // listed 2024-02-15
      expect(strict.barRequests.every((q) => !q.query.symbols?.includes('ZZZZ'))).toBe(true);
      const r2 = await runCli(['symbols', 'AAPL', 'BADX', 'MSFT', '--start', '2024-01-02', '--end', '2024-01-31', '--out', out, '--json'], fakeEnv(strict));
      expect(r2.code).toBe(1);
      const summary = JSON.parse(r2.stdout);
      expect(summary.symbols.find((s: { symbol: string }) => s.symbol === 'BADX')).toMatchObject({ outcome: 'failed' });
      expect(summary.succeeded).toBe(1); // MSFT; AAPL was covered by the first run
      expect(summary.upToDate).toBe(1);
      const lake = await readLake(out, 'equities_1day');
      expect(lake.get('MSFT')).toEqual(strict.expectedBars('MSFT', tf('1Day'), ...range('2024-01-02', '2024-01-31')));
    } finally {
      await strict.stop();
    }
  });

  it('refuses another feed in the same dataset with exit 2 and a hint', async () => {
    const out = tempDir();
    expect((await runCli(['symbols', 'AAPL', '--start', '2024-01-02', '--end', '2024-01-05', '--out', out], fakeEnv(fake))).code).toBe(0);
    const r = await runCli(['symbols', 'AAPL', '--start', '2024-01-02', '--end', '2024-01-05', '--out', out, '--feed', 'iex'], fakeEnv(fake));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--dataset/);
    const ok = await runCli(['symbols', 'AAPL', '--start', '2024-01-02', '--end', '2024-01-05', '--out', out, '--feed', 'iex', '--dataset', 'equities_1day_iex'], fakeEnv(fake));
    expect(ok.code).toBe(0);
  });

  it('rejected credentials exit 3 after a handful of requests, and never print the secret', async () => {
    const out = tempDir();
    const before = fake.log.length;
    const r = await runCli(['symbols', 'AAPL', 'MSFT', 'NVDA', '--start', '2024-01-02', '--end', '2024-01-31', '--out', out, '--verbose'], {
      ...fakeEnv(fake),
      APCA_API_SECRET_KEY: 'wrong-secret-zzz999',
    });
    expect(r.code).toBe(3);
    expect(fake.log.length - before).toBeLessThanOrEqual(5);
    expect(r.stderr + r.stdout).toMatch(/APCA_API_KEY_ID/);
    expect(r.stderr + r.stdout).not.toContain('wrong-secret-zzz999');
    expect(listFiles(out).filter((f) => f.endsWith('.parquet'))).toEqual([]);
  });
});
