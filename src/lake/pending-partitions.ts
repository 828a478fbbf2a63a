/**
 * Which partitions (symbol and UTC month or year) a unit's appended rows fall into, tracked row by row as columns are appended, so
 * the writer never has to ask DuckDB (a GROUP BY with time-zone-aware year()/month() cost more than
 * writing the files). Pure bookkeeping: no I/O.
 */
import { partitionBounds, partitionPeriodAt, type PartitionScheme } from '../shared/lake-paths.js';
import { allocateBatch, batchFields, type ColumnBatch, columnOf, type DatasetSchema } from './schema.js';
import type { RowSegment } from './unit-rows.js';

/** One partition's rows buffered in the unit's batch. Times are UTC microseconds. */
export interface PendingPartition {
  /** Tags the partition's rows in the unit table, so a write selects them by equality. */
  id: number;
  symbolIndex: number;
  year: number;
  /** Undefined in a yearly dataset. */
  month: number | undefined;
  /** [startUs, endUs) of the month or year. */
  startUs: number;
  endUs: number;
  rows: number;
  minUs: number;
  maxUs: number;
  /** True while every row came strictly after the previous one: the rows need no sort and hold no duplicate. */
  ordered: boolean;
  lastUs: number;
  /** First and last row index of the partition in the buffer the rows were counted in. */
  firstRow: number;
  lastRow: number;
}

function emptyPartition(id: number, symbolIndex: number, year: number, month: number | undefined): PendingPartition {
  const bounds = partitionBounds({ year, month });
  return {
    id,
    symbolIndex,
    year,
    month,
    startUs: bounds.start * 1000,
    endUs: bounds.end * 1000,
    rows: 0,
    minUs: Infinity,
    maxUs: -Infinity,
    ordered: true,
    lastUs: -Infinity,
    firstRow: -1,
    lastRow: -1,
  };
}

export class PendingPartitions {
  private readonly byKey = new Map<number, PendingPartition>();
  /** The partition of the last appended row: still open, because the next page may continue it. */
  private current: PendingPartition | undefined;
  private nextId = 0;

  constructor(private readonly scheme: PartitionScheme) {}

  /** Rows buffered across all pending partitions. */
  get rows(): number {
    let n = 0;
    for (const p of this.byKey.values()) n += p.rows;
    return n;
  }

  /** Account rows [from, to) of a unit's buffer; `ids[r]` receives each row's partition id. */
  add(columns: ColumnBatch & { time: Float64Array }, from: number, to: number, ids: Int32Array): void {
    const { symbol, time } = columns;
    let p = this.current;
    for (let r = from; r < to; r++) {
      const s = symbol[r];
      const t = time[r];
      if (p === undefined || s !== p.symbolIndex || t < p.startUs || t >= p.endUs) p = this.partitionOf(s, t);
      if (t <= p.lastUs) p.ordered = false;
      p.lastUs = t;
      if (t < p.minUs) p.minUs = t;
      if (t > p.maxUs) p.maxUs = t;
      if (p.rows === 0) p.firstRow = r;
      p.lastRow = r;
      p.rows++;
      ids[r] = p.id;
    }
    this.current = p;
  }

  /** Every pending partition. */
  all(): PendingPartition[] {
    return [...this.byKey.values()];
  }

  /**
   * Partitions that are complete: all but the last row's. Pages come in symbol-then-time order, so
   * nothing later can add to them; should a provider break that order, a later write of the same
   * partition merges with the stored file and is still a correct union.
   */
  completed(): PendingPartition[] {
    return this.all().filter((p) => p !== this.current);
  }

  /** The partition still open, if any. */
  open(): PendingPartition | undefined {
    return this.current;
  }

  /** Forget partitions once they are written. */
  remove(written: readonly PendingPartition[]): void {
    for (const p of written) {
      this.byKey.delete(keyOf(p.symbolIndex, p.year, p.month));
      if (p === this.current) this.current = undefined;
    }
  }

  /** The rows of `p` now sit contiguously from row 0 of the buffer (the writer moved them there). */
  movedToFront(p: PendingPartition): void {
    p.firstRow = 0;
    p.lastRow = p.rows - 1;
  }

  private partitionOf(symbolIndex: number, timeUs: number): PendingPartition {
    const { year, month } = partitionPeriodAt(Math.floor(timeUs / 1000), this.scheme);
    const key = keyOf(symbolIndex, year, month);
    const known = this.byKey.get(key);
    if (known) return known;
    const fresh = emptyPartition(++this.nextId, symbolIndex, year, month);
    this.byKey.set(key, fresh);
    return fresh;
  }
}

function keyOf(symbolIndex: number, year: number, month: number | undefined): number {
  return symbolIndex * 1_000_000 + year * 100 + (month ?? 0);
}

/**
 * A partition's rows as one segment in strictly increasing time. Rows that arrived in order and
 * next to each other are used in place; otherwise they are gathered, sorted by time, and of rows
 * sharing a timestamp the last one received wins (as it does against stored rows).
 */
export function partitionSegment(schema: DatasetSchema, buffer: ColumnBatch & { time: Float64Array }, ids: Int32Array, p: PendingPartition): RowSegment {
  const contiguous = p.lastRow - p.firstRow + 1 === p.rows;
  if (p.ordered && contiguous) return { columns: buffer, from: p.firstRow, to: p.firstRow + p.rows, part: p.id };
  const rows: number[] = [];
  for (let r = p.firstRow; r <= p.lastRow; r++) if (ids[r] === p.id) rows.push(r);
  const time = buffer.time;
  if (!p.ordered) rows.sort((a, b) => time[a] - time[b] || a - b);
  const kept = rows.filter((r, i) => i === rows.length - 1 || time[rows[i + 1]] !== time[r]);
  const out = allocateBatch(schema, kept.length);
  for (const field of batchFields(schema)) {
    const from = columnOf(buffer, field);
    const to = columnOf(out, field);
    kept.forEach((r, i) => (to[i] = from[r]));
  }
  out.length = kept.length;
  return { columns: out, from: 0, to: kept.length, part: p.id };
}
