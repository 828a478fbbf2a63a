/** Unattended runs under faults: the lake ends exact, or the run says precisely what is missing. */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseTimeframe } from '../../src/shared/timeframe.js';
import { addDays, nyMidnightUtc } from '../../src/shared/time.js';
import { RunLock } from '../../src/run/lock.js';
import { FakeAlpaca, type FakeOptions } from '../support/fake-alpaca.js';
import { type CliResult, fakeEnv, listFiles, runCli, type StartedCli, startCli, tempDir } from '../support/cli.js';
import { readLake } from '../support/lake.js';

const fakes: FakeAlpaca[] = [];
async function serve(options: FakeOptions): Promise<FakeAlpaca> {
  const fake = await new FakeAlpaca(options).start();
  fakes.push(fake);
  return fake;
}
afterEach(async () => {
  await Promise.all(fakes.splice(0).map((f) => f.stop()));
});

const range = (start: string, end: string) => [nyMidnightUtc(start), nyMidnightUtc(addDays(end, 1)) - 1] as const;

async function expectExact(fake: FakeAlpaca, out: string, dataset: string, timeframe: string, symbols: string[], start: string, end: string): Promise<void> {
  const lake = await readLake(out, dataset);
  for (const s of symbols) expect(lake.get(s) ?? [], s).toEqual(fake.expectedBars(s, parseTimeframe(timeframe)!, ...range(start, end)));
}

/** Nothing but data.parquet files in the dataset, and no leftovers in staging. */
function expectNoStrayFiles(out: string, dataset: string): void {
  expect(listFiles(path.join(out, dataset)).filter((f) => !f.endsWith('/data.parquet'))).toEqual([]);
  expect(listFiles(path.join(out, '.staging'))).toEqual([]);
}

/** Resolves once `ready()` holds, polling; rejects if the run ends first. */
async function until(ready: () => boolean, run: Promise<unknown>, what: string): Promise<void> {
  let ended = false;
  void run.then(() => (ended = true));
  while (!ready()) {
    if (ended) throw new Error(`the run ended before ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Each data.parquet of a dataset with its inode and mtime: changes when a partition is published. */
function partitionVersions(out: string, dataset: string): Set<string> {
  const dir = path.join(out, dataset);
  return new Set(
    listFiles(dir)
      .filter((f) => f.endsWith('/data.parquet'))
      .map((f) => {
        const st = fs.statSync(path.join(dir, f));
        return `${f}@${st.ino}:${st.mtimeMs}`;
      }),
  );
}

/**
 * What a crashed run leaves visible is a consistent lake: nothing but complete partition files, and if
 * there are any, DuckDB reads them and every bar is the server's, once. Returns the bars seen.
 */
async function expectConsistentPartialLake(fake: FakeAlpaca, out: string, dataset: string, timeframe: string, start: string, end: string): Promise<number> {
  const files = listFiles(path.join(out, dataset));
  if (!files.some((f) => f.endsWith('/data.parquet'))) {
    // Nothing committed yet: the lake is empty, with no partial or temp file in it either.
    expect(files).toEqual([]);
    return 0;
  }
  expect(files.filter((f) => !f.endsWith('/data.parquet'))).toEqual([]);
  const lake = await readLake(out, dataset);
  let bars = 0;
  for (const [symbol, got] of lake) {
    const expected = new Map(fake.expectedBars(symbol, parseTimeframe(timeframe)!, ...range(start, end)).map((b) => [b[0], b]));
    expect(new Set(got.map((b) => b[0])).size, `${symbol} has duplicate timestamps`).toBe(got.length);
    const wrong = got.filter((b) => {
      const e = expected.get(b[0]);
      return e === undefined || b.some((v, k) => v !== e[k]);
    });
    expect(wrong.slice(0, 3), `${symbol} bars the server does not hold`).toEqual([]);
    bars += got.length;
  }
  expect(bars).toBeGreaterThan(0);
  return bars;
}

/** The units a run reported committed (` ok: ` lines): each must be in the lake exactly. */
async function expectCommittedUnits(fake: FakeAlpaca, out: string, dataset: string, timeframe: string, stdout: string): Promise<number> {
  const units = [...stdout.matchAll(/\] (\S+) (\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2}) ok: /g)];
  const lake = await readLake(out, dataset);
  for (const [, symbols, start, end] of units) {
    const [from, to] = range(start, end);
    for (const s of symbols.split(',')) {
      const got = (lake.get(s) ?? []).filter((b) => b[0] >= from && b[0] <= to);
      expect(got, `${s} ${start}..${end} was reported committed`).toEqual(fake.expectedBars(s, parseTimeframe(timeframe)!, from, to));
    }
  }
  return units.length;
}

function expectNoSecrets(fake: FakeAlpaca, texts: string[], out: string): void {
  for (const t of texts) {
    expect(t).not.toContain(fake.secretKey);
    expect(t).not.toContain(fake.keyId);
  }
  for (const f of listFiles(out)) {
    const content = fs.readFileSync(path.join(out, f));
    expect(content.includes(fake.secretKey), f).toBe(false);
    expect(content.includes(fake.keyId), f).toBe(false);
  }
}

const FAST_RETRY = ['--retry-delay', '20', '--request-timeout', '2', '--max-attempts', '8'];
const SYMBOLS = ['AAPL', 'MSFT', 'NVDA', 'AMZN'];
/** For tests that run the CLI several times over a quarter million bars: a hang guard, not a speed target. */
const MULTI_RUN_TIMEOUT = 300_000;

describe('faults', () => {
  it('5xx, connection resets, truncated and slow responses: exact lake, exit 0, no secrets, no escape codes', async () => {
    // Faults are drawn by arrival index; with seed 7 a reset, a 5xx, a truncation and a slow response
    // all fall within the first 28 requests, which every run of this plan makes: always all four.
    const fake = await serve({ faults: { serverErrorRate: 0.1, resetRate: 0.08, truncateRate: 0.08, slowRate: 0.05, slowMs: 4_000 }, seed: 7 });
    const out = tempDir();
    const r = await runCli(['symbols', ...SYMBOLS, '--timeframe', '1Min', '--start', '2024-01-02', '--end', '2024-04-30', '--out', out, '--verbose', ...FAST_RETRY], fakeEnv(fake));
    expect(r.stderr.length).toBeGreaterThan(0); // retries were logged
    expect(r.code).toBe(0);
    await expectExact(fake, out, 'equities_1min', '1Min', SYMBOLS, '2024-01-02', '2024-04-30');
    expect(fake.log.some((l) => l.status === -1) && fake.log.some((l) => l.status === -2) && fake.log.some((l) => l.status >= 500)).toBe(true);
    expect(r.stdout + r.stderr).not.toContain('\u001b');
    expect(r.stderr).toMatch(/request id req-\d+/);
    expectNoSecrets(fake, [r.stdout, r.stderr], out);
    expectNoStrayFiles(out, 'equities_1min');
  });

  it('a 429 storm pauses the pool until the reset and still ends exact', async () => {
    const fake = await serve({ faults: { storm: { count: 4, resetMs: 1_000 } } });
    const out = tempDir();
    const started = Date.now();
    const r = await runCli(['symbols', ...SYMBOLS, '--timeframe', '15Min', '--start', '2023-06-01', '--end', '2024-03-28', '--out', out, '--threads', '4', ...FAST_RETRY], fakeEnv(fake));
    expect(r.code).toBe(0);
    // Without --verbose too, every failed request is logged with its request id.
    expect(r.stderr.match(/HTTP 429.*request id req-\d+.*retrying/g)).toHaveLength(4);
    const log = fake.barRequests;
    expect(log.filter((l) => l.status === 429)).toHaveLength(4);
    // Nobody hammers: after each 429 the whole pool waits for the reset before the next request.
    log.forEach((l, i) => {
      if (l.status === 429 && log[i + 1]) expect(log[i + 1].at - l.at).toBeGreaterThanOrEqual(250);
    });
    expect(Date.now() - started).toBeGreaterThan(1_000);
    await expectExact(fake, out, 'equities_15min', '15Min', SYMBOLS, '2023-06-01', '2024-03-28');
  });

  it('never exceeds the rate limit it was given: no 429, no provider window over its limit, no 60 s window over the limit', async () => {
    // The fake allows 20 requests per fixed 2 s window (it advertises 600/min). The client is given
    // 240/min: one request every 60 s / (0.99 × 240) ≈ 253 ms with bursts of at most 4, so 21
    // requests span at least 17 × 253 ≈ 4.3 s and would fit one window of the fake only if their
    // arrivals were bunched by 2.3 s (measured with two CPU hogs running: about 0.4 s). These are
    // properties, not timings: how much of the limit a run uses is measured by `npm run bench`.
    const LIMIT = 240;
    const fake = await serve({ rateLimit: { limit: 20, windowMs: 2_000 }, latencyMs: 5 });
    // Calendar and assets come from another host with its own budget: the fake counts only the one under test.
    const trading = await serve({});
    const out = tempDir();
    const symbols = ['AAPL', 'MSFT', 'NVDA', 'AMZN', 'GOOGL', 'META', 'TSLA', 'JPM', 'V', 'BRK.B'];
    const r = await runCli(['symbols', ...symbols, '--timeframe', '1Min', '--start', '2024-01-02', '--end', '2024-03-28', '--out', out, '--rate-limit', String(LIMIT)], fakeEnv(fake, { APCA_API_BASE_URL: trading.url }));
    expect(r.code).toBe(0);
    expect(fake.log.filter((l) => l.status === 429)).toEqual([]);
    // Enough requests that an unpaced client would overrun the fake's windows.
    expect(fake.barRequests.length).toBeGreaterThan(40);
    // Every fixed window of the fake, counted as the fake counts, holds at most 20 requests.
    const times = fake.log.map((l) => l.at).sort((a, b) => a - b);
    const perWindow = new Map<number, number>();
    for (const t of times) perWindow.set(Math.floor(t / 2_000), (perWindow.get(Math.floor(t / 2_000)) ?? 0) + 1);
    expect(Math.max(...perWindow.values())).toBeLessThanOrEqual(20);
    // No sliding 60 s window holds more than the limit the client was given.
    for (let i = 0, first = 0; i < times.length; i++) {
      while (times[first] <= times[i] - 60_000) first++;
      expect(i - first + 1).toBeLessThanOrEqual(LIMIT);
    }
  });

  it('a provider that is down trips the circuit breaker: exit 1 listing the symbols not attempted', async () => {
    const fake = await serve({ faults: { down: true } });
    const out = tempDir();
    const symbols = ['AAPL', 'MSFT', 'NVDA', 'AMZN', 'GOOGL', 'META', 'TSLA', 'JPM', 'V'];
    const r = await runCli(['symbols', ...symbols, '--timeframe', '1Min', '--start', '2022-01-03', '--end', '2024-03-28', '--out', out, '--threads', '2', '--circuit-breaker', '5', '--json', ...FAST_RETRY], fakeEnv(fake));
    expect(r.code).toBe(1);
    const summary = JSON.parse(r.stdout);
    expect(summary.stopped.kind).toBe('circuit');
    expect(summary.notAttempted).toBeGreaterThan(0);
    expect(fake.barRequests.length).toBeLessThanOrEqual(8);
  });

  it('a plan restriction aborts with exit 3 and a hint', async () => {
    const fake = await serve({ restrictRecentSipMinutes: 60 });
    const r = await runCli(['symbols', 'AAPL', 'MSFT', '--start', '2026-01-02', '--out', tempDir()], fakeEnv(fake));
    expect(r.code).toBe(3);
    expect(r.stdout + r.stderr).toMatch(/--feed iex/);
  });

  it('a second run on the same lake exits 3 at once (not waiting for the lock), naming the holder', async () => {
    const out = tempDir();
    const lock = await RunLock.acquire(out);
    try {
      const started = Date.now();
      const r = await runCli(['symbols', 'AAPL', '--source', 'synthetic', '--start', '2024-01-02', '--end', '2024-01-05', '--out', out], {});
      expect(r.code).toBe(3);
      // A run that waited for the lock would wait as long as the test holds it; the bound is generous
      // so that a slow process start on a loaded machine never counts as waiting.
      expect(Date.now() - started).toBeLessThan(15_000);
      expect(r.stderr).toMatch(new RegExp(`pid ${process.pid}, started 20`));
    } finally {
      await lock.release();
    }
  });

  it('kill -9 at different points, then a rerun: what is visible is always consistent, the rerun exact', async () => {
    const fake = await serve({ latencyMs: 20 });
    const out = tempDir();
    const dataset = 'equities_1min';
    const args = ['symbols', ...SYMBOLS, '--timeframe', '1Min', '--start', '2024-01-02', '--end', '2024-04-30', '--out', out];
    const lakeIsConsistent = () => expectConsistentPartialLake(fake, out, dataset, '1Min', '2024-01-02', '2024-04-30');
    // The plan: 2 units of 2 symbols, 14 pages each. Every kill point holds the pages after some
    // count, so however slow the machine the run cannot finish before it is killed.
    const killAfter = async (holdAfter: number, threads: number, ready: (cli: StartedCli, held: Promise<void>) => Promise<unknown>): Promise<CliResult> => {
      const held = fake.holdAfter(holdAfter);
      const cli = startCli([...args, '--threads', String(threads)], fakeEnv(fake));
      await ready(cli, held);
      cli.child.kill('SIGKILL');
      const result = await cli.done;
      fake.dropHeld();
      expect(result.signal).toBe('SIGKILL');
      return result;
    };

    // 1. Stuck on its first page: nothing may be visible.
    await killAfter(0, 4, (_cli, held) => held);
    expect(listFiles(path.join(out, dataset))).toEqual([]);
    expect(await lakeIsConsistent()).toBe(0);

    // 2. Right after a unit reported its commit, its ledger save perhaps under way: the unit is kept.
    // One fetch slot: the first unit has its 14 pages while the second waits for its first.
    const committed = await killAfter(14, 1, (cli) => cli.stdoutMatches(/ ok: /));
    expect(await expectCommittedUnits(fake, out, dataset, '1Min', committed.stdout)).toBe(1);
    await lakeIsConsistent();

    // 3. At a fixed time, wherever the run is by then (at most 6 more pages: no unit completes).
    await killAfter(6, 4, () => new Promise((r) => setTimeout(r, 1_500)));
    await lakeIsConsistent();

    // 4. Just after a partition was published mid-unit (a unit merges its completed months every
    // 5 pages, and 10 pages give some unit 5), while the other unit may be merging.
    const before = partitionVersions(out, dataset);
    await killAfter(10, 4, (cli) => until(() => [...partitionVersions(out, dataset)].some((v) => !before.has(v)), cli.done, 'a partition was published'));
    expect(await lakeIsConsistent()).toBeGreaterThan(0);

    const r = await runCli([...args, '--threads', '4'], fakeEnv(fake));
    expect(r.code).toBe(0);
    await expectExact(fake, out, dataset, '1Min', SYMBOLS, '2024-01-02', '2024-04-30');
    expectNoStrayFiles(out, dataset);
  }, MULTI_RUN_TIMEOUT);

  it('SIGTERM mid-run: committed data kept, exit 143, and a rerun completes it', async () => {
    const fake = await serve({ latencyMs: 40 });
    const out = tempDir();
    const args = ['symbols', ...SYMBOLS, '--timeframe', '1Min', '--start', '2024-01-02', '--end', '2024-04-30', '--out', out, '--threads', '1'];
    // 2 units of 14 pages, one fetched at a time: after 20 pages the first unit is committed and the
    // second has merged some months and waits for a page; holding it keeps the run going until the
    // signal, however slow the machine.
    const held = fake.holdAfter(20);
    const cli = startCli(args, fakeEnv(fake));
    // Signal at an observable state, not after a guessed delay: a unit committed, a request in flight.
    await Promise.all([cli.stdoutMatches(/ ok: /), held]);
    cli.child.kill('SIGTERM');
    const r = await cli.done;
    fake.dropHeld();
    expect(r.code).toBe(143);
    expect(r.stdout).toMatch(/summary/);
    expect(r.stdout).toMatch(/\n\s+exit 143\n?$/);
    // The summary and the ledger count exactly what is on disk, partial units included.
    const stored = [...(await readLake(out, 'equities_1min')).values()].reduce((n, bars) => n + bars.length, 0);
    const counted = /([\d,]+) bars, ([\d,]+) partitions written/.exec(r.stdout)!;
    expect(Number(counted[1].replace(/,/g, ''))).toBe(stored);
    expect(Number(counted[2].replace(/,/g, ''))).toBe(listFiles(path.join(out, 'equities_1min')).length);
    const ledger = fs.readFileSync(path.join(out, 'metadata/ledger/equities_1min.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { rows_written: number });
    expect(ledger.reduce((n, e) => n + e.rows_written, 0)).toBe(stored);
    expectNoStrayFiles(out, 'equities_1min');
    expect(await expectCommittedUnits(fake, out, 'equities_1min', '1Min', r.stdout)).toBe(1);
    const r2 = await runCli(args, fakeEnv(fake));
    expect(r2.code).toBe(0);
    await expectExact(fake, out, 'equities_1min', '1Min', SYMBOLS, '2024-01-02', '2024-04-30');
    expectNoStrayFiles(out, 'equities_1min');
  }, MULTI_RUN_TIMEOUT);

  it('a corrupt partition fails its unit, is left untouched, and the rest commits', async () => {
    const fake = await serve({});
    const out = tempDir();
    const args = ['symbols', 'AAPL', 'MSFT', '--start', '2024-01-02', '--end', '2024-02-29', '--out', out, '--threads', '1'];
    expect((await runCli(args, fakeEnv(fake))).code).toBe(0);
    const victim = path.join(out, 'equities_1day/symbol=AAPL/year=2024/data.parquet');
    fs.writeFileSync(victim, 'not parquet at all');
    const r = await runCli([...args.slice(0, 1), 'AAPL', '--start', '2024-01-02', '--end', '2024-02-29', '--out', out, '--refetch'], fakeEnv(fake));
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/cannot be read.*left untouched/);
    expect(fs.readFileSync(victim, 'utf8')).toBe('not parquet at all');
  });
});
