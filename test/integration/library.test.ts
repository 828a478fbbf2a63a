/** The same runs as the CLI's, driven through the library API (`src/index.ts`). */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CannotProceedError, IngestionPipeline, type IngestResult, type PipelineEvents, UsageError } from '../../src/index.js';
import { nyMidnightUtc, addDays } from '../../src/shared/time.js';
import { parseTimeframe } from '../../src/shared/timeframe.js';
import { FakeAlpaca, DEFAULT_FAKE_SYMBOLS } from '../support/fake-alpaca.js';
import { fakeEnv, listFiles, tempDir } from '../support/cli.js';
import { readLake } from '../support/lake.js';

const range = (start: string, end: string) => [nyMidnightUtc(start), nyMidnightUtc(addDays(end, 1)) - 1] as const;

/** Every event of one kind a pipeline emits. */
function record<K extends keyof PipelineEvents>(pipeline: IngestionPipeline, name: K): PipelineEvents[K][] {
  const seen: PipelineEvents[K][] = [];
  pipeline.on(name, (e) => seen.push(e));
  return seen;
}

describe('library: synthetic source, offline', () => {
  it('ingests, reports typed events and result, and reads back through status, query and verify', async () => {
    const storageDir = tempDir();
    const pipeline = new IngestionPipeline({ source: 'synthetic', storageDir, threads: 2 });
    const planned = record(pipeline, 'planned');
    const units = record(pipeline, 'unit');
    const progress = record(pipeline, 'progress');
    const symbols = record(pipeline, 'symbol');
    const result = await pipeline.ingestSymbols(['aapl', 'MSFT'], { start: '2024-01-02', end: '2024-02-29', timeframe: '1Hour' });
    expect(result).toMatchObject({ dataset: 'equities_1hour', source: 'synthetic', complete: true, succeeded: 2, failed: 0, requests: 0 });
    expect(result.symbols.map((s) => [s.symbol, s.outcome])).toEqual([['AAPL', 'ok'], ['MSFT', 'ok']]);
    expect(planned).toHaveLength(1);
    expect(planned[0].estimatedRequestTimeMs).toBe(0); // no requests: nothing to wait for
    expect(units.filter((u) => u.phase === 'finished').reduce((n, u) => n + u.rows, 0)).toBe(result.bars);
    expect(symbols.map((s) => s.symbol).sort()).toEqual(['AAPL', 'MSFT']);
    expect(progress.at(-1)).toMatchObject({ rowsCommitted: result.bars, partitionsCommitted: result.partitions });

    const { columns, rows } = await pipeline.query('SELECT symbol, count(*) AS bars, min("timestamp") AS first FROM equities_1hour GROUP BY symbol ORDER BY symbol');
    expect(columns).toEqual(['symbol', 'bars', 'first']);
    expect(rows.reduce((n, r) => n + (r[1] as number), 0)).toBe(result.bars);
    expect(rows[0][2]).toMatch(/^2024-01-02T\d{2}:00:00(\.000)?Z$/);
    // Read-only: a statement that would write is refused, wherever its writing word sits; a quoted one is data.
    const written = path.join(tempDir(), 'x.csv');
    for (const sql of [`EXPLAIN ANALYZE COPY (SELECT 1) TO '${written}'`, 'WITH t AS (SELECT 1 AS n) INSERT INTO equities_1hour SELECT * FROM t', 'SELECT 1; CREATE TABLE x (n INTEGER)']) {
      await expect(pipeline.query(sql), sql).rejects.toThrow(UsageError);
    }
    expect(fs.existsSync(written)).toBe(false);
    expect((await pipeline.query(`SELECT 'copy' AS "set", 1 AS n -- update`)).rows).toEqual([['copy', 1]]);

    const status = await pipeline.status();
    expect(status.datasets[0].per_symbol.map((s) => [s.symbol, s.rows, s.last_outcome])).toEqual(
      result.symbols.map((s) => [s.symbol, s.rows, 'ok']),
    );
    expect((await pipeline.verify()).clean).toBe(true);
  });

  it('throws typed errors for bad input before writing anything', async () => {
    const storageDir = path.join(tempDir(), 'lake');
    const pipeline = new IngestionPipeline({ source: 'synthetic', storageDir });
    await expect(pipeline.ingestSymbols(['AAPL', '../x'], { start: '2024-01-02', end: '2024-01-05' })).rejects.toThrow(UsageError);
    await expect(pipeline.ingestSymbols(['AAPL'], { start: '2024-01-02', end: '2024-01-05', timeframe: '7Min2' })).rejects.toThrow(/unknown timeframe/);
    await expect(pipeline.ingestSymbols(['AAPL'], { start: '2024-01-02', end: '2024-01-05', timeframe: '1Day' })).resolves.toMatchObject({ complete: true });
    expect(() => new IngestionPipeline({ source: 'nope' })).toThrow(UsageError);
    await expect(new IngestionPipeline({ source: 'synthetic', storageDir, feed: 'nasdaq' }).ingestSymbols(['AAPL'], { start: '2024-01-02', end: '2024-01-05' })).rejects.toThrow(/feed "nasdaq"/);
  });

  it('one run per lake within a process too; numeric options are checked; a throwing listener does not break the run', async () => {
    const storageDir = tempDir();
    const first = new IngestionPipeline({ source: 'synthetic', storageDir });
    const second = new IngestionPipeline({ source: 'synthetic', storageDir });
    first.on('unit', () => {
      throw new Error('a listener bug');
    });
    const options = { start: '2024-01-02', end: '2024-03-28', timeframe: '1Hour' };
    const [a, b] = await Promise.allSettled([first.ingestSymbols(['AAPL', 'MSFT'], options), second.ingestSymbols(['NVDA'], options)]);
    const outcomes = [a, b].map((r) => r.status);
    expect(outcomes.sort()).toEqual(['fulfilled', 'rejected']);
    const rejected = [a, b].find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(rejected.reason).toBeInstanceOf(CannotProceedError);
    expect(rejected.reason.message).toMatch(/another ingest is running/);
    const done = [a, b].find((r) => r.status === 'fulfilled') as PromiseFulfilledResult<IngestResult>;
    expect(done.value.complete).toBe(true);
    expect(() => new IngestionPipeline({ source: 'synthetic', threads: 0 })).toThrow(/threads 0 is invalid/);
    expect(() => new IngestionPipeline({ source: 'synthetic', rateLimitPerMinute: -1 })).toThrow(UsageError);
  });

  it('plan() says what a run would cost and fetches and writes nothing', async () => {
    const storageDir = path.join(tempDir(), 'lake');
    const pipeline = new IngestionPipeline({ source: 'synthetic', storageDir });
    const plan = await pipeline.plan(['AAPL', 'MSFT', 'NVDA'], { start: '2024-01-02', end: '2024-03-28', timeframe: '1Min' });
    expect(plan.units).toBeGreaterThan(0);
    expect(plan).toMatchObject({ estimatedRequests: 0, estimatedRequestTimeMs: 0, rateLimitPerMinute: undefined, upToDate: [] });
    // A source that makes requests: pages of 10,000 bars at its free plan's rate (no keys needed to plan).
    const alpaca = await new IngestionPipeline({ storageDir, env: {} }).plan(['AAPL', 'MSFT', 'NVDA'], { start: '2024-01-02', end: '2024-03-28', timeframe: '1Min' });
    expect(alpaca.estimatedRequests).toBeGreaterThanOrEqual(Math.ceil(alpaca.estimatedBars / 10_000));
    expect(alpaca.rateLimitPerMinute).toBe(200);
    expect(alpaca.estimatedRequestTimeMs).toBe(Math.round((alpaca.estimatedRequests / 200) * 60_000));
    expect(fs.existsSync(storageDir)).toBe(false);
  });

  it('fromSettings: settings and DATA_ENGINE_* variables apply, and an unknown variable is told to the first run\'s warning listeners', async () => {
    const dir = tempDir();
    const config = path.join(dir, 'settings.ini');
    fs.writeFileSync(config, `[default]\nlocal_storage_dir = ${path.join(dir, 'lake')}\n`);
    const pipeline = IngestionPipeline.fromSettings(config, { source: 'synthetic', env: { DATA_ENGINE_TIMEFRAME: '1Hour', DATA_ENGINE_TREADS: '3' } });
    const warnings = record(pipeline, 'warning');
    const plan = await pipeline.plan(['AAPL'], { start: '2024-01-02', end: '2024-01-05' });
    expect(plan.dataset).toBe('equities_1hour');
    expect(pipeline.storageDir).toBe(path.join(dir, 'lake'));
    expect(warnings.map((w) => w.message).filter((m) => m.includes('DATA_ENGINE_TREADS'))).toHaveLength(1);
    // Told once, not again on every run.
    await pipeline.plan(['AAPL'], { start: '2024-01-02', end: '2024-01-05' });
    expect(warnings.filter((w) => w.message.includes('DATA_ENGINE_TREADS'))).toHaveLength(1);
  });
});

describe('library: Alpaca source against the loopback fake', () => {
  let fake: FakeAlpaca;
  beforeAll(async () => {
    fake = await new FakeAlpaca({ rejectSymbols: ['BADX'], symbols: { ...DEFAULT_FAKE_SYMBOLS, BADX: {} }, latencyMs: 30 }).start();
  });
  afterAll(async () => {
    await fake.stop();
  });

  it('a partial failure is a typed result: failed symbols with reasons, the rest committed', async () => {
    const storageDir = tempDir();
    const pipeline = new IngestionPipeline({ storageDir, env: fakeEnv(fake), retryBaseDelayMs: 20 });
    const result = await pipeline.ingestSymbols(['AAPL', 'BADX', 'ZZZZ'], { start: '2024-01-02', end: '2024-01-31' });
    expect(result.complete).toBe(false);
    expect(result.symbols.find((s) => s.symbol === 'BADX')).toMatchObject({ outcome: 'failed', reason: expect.stringMatching(/invalid symbol/) });
    expect(result.symbols.find((s) => s.symbol === 'ZZZZ')).toMatchObject({ outcome: 'not_listed' });
    expect(result.symbols.find((s) => s.symbol === 'AAPL')).toMatchObject({ outcome: 'ok' });
    expect((await readLake(storageDir, 'equities_1day')).get('AAPL')).toEqual(fake.expectedBars('AAPL', parseTimeframe('1Day')!, ...range('2024-01-02', '2024-01-31')));
  });

  it('continues each stored symbol from its own history without reaching back to the default start', async () => {
    const storageDir = tempDir();
    const pipeline = new IngestionPipeline({ storageDir, env: fakeEnv(fake), defaultStart: '2016-01-04' });
    expect((await pipeline.ingestSymbols(['AAPL'], { start: '2024-01-02', end: '2024-03-28' })).complete).toBe(true);
    const before = fake.barRequests.length;
    const result = await pipeline.ingestSymbols(['AAPL', 'MSFT'], { end: '2024-04-05' });
    expect(result.complete).toBe(true);
    const starts = fake.barRequests.slice(before).map((r) => r.query.start).sort();
    // MSFT is new: from the default start; AAPL continues from its covered end minus two sessions.
    expect(starts.some((s) => s.startsWith('2016-01-04'))).toBe(true);
    const aapl = fake.barRequests.slice(before).filter((r) => r.query.symbols?.split(',').includes('AAPL'));
    expect(aapl.every((r) => r.query.start >= '2024-03-26')).toBe(true);
  });

  it('cancellation by AbortSignal: commits in flight finish, the result and the ledger count exactly what is on disk, a rerun completes', async () => {
    const held = await new FakeAlpaca({ latencyMs: 5 }).start();
    try {
      const storageDir = tempDir();
      const symbols = ['AAPL', 'MSFT', 'NVDA', 'AMZN'];
      const options = { start: '2024-01-02', end: '2024-04-30', timeframe: '1Min' };
      // One unit at a time: 2 units of 14 pages. After 20 pages the first unit is committed and the
      // second waits on a held page, whatever the machine's speed: abort there.
      const pipeline = new IngestionPipeline({ storageDir, env: fakeEnv(held), threads: 1 });
      const controller = new AbortController();
      const stuck = held.holdAfter(20);
      const unitFinished = new Promise<void>((resolve) => pipeline.on('unit', (u) => u.phase === 'finished' && resolve()));
      void Promise.all([stuck, unitFinished]).then(() => controller.abort());
      const result: IngestResult = await pipeline.ingestSymbols(symbols, { ...options, signal: controller.signal });
      held.dropHeld();
      expect(result.stopped?.kind).toBe('interrupted');
      expect(result.complete).toBe(false);
      // The unit stopped mid-flight did not fail on its own: its symbols are not attempted, not failed.
      expect(result.failed).toBe(0);
      expect(result.notAttempted).toBeGreaterThan(0);
      for (const r of result.symbols.filter((x) => x.outcome !== 'ok')) expect(r).toMatchObject({ outcome: 'not_attempted', reason: 'run stopped before all its windows were fetched' });
      const lake = await readLake(storageDir, 'equities_1min');
      const stored = [...lake.values()].reduce((n, bars) => n + bars.length, 0);
      expect(stored).toBeGreaterThan(0);
      expect(result.bars).toBe(stored);
      expect(result.partitions).toBe(listFiles(path.join(storageDir, 'equities_1min')).length);
      const ledger = fs.readFileSync(path.join(storageDir, 'metadata/ledger/equities_1min.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { rows_written: number });
      expect(ledger.reduce((n, e) => n + e.rows_written, 0)).toBe(stored);

      const rerun = await new IngestionPipeline({ storageDir, env: fakeEnv(held) }).ingestSymbols(symbols, options);
      expect(rerun.complete).toBe(true);
      const full = await readLake(storageDir, 'equities_1min');
      for (const s of symbols) expect(full.get(s)).toEqual(held.expectedBars(s, parseTimeframe('1Min')!, ...range('2024-01-02', '2024-04-30')));
    } finally {
      await held.stop();
    }
  }, 300_000);
});
