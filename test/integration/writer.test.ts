import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DuckDBInstance } from '@duckdb/node-api';
import { allocateBarColumns, type BarColumns, BARS_SCHEMA } from '../../src/lake/schema.js';
import type { CommittedPartition } from '../../src/lake/unit-write.js';
import { openDuckDB } from '../../src/lake/duck.js';
import { PartitionWriter } from '../../src/lake/partition-writer.js';

const us = (iso: string): number => Date.parse(iso) * 1000;

/** A page of [symbol index, UTC minute offset from 2024-01-02 14:30, close] rows. */
function page(rows: [number, number, number][]): BarColumns {
  const c = allocateBarColumns(rows.length);
  rows.forEach(([s, minute, close], i) => {
    c.symbol[i] = s;
    c.time[i] = us('2024-01-02T14:30:00Z') + minute * 60_000_000;
    c.open[i] = c.high[i] = c.low[i] = c.vwap[i] = close;
    c.close[i] = close;
    c.volume[i] = 100 + i;
    c.tradeCount[i] = 1 + i;
  });
  c.length = rows.length;
  return c;
}

describe('partition writer', () => {
  let duck: DuckDBInstance;
  let storage: string;
  let writer: PartitionWriter<typeof BARS_SCHEMA>;

  beforeAll(async () => {
    duck = await openDuckDB(2);
    storage = fs.mkdtempSync(path.join(os.tmpdir(), 'de-writer-'));
    writer = await PartitionWriter.open(duck, BARS_SCHEMA, 'month', storage, 'equities_1min');
  });
  afterAll(() => {
    writer.close();
    duck.closeSync();
    fs.rmSync(storage, { recursive: true, force: true });
  });

  const read = async (symbol: string, month = '01'): Promise<[number, number][]> => {
    const c = await duck.connect();
    try {
      const file = path.join(storage, 'equities_1min', `symbol=${symbol}`, 'year=2024', `month=${month}`, 'data.parquet');
      const rows = (await c.runAndReadAll(`SELECT epoch_us("timestamp"), close FROM read_parquet('${file}')`)).getRows();
      return rows.map(([t, close]) => [Number(t), Number(close)]);
    } finally {
      c.closeSync();
    }
  };
  /** A unit and the partitions it reports committed. */
  const begin = (symbols: string[], staging: string) => {
    const committed: CommittedPartition[] = [];
    const unit = writer.beginUnit(symbols, staging, (partitions) => committed.push(...partitions));
    const rows = (symbol?: string): number => committed.filter((p) => symbol === undefined || p.key.symbol === symbol).reduce((n, p) => n + p.rows, 0);
    return { unit, committed, rows };
  };
  const minute = (m: number): number => us('2024-01-02T14:30:00Z') + m * 60_000_000;

  it('writes rows a provider sent out of order or twice sorted, one row per timestamp, the last one winning', async () => {
    const staging = fs.mkdtempSync(path.join(storage, 'stage-'));
    const { unit, rows } = begin(['AAA', 'BBB'], staging);
    unit.append(page([[0, 2, 1], [0, 0, 2], [1, 0, 3]]));
    unit.append(page([[0, 1, 4], [0, 2, 5], [1, 0, 6]]));
    await unit.commit();
    expect(await read('AAA')).toEqual([[minute(0), 2], [minute(1), 4], [minute(2), 5]]);
    expect(await read('BBB')).toEqual([[minute(0), 6]]);
    expect(rows('AAA')).toBe(3);
    expect(rows()).toBe(4);
  });

  it('merges with stored rows, new rows winning, and writes many new partitions at once in order', async () => {
    const staging = fs.mkdtempSync(path.join(storage, 'stage-'));
    const { unit } = begin(['AAA'], staging);
    unit.append(page([[0, 1, 40], [0, 3, 41]]));
    await unit.commit();
    expect(await read('AAA')).toEqual([[minute(0), 2], [minute(1), 40], [minute(2), 5], [minute(3), 41]]);

    // Twelve new months of one symbol, shared among the write slots; one month arrives out of order.
    const months = Array.from({ length: 12 }, (_, m) => m);
    const { unit: many, committed } = begin(['CCC'], staging);
    const rows: [number, number, number][] = [];
    for (const m of months) for (let d = 0; d < 3; d++) rows.push([0, (m * 31 + d) * 24 * 60, m * 10 + d]);
    [rows[3], rows[4]] = [rows[4], rows[3]];
    many.append(page(rows));
    await many.commit();
    expect(committed).toHaveLength(12);
    for (const m of months) {
      const got = await read('CCC', String(m + 1).padStart(2, '0'));
      expect(got.map(([, close]) => close)).toEqual([m * 10, m * 10 + 1, m * 10 + 2]);
      expect(got.map(([t]) => t)).toEqual([...got.map(([t]) => t)].sort((a, b) => a - b));
    }
  });

  it('streams many partitions across chunk boundaries exactly (40 months × 97 rows, on several lanes)', async () => {
    const staging = fs.mkdtempSync(path.join(storage, 'stage-'));
    const { unit, rows: committedRows } = begin(['DDD'], staging);
    const rows: [number, number, number][] = [];
    // 97 rows a month: segments end mid-chunk, so chunks of 2,048 rows span many partitions.
    for (let m = 0; m < 40; m++) for (let r = 0; r < 97; r++) rows.push([0, Math.round((m * 30.44 + r * 0.2) * 24 * 60), m * 1000 + r]);
    unit.append(page(rows));
    await unit.commit();
    expect(committedRows()).toBe(40 * 97);
    const c = await duck.connect();
    try {
      const glob = path.join(storage, 'equities_1min', 'symbol=DDD', '**', '*.parquet');
      // Files in path order, rows in file order: equal to what was sent only if each file is sorted.
      const got = (await c.runAndReadAll(`SELECT close FROM read_parquet('${glob}', filename = true, file_row_number = true) ORDER BY filename, file_row_number`)).getRows();
      expect(got.map(([close]) => Number(close))).toEqual(rows.map(([, , close]) => close));
    } finally {
      c.closeSync();
    }
  });

  it('keeps every row while merges overlap: a row arriving for a partition already being merged is merged after it', async () => {
    const staging = fs.mkdtempSync(path.join(storage, 'stage-'));
    const symbols = Array.from({ length: 24 }, (_, i) => `OV${i}`);
    const { unit, rows: committedRows } = begin(symbols, staging);
    // 24 symbols × 3,000 rows in pages of 1,000: merges of ~16 small partitions start every 50,000
    // rows and run while pages keep coming.
    for (let s = 0; s < 24; s++) {
      for (let from = 0; from < 3000; from += 1000) {
        unit.append(page(Array.from({ length: 1000 }, (_, i): [number, number, number] => [s, from + i, s * 10_000 + from + i])));
        await unit.flushIfFull();
      }
      // A late row for symbol 0, after its partition went to a merge (a provider out of order).
      if (s === 20) unit.append(page([[0, 3000, 99]]));
    }
    await unit.commit();
    await unit.release();
    expect(committedRows()).toBe(24 * 3000 + 1);
    const first = await read('OV0');
    expect(first).toHaveLength(3001);
    expect(first[3000]).toEqual([minute(3000), 99]);
    expect(first.map(([t]) => t)).toEqual([...first.map(([t]) => t)].sort((a, b) => a - b));
    for (let s = 1; s < 24; s++) expect(await read(`OV${s}`)).toHaveLength(3000);
  });
});
