/**
 * One unit of work's rows on their way into the lake: batches from the source are copied into the
 * unit's buffer, partitions that are complete are merged as the unit goes (bounding memory), the
 * rest at commit. Each merge is reported as it is published, so progress, the summary and the
 * ledger count exactly what is on disk even if the unit stops half-way.
 */
import type { PartitionKey, PartitionScheme } from '../shared/lake-paths.js';
import { type PendingPartition, PendingPartitions, partitionSegment } from './pending-partitions.js';
import { allocateBatch, batchFields, type BatchOf, columnOf, type DatasetSchema } from './schema.js';
import type { RowSegment } from './unit-rows.js';

/** Rows a unit buffers before merging its completed partitions: bounds memory per unit in flight. */
const FLUSH_ROWS = 50_000;
/** Room for a flush's worth of rows plus a full page, so a unit's buffer normally never grows. */
const UNIT_CAPACITY = 65_536;

/** A batch whose time column is UTC microseconds (what partition tracking reads). */
type TimedBatch<S extends DatasetSchema> = BatchOf<S> & { time: Float64Array };

/**
 * A unit's buffers, reused by the next unit: they are megabytes of typed arrays, and allocating
 * them per unit added to the garbage collector's work for nothing.
 */
export class UnitBuffers<S extends DatasetSchema> {
  columns: TimedBatch<S>;
  ids = new Int32Array(UNIT_CAPACITY);
  /** The last batch the source filled, handed back to it for the next one. */
  page: BatchOf<S> | undefined;

  constructor(readonly schema: S) {
    this.columns = allocateBatch(schema, UNIT_CAPACITY) as TimedBatch<S>;
  }
}

/** A partition just published: its rows and time span. */
export interface CommittedPartition {
  key: PartitionKey;
  rows: number;
  /** First and last row time, UTC ms. */
  firstBar: number;
  lastBar: number;
}

/** A partition to write: where it goes and its rows, strictly increasing in time. */
export interface PartitionToWrite {
  key: PartitionKey;
  rows: RowSegment;
}

/** What a unit needs from the writer: merging partitions, and a home for its buffers afterwards. */
export interface PartitionSink<S extends DatasetSchema> {
  writePartitions(partitions: readonly PartitionToWrite[], stagingDir: string): Promise<void>;
  recycle(buffers: UnitBuffers<S>): void;
}

export class UnitWrite<S extends DatasetSchema> {
  private readonly pending: PendingPartitions;
  private readonly fields: string[];

  constructor(
    private readonly sink: PartitionSink<S>,
    private readonly symbols: readonly string[],
    private readonly buffers: UnitBuffers<S>,
    scheme: PartitionScheme,
    private readonly stagingDir: string,
    private readonly onCommitted: (partitions: readonly CommittedPartition[]) => void,
  ) {
    this.pending = new PendingPartitions(scheme);
    this.fields = batchFields(buffers.schema);
    buffers.columns.length = 0;
  }

  private get buffer(): TimedBatch<S> {
    return this.buffers.columns;
  }

  private get ids(): Int32Array {
    return this.buffers.ids;
  }

  /** Columns for the source to fill next (the previous batch's, once it is appended). */
  get pageColumns(): BatchOf<S> | undefined {
    return this.buffers.page;
  }

  /** Copy a batch into the unit's buffer; its columns become the next `pageColumns`. */
  append(columns: BatchOf<S>): void {
    this.buffers.page = columns;
    const start = this.buffer.length;
    const end = start + columns.length;
    if (end > this.ids.length) this.grow(end);
    for (const field of this.fields) copyInto(columnOf(this.buffer, field), columnOf(columns, field).subarray(0, columns.length), start);
    this.buffer.length = end;
    this.pending.add(this.buffer, start, end, this.ids);
  }

  /** Merge completed partitions once enough rows are buffered; the open one stays buffered. */
  async flushIfFull(): Promise<void> {
    if (this.buffer.length < FLUSH_ROWS) return;
    const done = this.pending.completed();
    if (done.length === 0) return;
    await this.write(done);
    const open = this.pending.open();
    if (open) this.keepOnly(open);
    else this.buffer.length = 0;
  }

  /** Move the open partition's rows, in arrival order, to the start of the buffer and drop the rest. */
  private keepOnly(open: PendingPartition): void {
    if (open.lastRow - open.firstRow + 1 === open.rows) {
      for (const field of this.fields) columnOf(this.buffer, field).copyWithin(0, open.firstRow, open.lastRow + 1);
    } else {
      let w = 0;
      for (let r = open.firstRow; r <= open.lastRow; r++) {
        if (this.ids[r] !== open.id) continue;
        for (const field of this.fields) {
          const column = columnOf(this.buffer, field);
          column.copyWithin(w, r, r + 1);
        }
        w++;
      }
    }
    this.ids.fill(open.id, 0, open.rows);
    this.buffer.length = open.rows;
    this.pending.movedToFront(open);
  }

  /** Merge everything still buffered. */
  async commit(): Promise<void> {
    await this.write(this.pending.all());
    this.buffer.length = 0;
  }

  private grow(needed: number): void {
    const capacity = Math.max(needed, this.ids.length * 2);
    const bigger = allocateBatch(this.buffers.schema, capacity) as TimedBatch<S>;
    for (const field of this.fields) copyInto(columnOf(bigger, field), columnOf(this.buffer, field).subarray(0, this.buffer.length), 0);
    bigger.length = this.buffer.length;
    const ids = new Int32Array(capacity);
    ids.set(this.ids.subarray(0, this.buffer.length));
    this.buffers.columns = bigger;
    this.buffers.ids = ids;
  }

  /** Hand the buffers to the next unit; this unit must not be used afterwards. */
  release(): void {
    this.sink.recycle(this.buffers);
  }

  private async write(partitions: PendingPartition[]): Promise<void> {
    const targets = partitions
      .filter((p) => p.rows > 0)
      .map((p) => ({
        key: { symbol: this.symbols[p.symbolIndex], year: p.year, month: p.month },
        rows: partitionSegment(this.buffers.schema, this.buffer, this.ids, p),
        pending: p,
      }));
    await this.sink.writePartitions(targets, this.stagingDir);
    this.pending.remove(partitions);
    this.onCommitted(
      targets.map(({ key, rows, pending }) => ({ key, rows: rows.to - rows.from, firstBar: Math.floor(pending.minUs / 1000), lastBar: Math.floor(pending.maxUs / 1000) })),
    );
  }
}

function copyInto(target: Float64Array | BigInt64Array, source: Float64Array | BigInt64Array, at: number): void {
  (target as Float64Array).set(source as Float64Array, at);
}
