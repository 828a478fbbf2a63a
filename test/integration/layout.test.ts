/** Partition layouts (yearly daily bars, repartition), the plan of a dry run, and what readers see. */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { listFiles, runCli, startCli, tempDir } from '../support/cli.js';
import { query, readLake } from '../support/lake.js';

const SYMBOLS = ['AAPL', 'MSFT', 'NVDA'];
const offline = (...args: string[]) => ['--source', 'synthetic', ...args];

function datasetMeta(out: string, dataset: string): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(path.join(out, 'metadata', 'datasets', `${dataset}.json`), 'utf8')) as Record<string, unknown>;
}

describe('partition layouts', () => {
  it('daily bars go to one file per symbol-year; the layout is recorded; reruns leave the lake unchanged', async () => {
    const out = tempDir();
    const args = ['symbols', ...SYMBOLS, ...offline('--timeframe', '1Day', '--start', '2022-06-01', '--end', '2024-03-28', '--out', out)];
    expect((await runCli(args)).code).toBe(0);
    const files = listFiles(path.join(out, 'equities_1day'));
    expect(files).toHaveLength(SYMBOLS.length * 3);
    expect(files.every((f) => /^symbol=[A-Z]+\/year=\d{4}\/data\.parquet$/.test(f))).toBe(true);
    expect(datasetMeta(out, 'equities_1day').partition).toBe('year');
    const before = await readLake(out, 'equities_1day');
    expect(before.get('AAPL')?.length).toBeGreaterThan(400);
    expect((await runCli(args)).code).toBe(0);
    expect(await readLake(out, 'equities_1day')).toEqual(before);
    const counts = await runCli(['query', 'SELECT "year", count(*) AS n FROM equities_1day WHERE symbol = \'AAPL\' GROUP BY ALL ORDER BY 1', '--out', out, '--format', 'json']);
    expect(JSON.parse(counts.stdout).map((r: { year: number }) => r.year)).toEqual([2022, 2023, 2024]);
    const verify = await runCli(['verify', '--out', out]);
    expect(verify.stdout).toMatch(/verify: clean/);
    expect(verify.code).toBe(0);
  });

  it('--partition month keeps monthly files; asking an existing dataset for another layout is a usage error naming repartition', async () => {
    const out = tempDir();
    const args = ['symbols', 'AAPL', ...offline('--start', '2024-01-02', '--end', '2024-03-28', '--out', out)];
    expect((await runCli([...args, '--partition', 'month'])).code).toBe(0);
    expect(listFiles(path.join(out, 'equities_1day'))).toEqual(['01', '02', '03'].map((m) => `symbol=AAPL/year=2024/month=${m}/data.parquet`));
    const r = await runCli([...args, '--partition', 'year']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/ingest repartition --dataset equities_1day --partition year/);
    expect((await runCli([...args, '--partition', 'weekly'])).code).toBe(2);
  });

  it('repartition converts month ↔ year in place, exactly, and the ledger follows', async () => {
    const out = tempDir();
    const ingest = ['symbols', ...SYMBOLS, ...offline('--start', '2023-01-03', '--end', '2024-03-28', '--out', out)];
    expect((await runCli([...ingest, '--partition', 'month'])).code).toBe(0);
    const before = await readLake(out, 'equities_1day');
    const toYear = await runCli(['repartition', '--dataset', 'equities_1day', '--partition', 'year', '--out', out, '--json']);
    expect(toYear.code).toBe(0);
    expect(JSON.parse(toYear.stdout)).toMatchObject({ from: 'month', to: 'year', symbols: 3, filesBefore: 45, filesAfter: 6 });
    expect(listFiles(path.join(out, 'equities_1day')).every((f) => /year=\d{4}\/data\.parquet$/.test(f))).toBe(true);
    expect(await readLake(out, 'equities_1day')).toEqual(before);
    const ledger = fs.readFileSync(path.join(out, 'metadata/ledger/equities_1day.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { partitions: string[] });
    expect(ledger[0].partitions).toEqual(['2023', '2024']);
    expect((await runCli(['verify', '--out', out])).code).toBe(0);
    // The lake stays current: nothing to fetch again.
    const again = await runCli([...ingest, '--json']);
    expect(JSON.parse(again.stdout)).toMatchObject({ upToDate: 3, bars: 0 });
    // And back.
    expect((await runCli(['repartition', '--dataset', 'equities_1day', '--partition', 'month', '--out', out])).code).toBe(0);
    expect(listFiles(path.join(out, 'equities_1day'))).toHaveLength(45);
    expect(await readLake(out, 'equities_1day')).toEqual(before);
    const same = await runCli(['repartition', '--dataset', 'equities_1day', '--partition', 'month', '--out', out]);
    expect(same.stdout).toMatch(/already partitioned by month/);
    expect((await runCli(['repartition', '--dataset', 'nope', '--partition', 'year', '--out', out])).code).toBe(2);
  });

  it('repartition killed mid-way: ingest refuses the half-converted dataset, a rerun finishes it exactly', async () => {
    const out = tempDir();
    const symbols = Array.from({ length: 20 }, (_, i) => `S${String.fromCharCode(65 + Math.floor(i / 26))}${String.fromCharCode(65 + (i % 26))}`);
    const ingest = ['symbols', ...symbols, ...offline('--start', '2022-01-03', '--end', '2023-12-29', '--out', out, '--partition', 'month')];
    expect((await runCli(ingest)).code).toBe(0);
    const before = await readLake(out, 'equities_1day');
    const dataset = path.join(out, 'equities_1day');
    const { child, done } = startCli(['repartition', '--dataset', 'equities_1day', '--partition', 'year', '--out', out]);
    // Kill once the conversion has visibly started: a yearly file is published.
    const started = Date.now();
    const yearlyFilePublished = (): boolean => {
      try {
        return listFiles(dataset).some((f) => /year=\d{4}\/data\.parquet$/.test(f));
      } catch {
        return false; // a directory vanished while listing: the conversion is moving files
      }
    };
    while (!yearlyFilePublished() && Date.now() - started < 60_000) await new Promise((r) => setTimeout(r, 5));
    child.kill('SIGKILL');
    // 20 symbols × 24 monthly files take far longer to convert than the poll above needs to notice.
    expect((await done).signal).toBe('SIGKILL');
    expect(datasetMeta(out, 'equities_1day')).toMatchObject({ partition: 'year', repartitioning: 'month' });
    const refused = await runCli(ingest.filter((a) => a !== '--partition' && a !== 'month'));
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/half-way through a conversion.*ingest repartition/);
    expect((await runCli(['repartition', '--dataset', 'equities_1day', '--partition', 'year', '--out', out])).code).toBe(0);
    expect(datasetMeta(out, 'equities_1day').repartitioning).toBeUndefined();
    expect(listFiles(dataset).every((f) => /^symbol=[A-Z]+\/year=\d{4}\/data\.parquet$/.test(f))).toBe(true);
    expect(await readLake(out, 'equities_1day')).toEqual(before);
    expect(listFiles(path.join(out, '.staging'))).toEqual([]);
  }, 300_000);
});

describe('dry run, status, query, small things', () => {
  it('--dry-run prints the plan and its cost, and fetches and writes nothing', async () => {
    const out = path.join(tempDir(), 'lake');
    const r = await runCli(['symbols', ...SYMBOLS, '--timeframe', '1Min', '--start', '2024-01-02', '--end', '2024-03-28', '--out', out, '--rate-limit', '200', '--dry-run'], {
      APCA_API_KEY_ID: 'unused',
      APCA_API_SECRET_KEY: 'unused',
      APCA_API_DATA_URL: 'http://127.0.0.1:9',
      APCA_API_BASE_URL: 'http://127.0.0.1:9',
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/plan: equities_1min from alpaca, 3 symbols: 0 already up to date/);
    expect(r.stdout).toMatch(/units? of work, ≤ [\d,]+ requests, ≤ [\d,]+ bars/);
    expect(r.stdout).toMatch(/at 200 requests\/min the requests take at most \d/);
    expect(fs.existsSync(out)).toBe(false);
    const json = await runCli(['symbols', 'AAPL', ...offline('--start', '2024-01-02', '--end', '2024-01-31', '--out', out, '--dry-run', '--json')]);
    expect(JSON.parse(json.stdout)).toMatchObject({ source: 'synthetic', symbols: 1, units: 1, estimatedRequestTimeMs: 0 });
  });

  it('status lists every symbol with first and last bar, bars, partitions and last outcome', async () => {
    const out = tempDir();
    expect((await runCli(['symbols', ...SYMBOLS, ...offline('--start', '2024-01-02', '--end', '2024-03-28', '--out', out)])).code).toBe(0);
    const r = await runCli(['status', '--out', out]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/symbol\s+first bar\s+last bar\s+bars\s+partitions\s+last outcome/);
    for (const s of SYMBOLS) expect(r.stdout).toMatch(new RegExp(`\\n\\s+${s}\\s+2024-01-02T05:00:00Z\\s+2024-03-28T04:00:00Z\\s+61\\s+1\\s+ok`));
    const json = JSON.parse((await runCli(['status', '--out', out, '--json'])).stdout);
    expect(json.datasets[0].per_symbol.map((s: { symbol: string; rows: number }) => [s.symbol, s.rows])).toEqual(SYMBOLS.sort().map((s) => [s, 61]));
    const one = await runCli(['status', '--out', out, '--symbol', 'msft']);
    expect(one.stdout).toMatch(/MSFT covered 2024-01-02T05:00:00.000Z .. 2024-03-29T04:00:00.000Z/);
    expect(one.stdout).not.toMatch(/AAPL/);
  });

  it('intraday views carry the trading session, early closes included; the sessions table exposes the calendar', async () => {
    const out = tempDir();
    expect((await runCli(['symbols', 'AAPL', ...offline('--timeframe', '1Min', '--start', '2024-11-27', '--end', '2024-11-29', '--out', out)])).code).toBe(0);
    const r = await runCli(['query', "SELECT strftime(timezone('America/New_York', \"timestamp\"), '%Y-%m-%d') AS day, session, min(\"timestamp\") AS first, max(\"timestamp\") AS last FROM equities_1min GROUP BY ALL ORDER BY 1, 3", '--out', out, '--format', 'json']);
    expect(r.code).toBe(0);
    const rows = JSON.parse(r.stdout) as { day: string; session: string; first: string; last: string }[];
    const friday = rows.filter((x) => x.day === '2024-11-29');
    // The day after Thanksgiving closes at 13:00 New York: regular bars end 17:59Z, post follows.
    expect(friday.map((x) => x.session)).toEqual(['pre', 'regular', 'post']);
    expect(friday[1]).toMatchObject({ first: '2024-11-29T14:30:00Z', last: '2024-11-29T17:59:00Z' });
    const sessions = JSON.parse((await runCli(['query', "SELECT * FROM sessions WHERE \"date\" BETWEEN '2024-11-27' AND '2024-11-29' ORDER BY 1", '--out', out, '--format', 'json'])).stdout);
    expect(sessions.map((s: { date: string; early_close: boolean }) => [s.date, s.early_close])).toEqual([['2024-11-27', false], ['2024-11-29', true]]);
    // Every bar gets a session, and the view neither drops nor repeats a bar.
    const direct = await query(`SELECT count(*) AS n FROM read_parquet('${out}/equities_1min/**/*.parquet')`);
    const tagged = JSON.parse((await runCli(['query', 'SELECT count(*) AS n, count(session) AS tagged FROM equities_1min', '--out', out, '--format', 'json'])).stdout);
    expect(tagged).toEqual([{ n: Number(direct[0].n), tagged: Number(direct[0].n) }]);
  });

  it('--version, and an unknown flag suggests the nearest one', async () => {
    const pkg = JSON.parse(fs.readFileSync(path.resolve(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string };
    const v = await runCli(['--version']);
    expect(v.code).toBe(0);
    expect(v.stdout.trim()).toBe(pkg.version);
    const typo = await runCli(['symbols', 'AAPL', '--treads', '4']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(/unknown option '--treads'.*\n.*Did you mean --threads\?/);
    const zero = await runCli(['symbols', 'AAPL', '--threads', '0', ...offline()]);
    expect(zero.code).toBe(2);
    expect(zero.stderr).toMatch(/for --threads;/);
    const env = await runCli(['symbols', 'AAPL', ...offline('--start', '2024-01-02', '--end', '2024-01-03', '--out', tempDir())], { DATA_ENGINE_TREADS: '4' });
    expect(env.code).toBe(0);
    expect(env.stderr).toMatch(/warning: environment variable DATA_ENGINE_TREADS is not a setting/);
  });
});
