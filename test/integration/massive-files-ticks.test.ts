/**
 * Trades and quotes from Massive's flat files (`trades_v1`, `quotes_v1`): the real S3 SDK against the
 * loopback S3 fake, the built CLI, the lake read back through DuckDB. One file holds every ticker's
 * day, so a unit is a day for all the symbols wanting it; files are versioned by ETag.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import zlib from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeMassive } from '../support/fake-massive.js';
import { FakeS3, type FakeS3Options, QUOTES_FILE_HEADER, TRADES_FILE_HEADER } from '../support/fake-s3.js';
import { quietSourceContext } from '../support/source-context.js';
import { type CliResult, listFiles, ROOT, runCli, startCli, tempDir } from '../support/cli.js';
import { readTicks } from '../support/lake.js';
import { nyMidnightUtc } from '../../src/shared/time.js';
import { storedQuote, storedTrade } from '../support/massive-ticks.js';
import { CancelledError } from '../../src/net/errors.js';
import { massiveFilesSource } from '../../src/sources/massive/flat-files.js';

const TIMEOUT = 120_000;
const stops: (() => Promise<void>)[] = [];
async function serve(options: FakeS3Options): Promise<FakeS3> {
  const fake = await new FakeS3(options).start();
  stops.push(() => fake.stop());
  return fake;
}
afterEach(async () => {
  await Promise.all(stops.splice(0).map((stop) => stop()));
});

const s3Env = (fake: FakeS3) => ({ MASSIVE_S3_ACCESS_KEY_ID: fake.accessKeyId, MASSIVE_S3_SECRET_ACCESS_KEY: fake.secretAccessKey, MASSIVE_S3_ENDPOINT: fake.url });
const args = (out: string, kind: 'trades' | 'quotes', start: string, end: string, ...symbols: string[]) => [
  'symbols', ...symbols, '--source', 'massive-files', '--data', kind, '--start', start, '--end', end, '--out', out,
];
const ok = (r: CliResult): void => expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
const dayFiles = (fake: FakeS3) => fake.log.filter((r) => r.method === 'GET' && r.path.endsWith('.csv.gz'));

/** The lake holds, per symbol, exactly the files' rows of those days (in day order, each day in file order). */
async function expectExact(fake: FakeS3, out: string, kind: 'trades' | 'quotes', symbols: string[], days: string[]): Promise<void> {
  const lake = await readTicks(out, `equities_${kind}`, kind);
  for (const symbol of symbols) {
    const expected = days.flatMap((d) => (kind === 'trades' ? fake.expectedTicks('trades', symbol, d).map(storedTrade) : fake.expectedTicks('quotes', symbol, d).map(storedQuote)));
    expect(lake.get(symbol) ?? [], symbol).toEqual(expected);
  }
}

describe('trades and quotes from Massive flat files (S3 fake, real S3 SDK)', () => {
  it('keeps the wanted tickers of each day file exactly, one download per day; a rerun downloads nothing; a republished day is ingested again, and a day emptied for a ticker loses its file', async () => {
    const fake = await serve({ from: '2024-03-06', to: '2024-03-11', datasets: ['trades_v1'], ticksPerDay: { trades: 1_500 } });
    const out = tempDir();
    const symbols = ['MSFT', 'AAPL', 'BRK.B'];
    const days = ['2024-03-07', '2024-03-08'];
    const first = await runCli([...args(out, 'trades', '2024-03-07', '2024-03-08', ...symbols), '--json'], s3Env(fake));
    ok(first);
    expect(JSON.parse(first.stdout)).toMatchObject({ kind: 'trades', source: 'massive-files', rows: 9_000, partitions: 6, complete: true });
    expect(dayFiles(fake).map((r) => r.path).sort()).toEqual(days.map((d) => `/flatfiles/${fake.key('trades_v1', d)}`));
    await expectExact(fake, out, 'trades', symbols, days);
    expect(listFiles(path.join(out, 'equities_trades'))).toEqual(
      ['AAPL', 'BRK.B', 'MSFT'].flatMap((s) => days.map((d) => `symbol=${s}/year=2024/month=03/day=${d.slice(8)}/data.parquet`)),
    );
    const versions = JSON.parse(fs.readFileSync(path.join(out, 'metadata/ledger/equities_trades.versions.json'), 'utf8'));
    expect(Object.keys(versions)).toEqual(days);
    for (const secret of [fake.secretAccessKey, fake.accessKeyId]) {
      expect(first.stdout + first.stderr).not.toContain(secret);
      for (const f of listFiles(out)) expect(fs.readFileSync(path.join(out, f)).includes(secret), f).toBe(false);
    }

    const gets = fake.objectGets;
    const rerun = await runCli([...args(out, 'trades', '2024-03-07', '2024-03-08', ...symbols), '--json'], s3Env(fake));
    ok(rerun);
    expect(JSON.parse(rerun.stdout)).toMatchObject({ rows: 0, upToDate: 3 });
    expect(fake.objectGets).toBe(gets);

    // Massive replaces 03-07's file (the first ticker's sizes change): only that day is read again,
    // for every symbol holding it, though this run names AAPL only.
    fake.republish('trades_v1', '2024-03-07');
    const after = await runCli(args(out, 'trades', '2024-03-07', '2024-03-08', 'AAPL'), s3Env(fake));
    ok(after);
    expect(fake.objectGets).toBe(gets + 1);
    await expectExact(fake, out, 'trades', symbols, days);

    // The republished 03-08 file has no MSFT: its stored day goes, the others' stay exact.
    fake.dropTicker('trades_v1', '2024-03-08', 'MSFT');
    const dropped = await runCli(args(out, 'trades', '2024-03-07', '2024-03-08', ...symbols), s3Env(fake));
    ok(dropped);
    expect(fake.objectGets).toBe(gets + 2);
    expect(listFiles(path.join(out, 'equities_trades')).filter((f) => f.startsWith('symbol=MSFT/'))).toEqual(['symbol=MSFT/year=2024/month=03/day=07/data.parquet']);
    await expectExact(fake, out, 'trades', ['AAPL', 'BRK.B'], days);
    await expectExact(fake, out, 'trades', ['MSFT'], ['2024-03-07']);
    expect(listFiles(path.join(out, '.staging'))).toEqual([]);
  }, TIMEOUT);

  it('stores the same rows as Massive REST serves for the same trades and quotes', async () => {
    const counts = { trades: 1_200, quotes: 1_300 };
    const s3 = await serve({ from: '2024-03-07', to: '2024-03-08', datasets: ['trades_v1', 'quotes_v1'], ticksPerDay: counts });
    const rest = await new FakeMassive({ ticksPerDay: counts, tickPageRows: 700 }).start();
    stops.push(() => rest.stop());
    for (const kind of ['trades', 'quotes'] as const) {
      const fromFiles = tempDir();
      const fromRest = tempDir();
      ok(await runCli(args(fromFiles, kind, '2024-03-07', '2024-03-08', 'AAPL', 'NVDA'), s3Env(s3)));
      ok(await runCli([...args(fromRest, kind, '2024-03-07', '2024-03-08', 'AAPL', 'NVDA'), '--source', 'massive', '--rate-limit', '60000'], { MASSIVE_API_KEY: rest.apiKey, MASSIVE_API_URL: rest.url }));
      const files = await readTicks(fromFiles, `equities_${kind}`, kind);
      expect(files.get('AAPL')?.length, kind).toBe(2 * counts[kind]);
      expect(files, kind).toEqual(await readTicks(fromRest, `equities_${kind}`, kind));
    }
  }, TIMEOUT);

  it('groups a file that is not in ticker order by symbol, keeps ties in file order, and drops rows stamped on another day with a warning', async () => {
    const fake = await serve({ from: '2024-03-07', to: '2024-03-08', datasets: ['quotes_v1'], ticksPerDay: { quotes: 2_000 }, tickFileOrder: 'time' });
    fake.injectWrongDateRows('quotes_v1', '2024-03-07', 'AAPL', 4);
    const out = tempDir();
    const r = await runCli(args(out, 'quotes', '2024-03-07', '2024-03-08', 'AAPL', 'TSLA', 'V'), s3Env(fake));
    ok(r);
    expect(r.stdout + r.stderr).toMatch(/2024-03-07\.csv\.gz: dropped 4 row\(s\) of the requested symbols stamped outside 2024-03-07/);
    await expectExact(fake, out, 'quotes', ['AAPL', 'TSLA', 'V'], ['2024-03-07', '2024-03-08']);
    // Ties were served (so their order was checked), and an empty side too.
    const served = fake.expectedTicks('quotes', 'AAPL', '2024-03-07');
    expect(served.some((q, i) => i > 0 && q.sip_timestamp === served[i - 1].sip_timestamp)).toBe(true);
    expect(served.some((q) => q.bid_price === undefined)).toBe(true);
  }, TIMEOUT);

  it('fails the unit of a refused day file with its reason, keeps the other days, and a rerun completes exactly', async () => {
    const fake = await serve({ from: '2024-03-06', to: '2024-03-11', datasets: ['trades_v1'], ticksPerDay: { trades: 400 } });
    fake.denyKey(fake.key('trades_v1', '2024-03-08'));
    const out = tempDir();
    const r = await runCli([...args(out, 'trades', '2024-03-06', '2024-03-11', 'AAPL', 'MSFT'), '--json'], s3Env(fake));
    expect(r.code).toBe(1);
    const summary = JSON.parse(r.stdout);
    expect(summary.symbols.map((s: { outcome: string }) => s.outcome)).toEqual(['failed', 'failed']);
    expect(summary.symbols[0].reason).toMatch(/refused .*2024-03-08\.csv\.gz \(HTTP 403\)/);
    await expectExact(fake, out, 'trades', ['AAPL', 'MSFT'], ['2024-03-06', '2024-03-07', '2024-03-11']);
    fake.allowKey(fake.key('trades_v1', '2024-03-08'));
    const gets = fake.objectGets;
    ok(await runCli(args(out, 'trades', '2024-03-06', '2024-03-11', 'AAPL', 'MSFT'), s3Env(fake)));
    expect(fake.objectGets).toBe(gets + 1);
    await expectExact(fake, out, 'trades', ['AAPL', 'MSFT'], ['2024-03-06', '2024-03-07', '2024-03-08', '2024-03-11']);
  }, TIMEOUT);

  it('after kill -9 in the middle of a run, a rerun gives the exact lake', async () => {
    const fake = await serve({ from: '2024-03-04', to: '2024-03-12', datasets: ['trades_v1'], ticksPerDay: { trades: 3_000 } });
    const out = tempDir();
    const days = ['2024-03-04', '2024-03-05', '2024-03-06', '2024-03-07', '2024-03-08', '2024-03-11', '2024-03-12'];
    // The listing and three day files answered; the next request is held while the others' days publish.
    const held = fake.holdAfter(4);
    const run = startCli(args(out, 'trades', '2024-03-04', '2024-03-12', 'AAPL', 'MSFT', 'TSLA'), s3Env(fake));
    await held;
    run.child.kill('SIGKILL');
    await run.done;
    fake.dropHeld();
    ok(await runCli(args(out, 'trades', '2024-03-04', '2024-03-12', 'AAPL', 'MSFT', 'TSLA'), s3Env(fake)));
    await expectExact(fake, out, 'trades', ['AAPL', 'MSFT', 'TSLA'], days);
    expect(listFiles(path.join(out, 'equities_trades')).filter((f) => !f.endsWith('/data.parquet'))).toEqual([]);
  }, TIMEOUT);

  it('plans one download per day for every symbol, and refuses bar options with ticks before any request (exit 2)', async () => {
    const fake = await serve({ from: '2024-03-07', to: '2024-03-08', datasets: ['trades_v1'] });
    const out = tempDir();
    const dry = await runCli([...args(out, 'trades', '2024-03-04', '2024-03-08', 'AAPL', 'MSFT', 'V'), '--dry-run'], s3Env(fake));
    ok(dry);
    expect(dry.stdout + dry.stderr).toMatch(/5 units of work \(one New York day each\), 5 day-file downloads \(each serves every symbol\)/);
    const r = await runCli([...args(out, 'trades', '2024-03-07', '2024-03-08', 'AAPL'), '--timeframe', '1Min'], s3Env(fake));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--timeframe/);
    expect(fake.log).toHaveLength(0);
  }, TIMEOUT);
});

describe('flat-file tick fields and transfers', () => {
  /** A prepared quotes or trades file for one day, served from disk in place of the generated one. */
  async function serveFile(fake: FakeS3, dataset: 'trades_v1' | 'quotes_v1', date: string, header: string, lines: string[]): Promise<void> {
    const file = path.join(tempDir(), `${date}.csv.gz`);
    fs.writeFileSync(file, zlib.gzipSync(`${header}\n${lines.join('\n')}\n`));
    await fake.addFile(fake.key(dataset, date), file);
  }
  const sip = (k: number): bigint => BigInt(nyMidnightUtc('2024-03-07') + 9 * 3_600_000) * 1_000_000n + BigInt(k) * 1_001n;

  it('reads a quoted list that first appears deep in the file as one field, and fails a day whose trade id is not an integer', async () => {
    const fake = await serve({ from: '2024-03-07', to: '2024-03-07', datasets: ['quotes_v1', 'trades_v1'], tickers: ['AAPL'], extraTickers: 0, ticksPerDay: { quotes: 0, trades: 0 } });
    // 25,000 quotes whose conditions are single codes, then one with two: past any sample a reader might guess the dialect from.
    const quotes = Array.from({ length: 25_000 }, (_, k) => `AAPL,3,10.5,2,4,10.25,1,1,,${sip(k) - 500n},${k + 1},${sip(k)},3,`);
    quotes.push(`AAPL,3,10.5,2,4,10.25,1,"1,2",,${sip(25_000) - 500n},25001,${sip(25_000)},3,`);
    await serveFile(fake, 'quotes_v1', '2024-03-07', QUOTES_FILE_HEADER, quotes);
    const out = tempDir();
    ok(await runCli(args(out, 'quotes', '2024-03-07', '2024-03-07', 'AAPL'), s3Env(fake)));
    const stored = (await readTicks(out, 'equities_quotes', 'quotes')).get('AAPL')!;
    expect(stored).toHaveLength(25_001);
    expect(stored[0]).toEqual([sip(0).toString(), 10.25, 1, '4', 10.5, 2, '3', ['1'], 'C']);
    expect(stored[25_000]).toEqual([sip(25_000).toString(), 10.25, 1, '4', 10.5, 2, '3', ['1', '2'], 'C']);

    // An id DuckDB's own cast would read (1.5 → 2) is refused, as a REST page with it would be.
    await serveFile(fake, 'trades_v1', '2024-03-07', TRADES_FILE_HEADER, [
      `AAPL,,,4,17,${sip(0) - 9n},10.5,1,${sip(0)},100,3,,`,
      `AAPL,,,4,1.5,${sip(1) - 9n},10.5,2,${sip(1)},100,3,,`,
    ]);
    const bad = await runCli([...args(out, 'trades', '2024-03-07', '2024-03-07', 'AAPL'), '--json'], s3Env(fake));
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout).symbols[0].reason).toMatch(/trades_v1\/2024\/03\/2024-03-07\.csv\.gz failed: .*trade id 1\.5 is not an unsigned integer/);
    expect(fs.existsSync(path.join(out, 'equities_trades', 'symbol=AAPL'))).toBe(false);
  }, TIMEOUT);

  it('runs from the library without printing anything (the S3 SDK included)', async () => {
    const fake = await serve({ from: '2024-03-07', to: '2024-03-07', datasets: ['quotes_v1'], ticksPerDay: { quotes: 300 } });
    const out = tempDir();
    const script = `
      import { IngestionPipeline } from ${JSON.stringify(pathToFileURL(path.join(ROOT, 'dist/src/index.js')).href)};
      const pipeline = new IngestionPipeline({ source: 'massive-files', storageDir: ${JSON.stringify(out)}, env: ${JSON.stringify(s3Env(fake))} });
      const result = await pipeline.ingestSymbols(['AAPL', 'V'], { start: '2024-03-07', end: '2024-03-07', data: 'quotes' });
      process.stdout.write(JSON.stringify({ complete: result.complete, rows: result.rows, kind: result.kind }));`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise((resolve) => child.on('close', resolve));
    expect(code, stderr).toBe(0);
    expect(stderr).toBe('');
    expect(JSON.parse(stdout)).toEqual({ complete: true, rows: 600, kind: 'quotes' });
    await expectExact(fake, out, 'quotes', ['AAPL', 'V'], ['2024-03-07']);
  }, TIMEOUT);

  it('a stop while the kept rows are read back fails the request instead of ending it early', async () => {
    const fake = await serve({ from: '2024-03-07', to: '2024-03-07', datasets: ['trades_v1'], ticksPerDay: { trades: 20_000 } });
    const scratch = tempDir();
    const source = massiveFilesSource.create(quietSourceContext(s3Env(fake), path.join(scratch, 'run')));
    stops.push(async () => source.close?.());
    const stop = new AbortController();
    const request = { kind: 'trades' as const, symbols: ['AAPL', 'MSFT', 'BRK.B'], start: nyMidnightUtc('2024-03-07'), end: nyMidnightUtc('2024-03-08'), feed: undefined, scratch: path.join(scratch, 'unit') };
    let rows = 0;
    const reading = (async () => {
      for await (const batch of source.fetchTicks!(request, stop.signal, () => undefined)) {
        rows += batch.length;
        stop.abort();
        // The writer takes its time with a batch: the interrupt lands between chunks.
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    await expect(reading).rejects.toBeInstanceOf(CancelledError);
    expect(rows).toBeLessThan(60_000);
  }, TIMEOUT);

  it('retries a day file whose transfer stalls midway, silently, and stores it exactly', async () => {
    const fake = await serve({ from: '2024-03-07', to: '2024-03-08', datasets: ['trades_v1'], ticksPerDay: { trades: 2_000 } });
    fake.stallBody(fake.key('trades_v1', '2024-03-08'), 10_000);
    const out = tempDir();
    const r = await runCli([...args(out, 'trades', '2024-03-07', '2024-03-08', 'AAPL', 'MSFT'), '--request-timeout', '2', '--retry-delay', '20'], s3Env(fake));
    ok(r);
    expect(r.stderr).not.toMatch(/WARN|exceeded/);
    expect(dayFiles(fake).filter((g) => g.path.endsWith('2024-03-08.csv.gz'))).toHaveLength(2);
    await expectExact(fake, out, 'trades', ['AAPL', 'MSFT'], ['2024-03-07', '2024-03-08']);
  }, TIMEOUT);
});
