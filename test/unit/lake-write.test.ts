import { describe, expect, it } from 'vitest';
import { allocateBarColumns, type BarColumns, BARS_SCHEMA } from '../../src/lake/schema.js';
import { PendingPartitions, partitionSegment } from '../../src/lake/pending-partitions.js';
import { sliceEvenly } from '../../src/lake/partition-writer.js';
import { connectUtc, openDuckDB } from '../../src/lake/duck.js';
import { UnitRowsFunction, writeInt64 } from '../../src/lake/unit-rows.js';

const us = (iso: string): number => Date.parse(iso) * 1000;

/** Columns from [symbol index, ISO time, close] rows; close doubles as a row label. */
function columns(rows: [number, string, number][]): BarColumns {
  const c = allocateBarColumns(rows.length);
  rows.forEach(([s, t, close], i) => {
    c.symbol[i] = s;
    c.time[i] = us(t);
    c.close[i] = close;
  });
  c.length = rows.length;
  return c;
}

/** Rows appended to a fresh tracker, as a unit appends a page. */
function track(rows: [number, string, number][], scheme: 'month' | 'year' = 'month'): { c: BarColumns; ids: Int32Array; pending: PendingPartitions } {
  const c = columns(rows);
  const ids = new Int32Array(rows.length);
  const pending = new PendingPartitions(scheme);
  pending.add(c, 0, rows.length, ids);
  return { c, ids, pending };
}

describe('pending partitions', () => {
  it('in a yearly dataset, tracks each (symbol, UTC year)', () => {
    const { pending } = track(
      [
        [0, '2023-12-29T05:00:00Z', 1],
        [0, '2024-01-02T05:00:00Z', 2],
        [0, '2024-06-03T04:00:00Z', 3],
        [1, '2024-01-02T05:00:00Z', 4],
      ],
      'year',
    );
    expect(pending.all().map((p) => [p.symbolIndex, p.year, p.month, p.rows])).toEqual([
      [0, 2023, undefined, 1],
      [0, 2024, undefined, 2],
      [1, 2024, undefined, 1],
    ]);
  });

  it('tracks each (symbol, UTC month) with its rows, span and order, and keeps the last row’s open', () => {
    const { c, ids, pending } = track([
      [0, '2024-01-31T20:59:00Z', 1],
      [0, '2024-02-01T14:30:00Z', 2],
      [0, '2024-02-01T14:31:00Z', 3],
      [1, '2024-01-02T14:30:00Z', 4],
    ]);
    const all = pending.all().map((p) => [p.symbolIndex, p.year, p.month, p.rows, p.ordered, p.firstRow, p.lastRow]);
    expect(all).toEqual([
      [0, 2024, 1, 1, true, 0, 0],
      [0, 2024, 2, 2, true, 1, 2],
      [1, 2024, 1, 1, true, 3, 3],
    ]);
    expect(pending.open()?.symbolIndex).toBe(1);
    expect(pending.completed().map((p) => p.month)).toEqual([1, 2]);
    expect(new Set(ids).size).toBe(3);
    pending.remove(pending.completed());
    expect(pending.rows).toBe(1);
  });

  it('months are UTC: 23:59 New York on 31 January is February', () => {
    const { pending } = track([[0, '2024-02-01T04:59:00Z', 1]]);
    const [p] = pending.all();
    expect([p.year, p.month, p.startUs, p.endUs]).toEqual([2024, 2, us('2024-02-01T00:00:00Z'), us('2024-03-01T00:00:00Z')]);
  });

  it('uses rows in place when they arrived in order, side by side', () => {
    const { c, ids, pending } = track([
      [0, '2024-01-02T14:30:00Z', 1],
      [0, '2024-01-02T14:31:00Z', 2],
    ]);
    const segment = partitionSegment(BARS_SCHEMA, c, ids, pending.all()[0]);
    expect(segment.columns).toBe(c);
    expect([segment.from, segment.to]).toEqual([0, 2]);
  });

  it('gathers interleaved rows, sorts them by time, and keeps the last row received for a timestamp', () => {
    const { c, ids, pending } = track([
      [0, '2024-01-02T14:32:00Z', 1],
      [1, '2024-01-02T14:30:00Z', 2],
      [0, '2024-01-02T14:30:00Z', 3],
      [0, '2024-01-02T14:32:00Z', 4],
      [0, '2024-01-02T14:31:00Z', 5],
    ]);
    const first = pending.all().find((p) => p.symbolIndex === 0)!;
    expect(first.ordered).toBe(false);
    const segment = partitionSegment(BARS_SCHEMA, c, ids, first);
    const columns = segment.columns as BarColumns;
    const rows = Array.from({ length: segment.to - segment.from }, (_, i) => [columns.time[segment.from + i], columns.close[segment.from + i]]);
    expect(rows).toEqual([
      [us('2024-01-02T14:30:00Z'), 3],
      [us('2024-01-02T14:31:00Z'), 5],
      [us('2024-01-02T14:32:00Z'), 4],
    ]);
  });
});

describe('int64 columns', () => {
  it('writes whole numbers as little-endian int64, rounding when asked', () => {
    const source = new Float64Array([0, 1, -1, 2 ** 32, 2 ** 53 - 1, -(2 ** 40) - 5, us('2024-01-02T14:30:00Z'), 2.5, 7.4]);
    const target = new Int32Array(source.length * 2);
    writeInt64(target, 0, source, 0, 7, false);
    writeInt64(target, 7, source, 7, 9, true);
    const read = new BigInt64Array(target.buffer);
    expect([...read]).toEqual([0n, 1n, -1n, 2n ** 32n, 2n ** 53n - 1n, -(2n ** 40n) - 5n, BigInt(us('2024-01-02T14:30:00Z')), 3n, 7n]);
  });
});

describe('sharing a merge among the write slots', () => {
  it('cuts the partitions into contiguous slices of sizes one apart, every partition once', () => {
    expect(sliceEvenly(10, 4)).toEqual([[0, 1, 2], [3, 4, 5], [6, 7], [8, 9]]);
    expect(sliceEvenly(3, 4)).toEqual([[0], [1], [2]]);
    expect(sliceEvenly(5, 1)).toEqual([[0, 1, 2, 3, 4]]);
    expect(sliceEvenly(0, 4)).toEqual([]);
    for (let n = 0; n < 40; n++) {
      for (let count = 1; count <= 5; count++) {
        const slices = sliceEvenly(n, count);
        expect(slices.flat()).toEqual([...Array(n).keys()]);
        const sizes = slices.map((s) => s.length);
        expect(slices.length, `${n} in ${count}`).toBe(Math.min(n, count));
        if (n > 0) expect(Math.min(...sizes) > 0 && Math.max(...sizes) - Math.min(...sizes) <= 1, `${n} in ${count}: ${sizes}`).toBe(true);
      }
    }
  });
});

describe('rows in memory as a table', () => {
  it('a prepared query reads the rows its scan holds when it runs, not when it was prepared', async () => {
    const duck = await openDuckDB(1);
    const connection = await connectUtc(duck);
    try {
      const rows = new UnitRowsFunction(connection, BARS_SCHEMA);
      const c = columns([
        [0, '2024-01-02T14:30:00Z', 1],
        [0, '2024-01-02T14:31:00Z', 2],
        [0, '2024-01-02T14:32:00Z', 4],
      ]);
      const scan = rows.open([]);
      const query = await connection.prepare(`SELECT count(*)::INTEGER, sum("close"), max(part) FROM ${scan.sql}`);
      const run = async (): Promise<unknown[]> => (await query.runAndReadAll()).getRows()[0];
      expect(await run()).toEqual([0, null, null]);
      scan.set([{ columns: c, from: 0, to: 2, part: 7 }]);
      expect(await run()).toEqual([2, 3, 7]);
      scan.set([{ columns: c, from: 1, to: 3, part: 8 }]);
      expect(await run()).toEqual([2, 6, 8]);
      query.destroySync();
      scan.close();
    } finally {
      connection.closeSync();
      duck.closeSync();
    }
  });
});

