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

/** What a unit needs from the writer: merging partitions, and buffers (recycled across units). */
export interface PartitionSink<S extends DatasetSchema> {
  writePartitions(partitions: readonly PartitionToWrite[], stagingDir: string): Promise<void>;
  buffers(): UnitBuffers<S>;
  /** A second buffer for a unit whose merge runs in the background; undefined when enough are out. */
  extraBuffers(): UnitBuffers<S> | undefined;
  /** Buffers back, from a merge or (`unitDone`) from a unit that finished. */
  recycle(buffers: UnitBuffers<S>, unitDone?: boolean): void;
}

/**
 * A merge of many small partitions is mostly DuckDB writing one small file after another on one
 * thread: such a merge runs while the next rows arrive in another buffer, and others may start
 * beside it, as many as the writer runs at once. A merge of a few large partitions keeps the unit
 * waiting, and its single buffer.
 */
const WRITES_IN_FLIGHT = 4;
const OVERLAP_MIN_PARTITIONS = 8;

export class UnitWrite<S extends DatasetSchema> {
  private readonly pending: PendingPartitions;
  private readonly fields: string[];
  private buffers: UnitBuffers<S>;
  /** Merges started and not yet awaited, oldest first. */
  private readonly writes: Promise<void>[] = [];
  private failure: unknown;
  /** The last batch the source filled, handed back to it for the next one. */
  private page: BatchOf<S> | undefined;

  constructor(
    private readonly sink: PartitionSink<S>,
    private readonly symbols: readonly string[],
    scheme: PartitionScheme,
    private readonly stagingDir: string,
    private readonly onCommitted: (partitions: readonly CommittedPartition[]) => void,
  ) {
    this.pending = new PendingPartitions(scheme);
    this.buffers = sink.buffers();
    this.fields = batchFields(this.buffers.schema);
    this.buffers.columns.length = 0;
  }

  private get buffer(): TimedBatch<S> {
    return this.buffers.columns;
  }

  /** Columns for the source to fill next (the previous batch's, once it is appended). */
  get pageColumns(): BatchOf<S> | undefined {
    return this.page;
  }

  /** Copy a batch into the unit's buffer; its columns become the next `pageColumns`. */
  append(columns: BatchOf<S>): void {
    this.page = columns;
    const start = this.buffer.length;
    const end = start + columns.length;
    if (end > this.buffers.ids.length) this.grow(end);
    for (const field of this.fields) copyInto(columnOf(this.buffer, field), columnOf(columns, field).subarray(0, columns.length), start);
    this.buffer.length = end;
    this.pending.add(this.buffer, start, end, this.buffers.ids);
  }

  /**
   * Once enough rows are buffered, merge the completed partitions from this buffer while the open
   * one moves to a fresh buffer that takes the next rows; waits only when WRITES_IN_FLIGHT merges
   * are already running.
   */
  async flushIfFull(): Promise<void> {
    this.throwIfFailed();
    if (this.buffer.length < FLUSH_ROWS) return;
    const done = this.pending.completed();
    if (done.length === 0) return;
    const next = done.length < OVERLAP_MIN_PARTITIONS ? undefined : this.sink.extraBuffers();
    if (!next) {
      await this.write(done, this.buffers);
      const open = this.pending.open();
      if (open) this.keepOnly(open);
      else this.buffer.length = 0;
      return;
    }
    const full = this.buffers;
    const open = this.pending.open();
    this.buffers = next;
    this.buffers.columns.length = 0;
    if (open) this.carry(full, open);
    const write = this.write(done, full).finally(() => this.sink.recycle(full));
    // Kept for commit, which reports the failure; noted here so it never goes unhandled.
    this.writes.push(write.catch((error: unknown) => void (this.failure ??= error)));
    if (this.writes.length >= WRITES_IN_FLIGHT) await this.writes.shift();
    this.throwIfFailed();
  }

  /** Move the open partition's rows, in arrival order, to the start of the buffer and drop the rest. */
  private keepOnly(open: PendingPartition): void {
    const { ids } = this.buffers;
    if (open.lastRow - open.firstRow + 1 === open.rows) {
      for (const field of this.fields) columnOf(this.buffer, field).copyWithin(0, open.firstRow, open.lastRow + 1);
    } else {
      let w = 0;
      for (let r = open.firstRow; r <= open.lastRow; r++) {
        if (ids[r] !== open.id) continue;
        for (const field of this.fields) columnOf(this.buffer, field).copyWithin(w, r, r + 1);
        w++;
      }
    }
    ids.fill(open.id, 0, open.rows);
    this.buffer.length = open.rows;
    this.pending.movedToFront(open);
  }

  /** Copy the open partition's rows, in arrival order, from `from` to the start of the current buffer. */
  private carry(from: UnitBuffers<S>, open: PendingPartition): void {
    if (open.rows > this.buffers.ids.length) this.grow(open.rows);
    let w = 0;
    for (let r = open.firstRow; r <= open.lastRow; r++) {
      if (from.ids[r] !== open.id) continue;
      for (const field of this.fields) columnOf(this.buffer, field)[w] = columnOf(from.columns, field)[r];
      w++;
    }
    this.buffers.ids.fill(open.id, 0, open.rows);
    this.buffer.length = open.rows;
    this.pending.movedToFront(open);
  }

  /** Merge everything still buffered, after the merges in flight. */
  async commit(): Promise<void> {
    await Promise.all(this.writes.splice(0));
    this.throwIfFailed();
    await this.write(this.pending.all(), this.buffers);
    this.buffer.length = 0;
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  private grow(needed: number): void {
    const capacity = Math.max(needed, this.buffers.ids.length * 2);
    const bigger = allocateBatch(this.buffers.schema, capacity) as TimedBatch<S>;
    for (const field of this.fields) copyInto(columnOf(bigger, field), columnOf(this.buffer, field).subarray(0, this.buffer.length), 0);
    bigger.length = this.buffer.length;
    const ids = new Int32Array(capacity);
    ids.set(this.buffers.ids.subarray(0, this.buffer.length));
    this.buffers.columns = bigger;
    this.buffers.ids = ids;
  }

  /** Hand the buffers to the next unit, once no merge reads them; this unit must not be used afterwards. */
  async release(): Promise<void> {
    await Promise.allSettled(this.writes.splice(0));
    this.sink.recycle(this.buffers, true);
  }

  /**
   * Merge partitions whose rows are in `from`. They leave the pending set before the merge starts,
   * so a row that arrives for one of them later (a provider out of order) opens a new one, merged
   * after this one with the stored file.
   */
  private async write(partitions: PendingPartition[], from: UnitBuffers<S>): Promise<void> {
    this.pending.remove(partitions);
    const targets = partitions
      .filter((p) => p.rows > 0)
      .map((p) => ({
        key: { symbol: this.symbols[p.symbolIndex], year: p.year, month: p.month },
        rows: partitionSegment(from.schema, from.columns, from.ids, p),
        pending: p,
      }));
    await this.sink.writePartitions(targets, this.stagingDir);
    this.onCommitted(
      targets.map(({ key, rows, pending }) => ({ key, rows: rows.to - rows.from, firstBar: Math.floor(pending.minUs / 1000), lastBar: Math.floor(pending.maxUs / 1000) })),
    );
  }
}

function copyInto(target: Float64Array | BigInt64Array, source: Float64Array | BigInt64Array, at: number): void {
  (target as Float64Array).set(source as Float64Array, at);
}
