/** The tick writer on its own: day files in time order, a unit that fails publishes nothing, no table outlives a unit. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connectUtc, openDuckDB } from '../../src/lake/duck.js';
import { allocateBatch, TRADES_SCHEMA, type TradeColumns } from '../../src/lake/schema.js';
import { TEXT_CODES, TEXT_LIST_CODES } from '../../src/lake/text-codes.js';
import { TickOrderError, TickWriter } from '../../src/lake/tick-writer.js';
import type { CommittedPartition } from '../../src/lake/unit-write.js';
import { int64Halves, writeNanos } from '../../src/shared/nanos.js';
import { nyMidnightUtc } from '../../src/shared/time.js';
import { query } from '../support/lake.js';

const DAY = '2024-03-05';
const open = nyMidnightUtc(DAY) / 1000 + 10 * 3600; // 10:00 New York, in seconds
const window = { start: nyMidnightUtc(DAY), end: nyMidnightUtc('2024-03-06') };
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

/** A batch of trades: [symbol index, nanoseconds after 10:00, id]. */
function trades(rows: [number, number, number][]): TradeColumns {
  const b = allocateBatch(TRADES_SCHEMA, rows.length);
  const time = int64Halves(b.time);
  rows.forEach(([symbol, ns, id], i) => {
    b.symbol[i] = symbol;
    writeNanos(time, i, open, ns);
    b.price[i] = 100;
    b.size[i] = 1;
    b.exchange[i] = TEXT_CODES.code('V');
    b.id[i] = BigInt(id);
    b.conditions[i] = TEXT_LIST_CODES.code(['@']);
    b.tape[i] = TEXT_CODES.code('C');
    b.correction[i] = 0;
  });
  b.length = rows.length;
  return b;
}

async function setup(): Promise<{ writer: TickWriter; storage: string; staging: string; tables: () => Promise<number> }> {
  const storage = fs.mkdtempSync(path.join(os.tmpdir(), 'de-tickw-'));
  const staging = path.join(storage, '.staging', 'u1');
  fs.mkdirSync(staging, { recursive: true });
  const duck = await openDuckDB(2);
  const writer = await TickWriter.open(duck, TRADES_SCHEMA, storage, 'equities_trades');
  const probe = await connectUtc(duck);
  cleanups.push(() => {
    writer.close();
    probe.closeSync();
    duck.closeSync();
  });
  const tables = async () => Number((await probe.runAndReadAll("SELECT count(*) FROM duckdb_tables() WHERE table_name LIKE 'tick_day_%'")).getRows()[0][0]);
  return { writer, storage, staging, tables };
}

describe('tick writer', () => {
  it('sorts a day whose first rows arrive out of order, ties kept in arrival order', async () => {
    const { writer, storage, staging, tables } = await setup();
    const days: CommittedPartition[] = [];
    const unit = writer.beginUnit(['AAPL'], window, staging, { onDay: (d) => days.push(d), onDayRemoved: () => undefined });
    await unit.append(trades([[0, 300, 1], [0, 100, 2], [0, 200, 3], [0, 100, 4]]));
    await unit.finish();
    await unit.release();
    const rows = await query(`SELECT (epoch_ns("timestamp") - ${open}000000000)::INTEGER AS ns, id::INTEGER AS id FROM read_parquet('${storage}/equities_trades/**/*.parquet')`);
    expect(rows.map((r) => [r.ns, r.id])).toEqual([[100, 2], [100, 4], [200, 3], [300, 1]]);
    expect(days).toHaveLength(1);
    expect(days[0].firstBar).toBe(open * 1000);
    expect(await tables()).toBe(0);
  });

  it('publishes nothing of a unit whose rows break symbol-then-time order, and leaves no table behind', async () => {
    const { writer, storage, staging, tables } = await setup();
    const days: CommittedPartition[] = [];
    const unit = writer.beginUnit(['AAPL', 'MSFT'], window, staging, { onDay: (d) => days.push(d), onDayRemoved: () => undefined });
    await unit.append(trades([[0, 100, 1], [1, 100, 2]]));
    await expect(unit.append(trades([[0, 200, 3]]))).rejects.toBeInstanceOf(TickOrderError);
    await unit.release();
    expect(days).toEqual([]);
    expect(fs.existsSync(path.join(storage, 'equities_trades'))).toBe(false);
    expect(await tables()).toBe(0);
  });

  it('writes a unit of many symbols with days closing while the next arrive, and a day that fails to write fails the unit, publishing nothing', async () => {
    const { writer, storage, staging, tables } = await setup();
    const symbols = Array.from({ length: 12 }, (_, i) => `S${i}`);
    const days: CommittedPartition[] = [];
    const unit = writer.beginUnit(symbols, window, staging, { onDay: (d) => days.push(d), onDayRemoved: () => undefined });
    for (let s = 0; s < symbols.length; s++) await unit.append(trades([[s, 100, s], [s, 200, 100 + s]]));
    await unit.finish();
    await unit.release();
    expect(days.map((d) => d.key.symbol).sort()).toEqual([...symbols].sort());
    const rows = await query(`SELECT symbol, count(*)::INTEGER AS n FROM read_parquet('${storage}/equities_trades/**/*.parquet', hive_partitioning = true) GROUP BY ALL`);
    expect(rows).toHaveLength(12);
    expect(rows.every((r) => r.n === 2)).toBe(true);

    // One day's temp file cannot be written (a directory is in its place): the unit fails, publishes
    // nothing, and every stored day stays as it was. S5's COPY fails while later days arrive, S11's
    // (the last day) only in `finish`.
    for (const broken of ['S5', 'S11']) {
      const unitStaging = path.join(staging, broken);
      fs.mkdirSync(path.join(unitStaging, `${broken}-${DAY}.parquet.tmp`), { recursive: true });
      const failing = writer.beginUnit(symbols, window, unitStaging, { onDay: (d) => days.push(d), onDayRemoved: () => undefined });
      let failure: unknown;
      try {
        for (let s = 0; s < symbols.length; s++) await failing.append(trades([[s, 300, s]]));
        await failing.finish();
      } catch (error) {
        failure = error;
      }
      await failing.release();
      expect(String(failure), broken).toMatch(new RegExp(`writing ${broken} ${DAY} failed`));
      expect(days, broken).toHaveLength(12);
      const after = await query(`SELECT symbol, count(*)::INTEGER AS n FROM read_parquet('${storage}/equities_trades/**/*.parquet', hive_partitioning = true) GROUP BY ALL`);
      expect(after, broken).toEqual(expect.arrayContaining(rows));
      expect(after, broken).toHaveLength(12);
      expect(await tables(), broken).toBe(0);
    }
    expect(await tables()).toBe(0);
  });
});
