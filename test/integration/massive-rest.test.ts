/** Massive over REST: the built CLI against a loopback fake of the aggregates and grouped-daily endpoints. */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseTimeframe } from '../../src/shared/timeframe.js';
import { addDays, nyMidnightUtc } from '../../src/shared/time.js';
import { FakeMassive, type FakeMassiveOptions } from '../support/fake-massive.js';
import { listFiles, runCli, startCli, tempDir } from '../support/cli.js';
import { readLake } from '../support/lake.js';

const fakes: FakeMassive[] = [];
async function serve(options: FakeMassiveOptions = {}): Promise<FakeMassive> {
  const fake = await new FakeMassive(options).start();
  fakes.push(fake);
  return fake;
}
afterEach(async () => {
  await Promise.all(fakes.splice(0).map((f) => f.stop()));
});

const env = (fake: FakeMassive, extra: Record<string, string> = {}) => ({ MASSIVE_API_KEY: fake.apiKey, MASSIVE_API_URL: fake.url, ...extra });
/** The free plan's 5 requests a minute would make tests wait: the fake has no limit unless asked. */
const fast = ['--rate-limit', '60000', '--retry-delay', '20'];
const args = (out: string, timeframe: string, start: string | undefined, end: string, ...symbols: string[]) => [
  'symbols', ...symbols, '--source', 'massive', '--timeframe', timeframe, ...(start ? ['--start', start] : []), '--end', end, '--out', out, ...fast,
];

async function expectExact(fake: FakeMassive, out: string, dataset: string, timeframe: string, symbols: string[], start: string, end: string, adjusted = false): Promise<void> {
  const lake = await readLake(out, dataset);
  for (const s of symbols) {
    const expected = fake.expectedBars(s, parseTimeframe(timeframe)!, nyMidnightUtc(start), nyMidnightUtc(addDays(end, 1)) - 1, adjusted);
    expect(expected.length, `${s} has bars in the fake`).toBeGreaterThan(0);
    expect(lake.get(s) ?? [], `${s} ${timeframe}`).toEqual(expected);
  }
}

describe('ingest from Massive REST (fake server)', () => {
  it('asks one request per symbol for daily history, raw, with the key only in a header, and stores exactly what was served', async () => {
    const fake = await serve();
    const out = tempDir();
    const symbols = ['AAPL', 'BRK.B', 'MSFT'];
    const r = await runCli(args(out, '1Day', '2022-01-03', '2024-03-28', ...symbols), env(fake));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    await expectExact(fake, out, 'equities_1day', '1Day', symbols, '2022-01-03', '2024-03-28');
    expect(fake.aggRequests).toHaveLength(3);
    expect(fake.log.every((q) => q.auth === 'bearer' && !('apiKey' in q.query))).toBe(true);
    expect(fake.aggRequests.every((q) => q.query.adjusted === 'false' && q.query.limit === '50000')).toBe(true);
    const meta = JSON.parse(fs.readFileSync(path.join(out, 'metadata/datasets/equities_1day.json'), 'utf8'));
    expect(meta).toMatchObject({ source: 'massive', synthetic: false, partition: 'year' });
    for (const f of listFiles(out)) expect(fs.readFileSync(path.join(out, f)).includes(fake.apiKey), f).toBe(false);
    expect(r.stdout).not.toContain(fake.apiKey);
    // A rerun of the same range asks for no bars and leaves the lake as it was.
    const dataRequests = () => fake.aggRequests.length + fake.groupedRequests.length;
    const before = dataRequests();
    const files = listFiles(out).map((f) => [f, fs.statSync(path.join(out, f)).mtimeMs]);
    const rerun = await runCli(args(out, '1Day', '2022-01-03', '2024-03-28', ...symbols), env(fake));
    expect(rerun.code).toBe(0);
    expect(dataRequests()).toBe(before);
    await expectExact(fake, out, 'equities_1day', '1Day', symbols, '2022-01-03', '2024-03-28');
    const after = new Map(listFiles(out).map((f) => [f, fs.statSync(path.join(out, f)).mtimeMs]));
    for (const [f, mtime] of files) if (String(f).endsWith('.parquet')) expect(after.get(String(f)), String(f)).toBe(mtime);
  });

  it('pages minute bars through next_url on our host, windows within the base-aggregate limit, for intraday, weekly and monthly bars', async () => {
    const fake = await serve();
    const out = tempDir();
    const r = await runCli(args(out, '1Min', '2024-01-02', '2024-04-30', 'AAPL', 'NVDA'), env(fake));
    expect(r.code).toBe(0);
    await expectExact(fake, out, 'equities_1min', '1Min', ['AAPL', 'NVDA'], '2024-01-02', '2024-04-30');
    expect(fake.aggRequests.length).toBeGreaterThanOrEqual(4);
    for (const [timeframe, dataset] of [['1Hour', 'equities_1hour'], ['1Week', 'equities_1week'], ['1Month', 'equities_1month']]) {
      const run = await runCli(args(out, timeframe, '2023-01-02', '2024-03-28', 'MSFT'), env(fake));
      expect(run.code, `${timeframe}: ${run.stderr}`).toBe(0);
      const lake = await readLake(out, dataset);
      const bars = lake.get('MSFT') ?? [];
      expect(bars.length).toBeGreaterThan(0);
      expect(bars, timeframe).toEqual(fake.expectedBars('MSFT', parseTimeframe(timeframe)!, bars[0][0], nyMidnightUtc('2024-03-29') - 1, false));
    }
  });

  it('takes the grouped-daily path when it needs fewer requests, storing the same rows as per-symbol requests (New York midnight)', async () => {
    const fake = await serve();
    const symbols = ['AAPL', 'MSFT', 'NVDA', 'AMZN', 'GOOGL', 'META', 'BRK.B', 'TSLA', 'JPM', 'V'];
    // Ten symbols, four sessions: 4 grouped requests instead of 10.
    const grouped = tempDir();
    const g = await runCli(args(grouped, '1Day', '2024-03-25', '2024-03-28', ...symbols), env(fake));
    expect(g.code).toBe(0);
    expect(fake.groupedRequests).toHaveLength(4);
    expect(fake.aggRequests).toHaveLength(0);
    // Three symbols: 3 per-symbol requests instead of 4.
    const perSymbol = tempDir();
    const p = await runCli(args(perSymbol, '1Day', '2024-03-25', '2024-03-28', 'AAPL', 'BRK.B', 'TSLA'), env(fake));
    expect(p.code).toBe(0);
    expect(fake.aggRequests).toHaveLength(3);
    const a = await readLake(grouped, 'equities_1day');
    const b = await readLake(perSymbol, 'equities_1day');
    for (const s of ['AAPL', 'BRK.B', 'TSLA']) expect(a.get(s)).toEqual(b.get(s));
    await expectExact(fake, grouped, 'equities_1day', '1Day', symbols, '2024-03-25', '2024-03-28');

    // The nightly update: every stored symbol needs one more session — one grouped request.
    const before = fake.log.length;
    const nightly = await runCli([...args(grouped, '1Day', undefined, '2024-04-01', ...symbols), '--lookback', '0'], env(fake));
    expect(nightly.code).toBe(0);
    expect(fake.log.slice(before).map((q) => q.path).filter((p) => p.startsWith('/v2/'))).toEqual(['/v2/aggs/grouped/locale/us/market/stocks/2024-04-01']);
    await expectExact(fake, grouped, 'equities_1day', '1Day', symbols, '2024-03-25', '2024-04-01');
  });

  it('maps --adjustment split to adjusted=true and records it; other adjustments and mixing bases are usage errors before any request', async () => {
    const fake = await serve({ splits: [{ ticker: 'NVDA', date: '2024-06-10', ratio: 10 }] });
    const out = tempDir();
    const r = await runCli([...args(out, '1Day', '2024-05-01', '2024-06-28', 'NVDA'), '--adjustment', 'split', '--dataset', 'nvda_split'], env(fake));
    expect(r.code).toBe(0);
    expect(fake.aggRequests.every((q) => q.query.adjusted === 'true')).toBe(true);
    await expectExact(fake, out, 'nvda_split', '1Day', ['NVDA'], '2024-05-01', '2024-06-28', true);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'metadata/datasets/nvda_split.json'), 'utf8')).adjustment).toBe('split');
    const requests = fake.log.length;
    const dividend = await runCli([...args(out, '1Day', '2024-05-01', '2024-06-28', 'NVDA'), '--adjustment', 'dividend'], env(fake));
    expect(dividend.code).toBe(2);
    expect(dividend.stderr).toMatch(/massive has no adjustment "dividend"; use raw, split/);
    // A raw run into the split-adjusted dataset mixes bases: refused.
    const mixed = await runCli([...args(out, '1Day', '2024-05-01', '2024-06-28', 'NVDA'), '--dataset', 'nvda_split'], env(fake));
    expect(mixed.code).toBe(2);
    expect(fake.log.length).toBe(requests);
    // A feed asked for on the command line means nothing to this source: said once, the run goes on.
    const feed = await runCli([...args(out, '1Day', '2024-05-01', '2024-06-28', 'NVDA'), '--adjustment', 'split', '--dataset', 'nvda_split', '--feed', 'iex'], env(fake));
    expect(feed.code).toBe(0);
    expect(feed.stderr).toMatch(/warning: --feed iex is ignored: source massive has no feeds$/m);
  });

  it('stops with exit 3 naming the variable when the key is missing or rejected, and with the plan hint on 403', async () => {
    const fake = await serve({ historyFrom: '2023-01-01' });
    const out = tempDir();
    const missing = await runCli(args(out, '1Day', '2024-01-02', '2024-01-05', 'AAPL'), { MASSIVE_API_URL: fake.url });
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/MASSIVE_API_KEY \(or POLYGON_API_KEY\)/);
    const wrong = await runCli(args(out, '1Day', '2024-01-02', '2024-01-05', 'AAPL'), env(fake, { MASSIVE_API_KEY: 'not-the-key' }));
    expect(wrong.code).toBe(3);
    expect(wrong.stdout + wrong.stderr).toMatch(/rejected the API key \(HTTP 401: Unknown API Key/);
    expect(wrong.stdout + wrong.stderr).not.toContain('not-the-key');
    // A first run that could not proceed leaves no trace: the dataset claims no source, and another one may fill it.
    expect(fs.existsSync(path.join(out, 'metadata/datasets/equities_1day.json'))).toBe(false);
    expect(fs.existsSync(path.join(out, 'metadata/ledger/equities_1day.jsonl'))).toBe(false);
    const elsewhere = tempDir();
    expect((await runCli(args(elsewhere, '1Day', '2024-01-02', '2024-01-05', 'AAPL'), env(fake, { MASSIVE_API_KEY: 'not-the-key' }))).code).toBe(3);
    const other = await runCli(['symbols', 'AAPL', '--source', 'synthetic', '--timeframe', '1Day', '--start', '2024-01-02', '--end', '2024-01-05', '--out', elsewhere, '--dataset', 'equities_1day']);
    expect(other.stderr).toBe('');
    expect(other.code).toBe(0);
    // A dataset that holds files or coverage is never removed, even when its provenance file was lost.
    fs.rmSync(path.join(elsewhere, 'metadata/datasets/equities_1day.json'));
    expect((await runCli(args(elsewhere, '1Day', '2024-02-01', '2024-02-05', 'AAPL'), env(fake, { MASSIVE_API_KEY: 'not-the-key' }))).code).toBe(3);
    expect(fs.existsSync(path.join(elsewhere, 'metadata/ledger/equities_1day.jsonl'))).toBe(true);
    expect(fs.existsSync(path.join(elsewhere, 'metadata/datasets/equities_1day.json'))).toBe(true);
    expect(listFiles(path.join(elsewhere, 'equities_1day')).length).toBeGreaterThan(0);
    const polygon = await runCli(args(out, '1Day', '2024-01-02', '2024-01-05', 'AAPL'), { POLYGON_API_KEY: fake.apiKey, MASSIVE_API_URL: fake.url });
    expect(polygon.code).toBe(0);
    const old = await runCli(args(out, '1Day', '2020-01-02', '2020-03-05', 'AAPL'), env(fake));
    expect(old.code).toBe(3);
    expect(old.stdout + old.stderr).toMatch(/plan, or its history depth, does not cover this request/);
  });

  it('rides out 429s and server errors under the shared budget and ends exact', async () => {
    const fake = await serve({ faults: { serverErrorRate: 0.2, storm: { count: 3 } } });
    const out = tempDir();
    const symbols = ['AAPL', 'MSFT', 'NVDA', 'TSLA'];
    const r = await runCli([...args(out, '1Day', '2023-01-03', '2024-03-28', ...symbols), '--json'], env(fake));
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary.retries).toBeGreaterThan(0);
    expect(fake.log.filter((q) => q.status === 429).length).toBeGreaterThanOrEqual(3);
    await expectExact(fake, out, 'equities_1day', '1Day', symbols, '2023-01-03', '2024-03-28');
  });

  it('after kill -9 in the middle of a run, a rerun gives the exact lake', async () => {
    const fake = await serve();
    const out = tempDir();
    const symbols = ['AAPL', 'MSFT', 'NVDA'];
    const held = fake.holdAfter(4);
    const run = startCli(args(out, '5Min', '2024-01-02', '2024-04-30', ...symbols), env(fake));
    await held;
    run.child.kill('SIGKILL');
    await run.done;
    fake.dropHeld();
    const rerun = await runCli(args(out, '5Min', '2024-01-02', '2024-04-30', ...symbols), env(fake));
    expect(rerun.code).toBe(0);
    await expectExact(fake, out, 'equities_5min', '5Min', symbols, '2024-01-02', '2024-04-30');
    expect(listFiles(path.join(out, 'equities_5min')).filter((f) => !f.endsWith('/data.parquet'))).toEqual([]);
  });
});
