/** Massive flat files over S3: the real S3 SDK against a loopback S3 fake, the built CLI, the lake read back through DuckDB. */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { BarTuple } from '../../src/sources/synthetic/generator.js';
import { addDays, nyMidnightUtc } from '../../src/shared/time.js';
import { FakeS3, type FakeS3Options, type FlatDataset } from '../support/fake-s3.js';
import { listFiles, runCli, startCli, tempDir } from '../support/cli.js';
import { readLake } from '../support/lake.js';

const fakes: FakeS3[] = [];
async function serve(options: FakeS3Options): Promise<FakeS3> {
  const fake = await new FakeS3(options).start();
  fakes.push(fake);
  return fake;
}
afterEach(async () => {
  await Promise.all(fakes.splice(0).map((f) => f.stop()));
});

const s3Env = (fake: FakeS3, extra: Record<string, string> = {}) => ({
  MASSIVE_S3_ACCESS_KEY_ID: fake.accessKeyId,
  MASSIVE_S3_SECRET_ACCESS_KEY: fake.secretAccessKey,
  MASSIVE_S3_ENDPOINT: fake.url,
  ...extra,
});

/** The files have no VWAP: the lake holds NULL where the fake's tuples hold NaN. */
const asStored = (bars: BarTuple[]): unknown[] => bars.map((b) => [...b.slice(0, 7), null]);

async function expectExact(fake: FakeS3, out: string, dataset: string, flat: FlatDataset, symbols: string[], start: string, end: string): Promise<void> {
  const lake = await readLake(out, dataset);
  for (const s of symbols) expect(lake.get(s) ?? [], s).toEqual(asStored(fake.expectedBars(s, flat, nyMidnightUtc(start), nyMidnightUtc(addDays(end, 1)) - 1)));
}

const args = (out: string, timeframe: string, start: string, end: string, ...symbols: string[]) => [
  'symbols', ...symbols, '--source', 'massive-files', '--timeframe', timeframe, '--start', start, '--end', end, '--out', out,
];

describe('ingest from Massive flat files (S3 fake, real S3 SDK)', () => {
  it('keeps the requested symbols of each day file, exactly, one file per partition; a rerun downloads nothing; a republished file is ingested again', async () => {
    const fake = await serve({ from: '2023-12-27', to: '2024-02-02', datasets: ['day_aggs_v1'] });
    const out = tempDir();
    const symbols = ['AAPL', 'BRK.B', 'MSFT'];
    const first = await runCli(args(out, '1Day', '2023-12-20', '2024-02-10', ...symbols), s3Env(fake));
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    await expectExact(fake, out, 'equities_1day', 'day_aggs_v1', symbols, '2023-12-20', '2024-02-10');
    expect(listFiles(path.join(out, 'equities_1day'))).toEqual(symbols.flatMap((s) => [`symbol=${s}/year=2023/data.parquet`, `symbol=${s}/year=2024/data.parquet`]));
    const meta = JSON.parse(fs.readFileSync(path.join(out, 'metadata/datasets/equities_1day.json'), 'utf8'));
    expect(meta).toMatchObject({ source: 'massive-files', synthetic: false, partition: 'year' });
    const sessions = fake.log.filter((r) => r.method === 'GET' && r.path.endsWith('.csv.gz')).length;
    expect(sessions).toBe(26);
    const versions = JSON.parse(fs.readFileSync(path.join(out, 'metadata/ledger/equities_1day.versions.json'), 'utf8'));
    expect(Object.keys(versions)).toHaveLength(26);

    const gets = fake.objectGets;
    const rerun = await runCli(args(out, '1Day', '2023-12-20', '2024-02-10', ...symbols), s3Env(fake));
    expect(rerun.code).toBe(0);
    expect(fake.objectGets).toBe(gets);
    await expectExact(fake, out, 'equities_1day', 'day_aggs_v1', symbols, '2023-12-20', '2024-02-10');

    // The provider replaces one published file (AAPL's volumes change): only that file is fetched again.
    fake.republish('day_aggs_v1', '2024-01-10');
    const after = await runCli(args(out, '1Day', '2023-12-20', '2024-02-10', 'AAPL', 'MSFT'), s3Env(fake));
    expect(after.code).toBe(0);
    expect(after.stdout).toContain('1 session file(s) changed since they were ingested (2024-01-10): fetched again for the 3 symbol(s) of the dataset holding them');
    expect(fake.objectGets).toBe(gets + 1);
    await expectExact(fake, out, 'equities_1day', 'day_aggs_v1', symbols, '2023-12-20', '2024-02-10');
    expect(listFiles(path.join(out, '.staging'))).toEqual([]);

    // The first day the symbols hold is republished: an incremental run (no --start) fetches it again too.
    fake.republish('day_aggs_v1', '2023-12-27');
    const logged = fake.log.length;
    const incremental = await runCli(['symbols', ...symbols, '--source', 'massive-files', '--timeframe', '1Day', '--end', '2024-02-10', '--out', out], s3Env(fake));
    expect(incremental.code).toBe(0);
    expect(fake.objectGets).toBe(gets + 2);
    // Listed from where the symbols' history begins, not from the settings' default start (2016): one request a year.
    const listed = fake.log.slice(logged).filter((r) => r.query['list-type'] === '2').map((r) => r.query.prefix);
    expect(listed).toEqual(['us_stocks_sip/day_aggs_v1/2023/', 'us_stocks_sip/day_aggs_v1/2024/']);
    await expectExact(fake, out, 'equities_1day', 'day_aggs_v1', symbols, '2023-12-20', '2024-02-10');
  });

  it('writes minute bars of several day files once per partition, drops rows stamped on another day and says so, and keeps secrets out of output', async () => {
    const fake = await serve({ from: '2024-02-27', to: '2024-03-04', datasets: ['minute_aggs_v1'] });
    fake.injectWrongDateRows('minute_aggs_v1', '2024-02-28', 'AAPL', 3);
    const out = tempDir();
    const r = await runCli(args(out, '1Min', '2024-02-26', '2024-03-05', 'AAPL', 'NVDA'), s3Env(fake));
    expect(r.code).toBe(0);
    expect(r.stdout + r.stderr).toMatch(/2024-02-28\.csv\.gz: dropped 3 row\(s\) of the requested symbols stamped outside 2024-02-28/);
    await expectExact(fake, out, 'equities_1min', 'minute_aggs_v1', ['AAPL', 'NVDA'], '2024-02-26', '2024-03-05');
    expect(listFiles(path.join(out, 'equities_1min'))).toEqual(['AAPL', 'NVDA'].flatMap((s) => [`symbol=${s}/year=2024/month=02/data.parquet`, `symbol=${s}/year=2024/month=03/data.parquet`]));
    // One download per day file, whatever the number of symbols.
    expect(fake.objectGets).toBe(5);
    for (const secret of [fake.secretAccessKey, fake.accessKeyId]) {
      expect(r.stdout + r.stderr).not.toContain(secret);
      for (const f of listFiles(out)) expect(fs.readFileSync(path.join(out, f)).includes(secret), f).toBe(false);
    }
  });

  it('stops with exit 3 naming both variables and the plan when the listing is refused, after a handful of requests, writing nothing', async () => {
    const fake = await serve({ from: '2024-01-02', to: '2024-01-05' });
    const out = tempDir();
    const r = await runCli(args(out, '1Day', '2024-01-02', '2024-01-05', 'AAPL'), s3Env(fake, { MASSIVE_S3_SECRET_ACCESS_KEY: 'wrong-secret' }));
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/MASSIVE_S3_ACCESS_KEY_ID and MASSIVE_S3_SECRET_ACCESS_KEY/);
    expect(r.stderr).toMatch(/paid Massive plan/);
    expect(r.stderr.split('\n').filter((l) => l.startsWith('error:'))).toHaveLength(1);
    expect(r.stderr).not.toContain('wrong-secret');
    expect(fake.log.length).toBeLessThanOrEqual(3);
    expect(fs.existsSync(path.join(out, 'equities_1day'))).toBe(false);
    expect(fs.existsSync(path.join(out, 'metadata/datasets/equities_1day.json'))).toBe(false);

    const missing = await runCli(args(out, '1Day', '2024-01-02', '2024-01-05', 'AAPL'), { MASSIVE_S3_ENDPOINT: fake.url });
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/MASSIVE_S3_ACCESS_KEY_ID and MASSIVE_S3_SECRET_ACCESS_KEY/);

    // --json: stdout is still one object, the error, for a command that ended before its summary.
    const json = await runCli([...args(out, '1Day', '2024-01-02', '2024-01-05', 'AAPL'), '--json'], s3Env(fake, { MASSIVE_S3_SECRET_ACCESS_KEY: 'wrong-secret' }));
    expect(json.code).toBe(3);
    const reported = JSON.parse(json.stdout) as { error: string; exitCode: number };
    expect(reported.exitCode).toBe(3);
    expect(reported.error).toMatch(/refused the listing .*MASSIVE_S3_ACCESS_KEY_ID and MASSIVE_S3_SECRET_ACCESS_KEY/);
    expect(json.stdout).not.toContain('wrong-secret');
    const usage = await runCli([...args(out, '5Min', '2024-01-02', '2024-01-05', 'AAPL'), '--json'], s3Env(fake));
    expect(usage.code).toBe(2);
    expect(JSON.parse(usage.stdout)).toMatchObject({ exitCode: 2, error: expect.stringMatching(/use --timeframe 1Min or 1Day/) });
  });

  it('--verbose shows every S3 request with its request id', async () => {
    const fake = await serve({ from: '2024-01-02', to: '2024-01-05' });
    const r = await runCli([...args(tempDir(), '1Day', '2024-01-02', '2024-01-05', 'AAPL'), '--verbose'], s3Env(fake));
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n').filter((l) => l.includes('[request] 200'));
    // One listing and four day files.
    expect(lines).toHaveLength(5);
    for (const line of lines) expect(line).toMatch(/ id [0-9A-F]{16}$/);
  });

  it('exits 1, not 3, when the bucket cannot be listed (an outage, as on REST), writing nothing', async () => {
    const fake = await serve({ from: '2024-01-02', to: '2024-01-05' });
    const out = tempDir();
    // A closed loopback port: every attempt is refused at once.
    const env = s3Env(fake, { MASSIVE_S3_ENDPOINT: 'http://127.0.0.1:9', DATA_ENGINE_MAX_ATTEMPTS: '1' });
    const r = await runCli(args(out, '1Day', '2024-01-02', '2024-01-05', 'AAPL'), env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: could not list Massive flat files at s3:\/\/flatfiles\/us_stocks_sip\/day_aggs_v1\/2024\/ .*rerun later$/m);
    expect(r.stderr).not.toContain(fake.secretAccessKey);
    expect(fs.existsSync(path.join(out, 'metadata/datasets/equities_1day.json'))).toBe(false);
  });

  it('fails the unit of a refused day file with its reason, keeps the rest, and a rerun completes exactly', async () => {
    const fake = await serve({ from: '2023-12-27', to: '2024-01-05', datasets: ['day_aggs_v1'] });
    fake.denyKey(fake.key('day_aggs_v1', '2024-01-03'));
    const out = tempDir();
    const r = await runCli([...args(out, '1Day', '2023-12-27', '2024-01-05', 'AAPL', 'MSFT'), '--json'], s3Env(fake));
    expect(r.code).toBe(1);
    const summary = JSON.parse(r.stdout);
    expect(summary.symbols.map((s: { outcome: string }) => s.outcome)).toEqual(['failed', 'failed']);
    expect(summary.symbols[0].reason).toMatch(/refused .*2024-01-03\.csv\.gz \(HTTP 403\)/);
    // The 2023 unit committed; 2024 did not.
    await expectExact(fake, out, 'equities_1day', 'day_aggs_v1', ['AAPL', 'MSFT'], '2023-12-27', '2023-12-31');
    fake.allowKey(fake.key('day_aggs_v1', '2024-01-03'));
    const rerun = await runCli(args(out, '1Day', '2023-12-27', '2024-01-05', 'AAPL', 'MSFT'), s3Env(fake));
    expect(rerun.code).toBe(0);
    await expectExact(fake, out, 'equities_1day', 'day_aggs_v1', ['AAPL', 'MSFT'], '2023-12-27', '2024-01-05');
  });

  it('fails the unit of a day file that is not gzip at once, with its reason, instead of downloading it again', async () => {
    const fake = await serve({ from: '2024-01-02', to: '2024-01-05', datasets: ['day_aggs_v1'] });
    const key = fake.key('day_aggs_v1', '2024-01-03');
    const plain = path.join(tempDir(), 'plain.csv');
    fs.writeFileSync(plain, 'ticker,volume,open,close,high,low,window_start,transactions\n');
    await fake.addFile(key, plain);
    const r = await runCli([...args(tempDir(), '1Day', '2024-01-02', '2024-01-05', 'AAPL'), '--json'], s3Env(fake));
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).symbols[0].reason).toMatch(/reading .*2024-01-03\.csv\.gz failed: not a valid gzip file/);
    expect(fake.log.filter((q) => q.method === 'GET' && q.path.endsWith(key))).toHaveLength(1);
  });

  it('refuses other timeframes, adjustments and mixing sources before any request (exit 2)', async () => {
    const fake = await serve({ from: '2024-01-02', to: '2024-01-05' });
    const out = tempDir();
    const tf = await runCli(args(out, '5Min', '2024-01-02', '2024-01-05', 'AAPL'), s3Env(fake));
    expect(tf.code).toBe(2);
    expect(tf.stderr).toMatch(/massive-files has no 5Min bars; use --timeframe 1Min or 1Day/);
    const adj = await runCli([...args(out, '1Day', '2024-01-02', '2024-01-05', 'AAPL'), '--adjustment', 'split'], s3Env(fake));
    expect(adj.code).toBe(2);
    expect(adj.stderr).toMatch(/adjustment "split"; use raw/);
    expect(fake.log).toHaveLength(0);
    expect((await runCli(['symbols', 'AAPL', '--source', 'synthetic', '--start', '2024-01-02', '--end', '2024-01-05', '--out', out])).code).toBe(0);
    const mixed = await runCli(args(out, '1Day', '2024-01-02', '2024-01-05', 'AAPL'), s3Env(fake));
    expect(mixed.code).toBe(2);
    expect(fake.log).toHaveLength(0);
  });

  it('after kill -9 in the middle of a run, a rerun gives the exact lake', async () => {
    const fake = await serve({ from: '2024-02-26', to: '2024-03-06', datasets: ['minute_aggs_v1'] });
    const out = tempDir();
    const held = fake.holdAfter(3);
    const run = startCli(args(out, '1Min', '2024-02-26', '2024-03-06', 'AAPL', 'MSFT', 'TSLA'), s3Env(fake));
    await held;
    run.child.kill('SIGKILL');
    await run.done;
    fake.dropHeld();
    const rerun = await runCli(args(out, '1Min', '2024-02-26', '2024-03-06', 'AAPL', 'MSFT', 'TSLA'), s3Env(fake));
    expect(rerun.code).toBe(0);
    await expectExact(fake, out, 'equities_1min', 'minute_aggs_v1', ['AAPL', 'MSFT', 'TSLA'], '2024-02-26', '2024-03-06');
    expect(listFiles(path.join(out, 'equities_1min')).filter((f) => !f.endsWith('/data.parquet'))).toEqual([]);
  });
});
