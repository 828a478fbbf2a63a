/** Corporate actions in the lake and split adjustment at read time, against the fakes' actions as their "now" moves. */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { IngestionPipeline } from '../../src/index.js';
import { parseTimeframe } from '../../src/shared/timeframe.js';
import { addDays, nyMidnightUtc } from '../../src/shared/time.js';
import type { BarTuple } from '../../src/sources/synthetic/generator.js';
import type { FakeCorporateAction } from '../support/corporate-actions.js';
import { FakeAlpaca } from '../support/fake-alpaca.js';
import { FakeMassive } from '../support/fake-massive.js';
import { fakeEnv, ROOT, runCli, tempDir } from '../support/cli.js';
import { query, readLake } from '../support/lake.js';

const servers: { stop(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

const day = parseTimeframe('1Day')!;
const range = (start: string, end: string) => [nyMidnightUtc(start), nyMidnightUtc(addDays(end, 1)) - 1] as const;

const ACTIONS: FakeCorporateAction[] = [
  // A 4-for-1 split announced in February, and a 1-for-10 reverse split announced only in May.
  { symbol: 'AAPL', type: 'forward_split', exDate: '2024-03-11', oldRate: 1, newRate: 4, announced: '2024-02-20' },
  { symbol: 'AAPL', type: 'reverse_split', exDate: '2024-05-13', oldRate: 10, newRate: 1, announced: '2024-05-01' },
  { symbol: 'MSFT', type: 'cash_dividend', exDate: '2024-02-14', cash: 0.75, announced: '2024-01-30' },
  // A dividend announced between the runs of the provider-adjusted test.
  { symbol: 'MSFT', type: 'cash_dividend', exDate: '2024-05-15', cash: 0.75, announced: '2024-05-02' },
  { symbol: 'OLDCO', type: 'name_change', exDate: '2024-01-22', newSymbol: 'NEWCO', announced: '2024-01-10' },
];

/** A split-adjusted view read through the library, as tuples comparable with the fake's. */
async function viewBars(storage: string, view: string, symbol: string): Promise<BarTuple[]> {
  const result = await new IngestionPipeline({ storageDir: storage, env: {} }).query(
    `SELECT epoch_ms("timestamp") AS t, open, high, low, close, volume, trade_count, vwap FROM ${view} WHERE symbol = '${symbol}' ORDER BY "timestamp"`,
  );
  return result.rows.map((r) => r.map(Number) as BarTuple);
}

describe('corporate actions', () => {
  it('Alpaca: stores the actions of the run’s symbols, refreshes them as they appear, and the split-adjusted view equals the provider’s split-adjusted bars', async () => {
    const fake = await new FakeAlpaca({ actions: ACTIONS, now: '2024-04-30' }).start();
    servers.push(fake);
    const out = tempDir();
    const first = await runCli(['symbols', 'AAPL', 'MSFT', '--start', '2024-01-02', '--end', '2024-04-30', '--out', out], fakeEnv(fake));
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(fake.actionRequests.length).toBeGreaterThan(0);
    const file = path.join(out, 'metadata/corporate_actions/alpaca.parquet');
    expect(fs.existsSync(file)).toBe(true);
    const lib = new IngestionPipeline({ storageDir: out, env: {} });
    const listed = await lib.query(`SELECT symbol, "type", CAST(ex_date AS VARCHAR), old_rate, new_rate, cash_amount, source FROM corporate_actions ORDER BY ex_date`);
    expect(listed.rows).toEqual([
      ['MSFT', 'cash_dividend', '2024-02-14', null, null, 0.75, 'alpaca'],
      ['AAPL', 'forward_split', '2024-03-11', 1, 4, null, 'alpaca'],
    ]);
    const raw = (await readLake(out, 'equities_1day')).get('AAPL')!;
    expect(raw).toEqual(fake.expectedBars('AAPL', day, ...range('2024-01-02', '2024-04-30')));
    expect(await viewBars(out, 'equities_1day_split_adjusted', 'AAPL')).toEqual(fake.expectedBars('AAPL', day, ...range('2024-01-02', '2024-04-30'), 'split'));
    // A rerun lists the same actions and leaves the file as it was.
    const written = fs.statSync(file).mtimeMs;
    expect((await runCli(['symbols', 'AAPL', 'MSFT', '--start', '2024-01-02', '--end', '2024-04-30', '--out', out], fakeEnv(fake))).code).toBe(0);
    expect(fs.statSync(file).mtimeMs).toBe(written);

    // Time passes: the reverse split appears; the raw bars stay as they were, the view follows the provider.
    fake.setNow('2024-05-31');
    const later = await runCli(['symbols', 'AAPL', 'MSFT', 'NEWCO', '--end', '2024-05-31', '--out', out], fakeEnv(fake));
    expect(later.code).toBe(0);
    // status lists a symbol's actions, a name change as such.
    const status = await runCli(['status', '--symbol', 'AAPL', '--out', out]);
    expect(status.stdout).toContain('AAPL forward split 1 → 4 ex 2024-03-11');
    expect(status.stdout).toContain('AAPL reverse split 10 → 1 ex 2024-05-13');
    expect((await runCli(['status', '--symbol', 'NEWCO', '--out', out])).stdout).toContain('OLDCO → NEWCO name change 2024-01-22');
    expect((await readLake(out, 'equities_1day')).get('AAPL')!.slice(0, raw.length)).toEqual(raw);
    expect(await viewBars(out, 'equities_1day_split_adjusted', 'AAPL')).toEqual(fake.expectedBars('AAPL', day, ...range('2024-01-02', '2024-05-31'), 'split'));
    // Splits and dividends: the provider's fully adjusted bars (MSFT paid a dividend, AAPL split twice).
    for (const symbol of ['AAPL', 'MSFT']) {
      const adjusted = await viewBars(out, 'equities_1day_adjusted', symbol);
      const expected = fake.expectedBars(symbol, day, ...range('2024-01-02', '2024-05-31'), 'all');
      expect(adjusted.map(([t, o, h, l, c, v]) => [t, v])).toEqual(expected.map(([t, , , , , v]) => [t, v]));
      adjusted.forEach((bar, i) => [1, 2, 3, 4, 7].forEach((k) => expect(bar[k], `${symbol} ${k}`).toBeCloseTo(expected[i][k], 9)));
    }
    expect(await viewBars(out, 'equities_1day_adjusted', 'MSFT')).not.toEqual((await readLake(out, 'equities_1day')).get('MSFT'));
    // The README's SQL gives DuckDB users the same prices without the tool.
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const sql = /## Corporate actions[\s\S]*?```sql\n([\s\S]*?)```/.exec(readme)![1].replaceAll("'data/", `'${out}/`).replace('SET TimeZone = \'UTC\';', '');
    const byReadme = await query(`SELECT epoch_ms("timestamp") AS t, close, volume FROM (${sql.trim().replace(/;$/, '')}) WHERE symbol = 'AAPL' ORDER BY t`);
    const expected = fake.expectedBars('AAPL', day, ...range('2024-01-02', '2024-05-31'), 'split');
    expect(byReadme.map((r) => [Number(r.t), r.close, Number(r.volume)])).toEqual(expected.map((b) => [b[0], b[4], b[5]]));
    // Without actions the run asks for none.
    const asked = fake.actionRequests.length;
    expect((await runCli(['symbols', 'AAPL', '--end', '2024-05-31', '--out', out, '--no-actions'], fakeEnv(fake))).code).toBe(0);
    expect(fake.actionRequests.length).toBe(asked);
  });

  it('Massive: splits and dividends from /stocks/v1 land in the lake; the split-adjusted view of raw bars equals adjusted=true bars', async () => {
    const fake = await new FakeMassive({ actions: ACTIONS, now: '2024-05-31' }).start();
    servers.push(fake);
    const out = tempDir();
    const env = { MASSIVE_API_KEY: fake.apiKey, MASSIVE_API_URL: fake.url };
    const r = await runCli(['symbols', 'AAPL', 'MSFT', '--source', 'massive', '--start', '2024-01-02', '--end', '2024-05-31', '--out', out, '--rate-limit', '60000'], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const listed = await new IngestionPipeline({ storageDir: out, env: {} }).query(`SELECT symbol, "type", CAST(ex_date AS VARCHAR), source FROM corporate_actions ORDER BY ex_date`);
    expect(listed.rows).toEqual([
      ['MSFT', 'cash_dividend', '2024-02-14', 'massive'],
      ['AAPL', 'forward_split', '2024-03-11', 'massive'],
      ['AAPL', 'reverse_split', '2024-05-13', 'massive'],
      ['MSFT', 'cash_dividend', '2024-05-15', 'massive'],
    ]);
    expect(await viewBars(out, 'equities_1day_split_adjusted', 'AAPL')).toEqual(fake.expectedBars('AAPL', day, ...range('2024-01-02', '2024-05-31'), true));
  });

  it('a provider-adjusted dataset stays on one basis: a symbol with a new split or dividend is fetched whole again and reported re-adjusted', async () => {
    const fake = await new FakeAlpaca({ actions: ACTIONS, now: '2024-04-30' }).start();
    servers.push(fake);
    const out = tempDir();
    const run = async (...extra: string[]) => {
      const r = await runCli(['symbols', 'AAPL', 'MSFT', 'NVDA', '--adjustment', 'all', '--dataset', 'all_adjusted', '--out', out, '--json', ...extra], fakeEnv(fake));
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as { readjusted: string[] };
    };
    const expectProviderBasis = async (end: string) => {
      const lake = await readLake(out, 'all_adjusted');
      for (const symbol of ['AAPL', 'MSFT', 'NVDA']) expect(lake.get(symbol), symbol).toEqual(fake.expectedBars(symbol, day, ...range('2024-01-02', end), 'all'));
    };
    expect((await run('--start', '2024-01-02', '--end', '2024-04-30')).readjusted).toEqual([]);
    await expectProviderBasis('2024-04-30');
    // A reverse split and a dividend appear: AAPL's and MSFT's whole histories move to the new basis; NVDA's stays.
    fake.setNow('2024-05-31');
    // A raw dataset's run learns of the reverse split first: verify flags the adjusted dataset's AAPL.
    expect((await runCli(['symbols', 'AAPL', 'MSFT', '--start', '2024-01-02', '--end', '2024-05-31', '--dataset', 'raw_daily', '--out', out], fakeEnv(fake))).code).toBe(0);
    const basis = async () => {
      const v = await runCli(['verify', '--dataset', 'all_adjusted', '--out', out, '--json']);
      return (JSON.parse(v.stdout).datasets[0].findings as { check: string; subject: string }[]).filter((f) => f.check === 'adjustment-basis').map((f) => f.subject);
    };
    expect((await basis()).sort()).toEqual(['AAPL', 'MSFT']);
    // The dry run says so, without a request.
    const requests = fake.log.length;
    const dry = await runCli(['symbols', 'AAPL', 'MSFT', 'NVDA', '--adjustment', 'all', '--dataset', 'all_adjusted', '--out', out, '--end', '2024-05-31', '--dry-run'], fakeEnv(fake));
    expect(dry.stdout).toContain('re-adjust (whole history again, after a new corporate action): AAPL, MSFT');
    expect(fake.log.length).toBe(requests);
    const barsBefore = fake.barRequests.length;
    expect((await run('--end', '2024-05-31')).readjusted).toEqual(['AAPL', 'MSFT']);
    expect(await basis()).toEqual([]);
    expect(fake.barRequests.slice(barsBefore).some((q) => q.query.symbols.includes('AAPL') && q.query.start.startsWith('2024-01-02'))).toBe(true);
    await expectProviderBasis('2024-05-31');
    // Nothing new since: no symbol is fetched whole again.
    expect((await run('--end', '2024-05-31')).readjusted).toEqual([]);
  });
});

