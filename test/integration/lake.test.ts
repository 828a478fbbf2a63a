/** The lake knows what it holds: ledger, incremental runs, gap filling, status, verify, query. */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTimeframe } from '../../src/shared/timeframe.js';
import { addDays, nyMidnightUtc } from '../../src/shared/time.js';
import { RunLock } from '../../src/run/lock.js';
import { FakeAlpaca, type LoggedRequest } from '../support/fake-alpaca.js';
import { type CliResult, fakeEnv, runCli, tempDir } from '../support/cli.js';
import { query, readLake } from '../support/lake.js';

let fake: FakeAlpaca;
beforeAll(async () => {
  fake = await new FakeAlpaca().start();
});
afterAll(async () => {
  await fake.stop();
});

const day = (d: string) => new Date(nyMidnightUtc(d)).toISOString();
const range = (start: string, end: string) => [nyMidnightUtc(start), nyMidnightUtc(addDays(end, 1)) - 1] as const;
const env = (extra: Record<string, string> = {}) => fakeEnv(fake, { DATA_ENGINE_START: '2024-01-02', ...extra });

/** Runs an ingest, which must exit 0, and returns the bar requests it made (and its result). */
async function ingestCounting(args: string[]): Promise<{ requests: LoggedRequest[]; result: CliResult }> {
  const before = fake.barRequests.length;
  const result = await runCli(args, env());
  expect(result.code, result.stderr).toBe(0);
  return { requests: fake.barRequests.slice(before), result };
}
const barRequestsOf = async (args: string[]): Promise<LoggedRequest[]> => (await ingestCounting(args)).requests;

describe('incremental runs and the ledger', () => {
  it('resumes from the covered end minus two sessions, and a current lake makes no requests', async () => {
    const out = tempDir();
    expect((await runCli(['symbols', 'AAPL', 'MSFT', '--end', '2024-03-28', '--out', out], env())).code).toBe(0);
    const ledger = fs.readFileSync(path.join(out, 'metadata/ledger/equities_1day.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(ledger.map((e) => e.symbol)).toEqual(['AAPL', 'MSFT']);
    expect(ledger[0]).toMatchObject({ last_outcome: 'ok', covered: [{ start: day('2024-01-02'), end: day('2024-03-29') }], first_bar: day('2024-01-02') });
    // 2024-03-29 is Good Friday: the last two sessions before the covered end are 03-27 and 03-28.
    const resumed = await barRequestsOf(['symbols', 'AAPL', 'MSFT', '--end', '2024-04-05', '--out', out]);
    expect(resumed.map((r) => r.query.start)).toEqual([day('2024-03-27')]);
    // A current lake costs no request (counted, not timed).
    const again = await ingestCounting(['symbols', 'AAPL', 'MSFT', '--end', '2024-04-05', '--out', out, '--json']);
    expect(JSON.parse(again.result.stdout).upToDate).toBe(2);
    expect(again.requests).toEqual([]);
    const lake = await readLake(out, 'equities_1day');
    expect(lake.get('AAPL')).toEqual(fake.expectedBars('AAPL', parseTimeframe('1Day')!, ...range('2024-01-02', '2024-04-05')));
  });

  it('--lookback changes the correction window', async () => {
    const out = tempDir();
    expect((await runCli(['symbols', 'AAPL', '--end', '2024-03-15', '--out', out], env())).code).toBe(0);
    const resumed = await barRequestsOf(['symbols', 'AAPL', '--end', '2024-03-22', '--out', out, '--lookback', '5']);
    expect(resumed.map((r) => r.query.start)).toEqual([day('2024-03-11')]);
  });

  it('fills the gap left by a deleted partition and fetches only that month', async () => {
    const out = tempDir();
    const args = ['symbols', 'AAPL', 'MSFT', '--start', '2024-01-02', '--end', '2024-04-30', '--timeframe', '1Hour', '--out', out];
    expect((await runCli(args, env())).code).toBe(0);
    const snapshot = await readLake(out, 'equities_1hour');
    fs.rmSync(path.join(out, 'equities_1hour/symbol=AAPL/year=2024/month=02'), { recursive: true });
    const refill = await barRequestsOf(args);
    expect(refill).toHaveLength(1);
    expect(refill[0].query.symbols).toBe('AAPL');
    expect(Date.parse(refill[0].query.start)).toBeLessThanOrEqual(Date.parse('2024-02-01T00:00:00Z'));
    expect(Date.parse(refill[0].query.start)).toBeGreaterThan(Date.parse('2024-01-30T00:00:00Z'));
    expect(Date.parse(refill[0].query.end)).toBeLessThan(Date.parse('2024-03-02T00:00:00Z'));
    expect(await readLake(out, 'equities_1hour')).toEqual(snapshot);
    expect(await barRequestsOf(args)).toEqual([]);
  });

  it('never re-requests ranges that returned no data; --refetch does', async () => {
    const out = tempDir();
    const args = ['symbols', 'NEWCO', '--start', '2024-01-02', '--end', '2024-03-28', '--out', out];
    expect((await runCli(args, env())).code).toBe(0);
    expect(await barRequestsOf(args)).toEqual([]);
    expect(await barRequestsOf([...args, '--refetch'])).toHaveLength(1);
    const lake = await readLake(out, 'equities_1day');
    expect(lake.get('NEWCO')).toEqual(fake.expectedBars('NEWCO', parseTimeframe('1Day')!, ...range('2024-01-02', '2024-03-28')));
  });

  it('fetches the history of inactive symbols and marks them inactive; caches calendar and assets', async () => {
    const out = tempDir();
    const file = path.join(tempDir(), 'idx.txt');
    fs.writeFileSync(file, 'AAPL\nOLDCO\n');
    const r = await runCli(['file', file, '--start', '2024-01-02', '--end', '2024-03-28', '--out', out], env());
    expect(r.code).toBe(0);
    expect((await readLake(out, 'equities_1day')).get('OLDCO')).toEqual(fake.expectedBars('OLDCO', parseTimeframe('1Day')!, ...range('2024-01-02', '2024-03-28')));
    expect(fs.readFileSync(path.join(out, 'metadata/indices/idx.csv'), 'utf8')).toMatch(/OLDCO,\d{4}-\d{2}-\d{2},\d{4}-\d{2}-\d{2},true,true/);
    expect(fs.readFileSync(path.join(out, 'metadata/ledger/equities_1day.jsonl'), 'utf8')).toMatch(/"symbol":"OLDCO".*"inactive":true/);
    expect(fs.existsSync(path.join(out, 'metadata/cache/alpaca/calendar.json'))).toBe(true);
    expect(fs.existsSync(path.join(out, 'metadata/cache/alpaca/listings.json'))).toBe(true);
    const trading = fake.log.length;
    expect((await runCli(['symbols', 'AAPL', '--start', '2024-01-02', '--end', '2024-04-30', '--out', out], env())).code).toBe(0);
    // The calendar and asset list are cached; bars and corporate actions are asked for each run.
    expect(fake.log.slice(trading).filter((l) => !l.path.includes('/bars') && !l.path.includes('/corporate-actions'))).toEqual([]);
  });
});

describe('status, verify and query', () => {
  let out: string;
  beforeAll(async () => {
    out = tempDir();
    // Monthly files, so the tests below can plant defects in single months.
    expect((await runCli(['symbols', 'AAPL', 'MSFT', 'TSLA', '--start', '2024-01-02', '--end', '2024-04-30', '--out', out, '--partition', 'month'], env())).code).toBe(0);
  });

  it('status reports what the dataset holds, even while an ingest holds the lock', async () => {
    const lock = await RunLock.acquire(out);
    try {
      const r = await runCli(['status', '--out', out, '--json'], {});
      expect(r.code).toBe(0);
      const [d] = JSON.parse(r.stdout).datasets;
      expect(d).toMatchObject({ dataset: 'equities_1day', feed: 'sip', adjustment: 'raw', symbols: 3, partitions: 12, failed: [], gaps: [] });
      expect(d.rows).toBe(3 * 83);
      expect(d.first_bar).toBe('2024-01-02T05:00:00Z');
      expect(d.size_bytes).toBeGreaterThan(0);
      const one = await runCli(['status', '--out', out, '--symbol', 'aapl'], {});
      expect(one.code).toBe(0);
      expect(one.stdout).toMatch(/\n\s+AAPL\s+2024-01-02T05:00:00Z\s+2024-04-30T04:00:00Z\s+83\s+4\s+ok\n/);
    } finally {
      await lock.release();
    }
  });

  it('query runs SQL over dataset views in UTC; a SQL error exits 2', async () => {
    const r = await runCli(['query', "SELECT symbol, count(*) AS n, min(month) AS m FROM equities_1day WHERE year = 2024 GROUP BY symbol ORDER BY symbol", '--out', out, '--format', 'csv'], {});
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe('symbol,n,m\nAAPL,83,1\nMSFT,83,1\nTSLA,83,1');
    const json = await runCli(['query', 'SELECT count(*) AS n FROM equities_1day', '--out', out, '--format', 'json'], {});
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual([{ n: 249 }]);
    const bad = await runCli(['query', 'SELECT nope FROM equities_1day', '--out', out], {});
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/Binder Error/);
    const write = await runCli(['query', "COPY (SELECT 1) TO '/tmp/x.csv'", '--out', out], {});
    expect(write.code).toBe(2);
  });

  it('verify passes on a clean lake and names each planted defect', async () => {
    const lake = tempDir();
    expect((await runCli(['symbols', 'AAPL', 'MSFT', 'TSLA', 'NVDA', '--start', '2024-01-02', '--end', '2024-04-30', '--out', lake, '--partition', 'month'], env())).code).toBe(0);
    const clean = await runCli(['verify', '--out', lake], {});
    expect(clean.stdout).toMatch(/verify: clean/);
    expect(clean.code).toBe(0);
    const ds = path.join(lake, 'equities_1day');
    const part = (s: string, m: string) => path.join(ds, `symbol=${s}`, 'year=2024', `month=${m}`, 'data.parquet');
    // A duplicate file beside a partition.
    fs.copyFileSync(part('AAPL', '01'), path.join(path.dirname(part('AAPL', '01')), 'data_0.parquet'));
    // An unsorted file and a row in the wrong partition, rewritten with DuckDB.
    await query(`COPY (SELECT * FROM read_parquet('${part('MSFT', '02')}') ORDER BY "timestamp" DESC) TO '${part('MSFT', '02')}.new' (FORMAT parquet)`);
    fs.renameSync(`${part('MSFT', '02')}.new`, part('MSFT', '02'));
    await query(`COPY (SELECT * FROM read_parquet(['${part('TSLA', '03')}', '${part('TSLA', '04')}']) ORDER BY "timestamp") TO '${part('TSLA', '03')}.new' (FORMAT parquet)`);
    fs.renameSync(`${part('TSLA', '03')}.new`, part('TSLA', '03'));
    // A corrupt file.
    fs.writeFileSync(part('NVDA', '01'), 'PAR1 not really');
    const r = await runCli(['verify', '--out', lake, '--json'], {});
    expect(r.code).toBe(1);
    const findings = JSON.parse(r.stdout).datasets[0].findings.filter((f: { severity: string }) => f.severity === 'defect');
    const has = (check: string, subject: RegExp) => findings.some((f: { check: string; subject: string }) => f.check === check && subject.test(f.subject));
    expect(has('one-file-per-partition', /symbol=AAPL\/year=2024\/month=01\/data_0\.parquet/)).toBe(true);
    expect(has('sorted', /symbol=MSFT\/year=2024\/month=02/)).toBe(true);
    expect(has('partition', /symbol=TSLA\/year=2024\/month=03/)).toBe(true);
    expect(has('no-duplicates', /TSLA/)).toBe(true);
    expect(has('readable', /symbol=NVDA\/year=2024\/month=01/)).toBe(true);
  });

  it('verify reports covered sessions missing from the data', async () => {
    const lake = tempDir();
    expect((await runCli(['symbols', 'AAPL', '--start', '2024-01-02', '--end', '2024-03-28', '--out', lake], env())).code).toBe(0);
    const file = path.join(lake, 'equities_1day/symbol=AAPL/year=2024/data.parquet');
    await query(`COPY (SELECT * FROM read_parquet('${file}') WHERE "timestamp" <> TIMESTAMPTZ '2024-02-14 05:00:00+00' ORDER BY "timestamp") TO '${file}.new' (FORMAT parquet)`);
    fs.renameSync(`${file}.new`, file);
    const r = await runCli(['verify', '--out', lake], {});
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/\[missing-sessions\] AAPL: 1 covered session\(s\) with no bar: 2024-02-14/);
  });
});

describe('optional provider metadata', () => {
  it('a trading host without calendar or assets costs a warning and a rule calendar, not the run', async () => {
    const broken = await new FakeAlpaca().start();
    // A trading host that drops every connection, counting what it is asked.
    const asked: string[] = [];
    const dead = http.createServer((req) => {
      asked.push(req.url ?? '');
      req.socket.destroy();
    });
    await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
    try {
      const out = tempDir();
      const r = await runCli(['symbols', 'AAPL', 'ZZZZ', '--start', '2024-01-02', '--end', '2024-01-31', '--out', out, '--retry-delay', '50'], {
        ...fakeEnv(broken),
        APCA_API_BASE_URL: `http://127.0.0.1:${(dead.address() as AddressInfo).port}`,
      });
      expect(r.code).toBe(0);
      // The optional requests give up quickly: two attempts each (counted, not timed).
      expect(asked.some((u) => u.startsWith('/v2/calendar')) && asked.some((u) => u.startsWith('/v2/assets'))).toBe(true);
      const attempts = new Map<string, number>();
      for (const u of asked) attempts.set(u, (attempts.get(u) ?? 0) + 1);
      expect([...attempts.values()].every((n) => n <= 2), JSON.stringify([...attempts])).toBe(true);
      expect(r.stderr).toMatch(/could not load the alpaca calendar.*continuing without it/);
      expect(r.stdout).toMatch(/ZZZZ: no data/);
      expect((await readLake(out, 'equities_1day')).get('AAPL')).toEqual(broken.expectedBars('AAPL', parseTimeframe('1Day')!, ...range('2024-01-02', '2024-01-31')));
    } finally {
      dead.closeAllConnections();
      await new Promise<void>((resolve) => dead.close(() => resolve()));
      await broken.stop();
    }
  });
});
