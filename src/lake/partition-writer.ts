/**
 * Merges partitions into the lake, one file per partition: stored rows whose identity is not in the
 * batch, plus the batch, sorted, written by DuckDB to a temp file in the staging area and renamed
 * over `data.parquet`. Partitions a batch does not touch are never rewritten; readers always see
 * the old file or the new one.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { DuckDBConnection, DuckDBInstance, DuckDBPreparedStatement } from '@duckdb/node-api';
import pLimit from 'p-limit';
import { fileExists, publishFiles } from '../shared/atomic-file.js';
import { KeyedMutex } from '../shared/keyed-mutex.js';
import { partitionFile, partitionLabel, type PartitionScheme } from '../shared/lake-paths.js';
import { connectUtc, duckMessage, sqlIdent, sqlString } from './duck.js';
import { columnNames, type DatasetSchema } from './schema.js';
import { type RowSegment, schemaColumnsSql, UnitRowsFunction, type UnitRowsScan } from './unit-rows.js';
import { type CommittedPartition, type PartitionSink, type PartitionToWrite, UnitBuffers, UnitWrite } from './unit-write.js';

/** A stored partition exists but cannot be read: the unit fails and the file is left for inspection. */
export class PartitionUnreadableError extends Error {
  constructor(readonly file: string, detail: string) {
    super(`stored partition ${file} cannot be read (${detail}); it was left untouched — inspect or move it, then rerun`);
    this.name = 'PartitionUnreadableError';
  }
}

/**
 * DuckDB writes at once. A bar run's COPY runs on its calling thread alone (see `BAR_WRITER_THREADS`)
 * and waits on the main thread for its rows and on the disk, so twice a 2-core machine's cores keep
 * it busy (three left a month of 500 flat-file partitions with a third of the CPU idle).
 */
const WRITE_CONCURRENCY = 4;

/** A merge is shared among the write slots only in slices of at least this many partitions. */
const MIN_PARTITIONS_PER_SLOT = 4;

/** Indices 0…n-1 in `count` contiguous slices whose sizes differ by one at most (none empty). */
export function sliceEvenly(n: number, count: number): number[][] {
  const slices: number[][] = [];
  for (let k = 0, from = 0; k < count && from < n; k++) {
    const to = from + Math.ceil((n - from) / (count - k));
    slices.push(Array.from({ length: to - from }, (_, i) => from + i));
    from = to;
  }
  return slices;
}

export class PartitionWriter<S extends DatasetSchema> implements PartitionSink<S> {
  private readonly locks = new KeyedMutex();
  /** Lanes not running a write; one is opened per concurrent write. */
  private readonly idle: WriteLane[] = [];
  private readonly spareBuffers: UnitBuffers<S>[] = [];
  /** Units writing, and buffers handed out (one per unit, plus those of background merges). */
  private unitsOpen = 0;
  private buffersOut = 0;
  private readonly writeSlots = pLimit(WRITE_CONCURRENCY);
  private readonly columns: string[];
  /** The schema's columns as read from memory: NaN in a nullable column is NULL. */
  private readonly fromMemory: string;

  private constructor(
    private readonly duck: DuckDBInstance,
    private readonly home: DuckDBConnection,
    private readonly unitRows: UnitRowsFunction,
    private readonly schema: S,
    private readonly scheme: PartitionScheme,
    private readonly storage: string,
    private readonly dataset: string,
  ) {
    this.columns = columnNames(schema);
    this.fromMemory = schemaColumnsSql(schema);
  }

  static async open<S extends DatasetSchema>(duck: DuckDBInstance, schema: S, scheme: PartitionScheme, storage: string, dataset: string): Promise<PartitionWriter<S>> {
    const home = await connectUtc(duck);
    return new PartitionWriter(duck, home, new UnitRowsFunction(home, schema), schema, scheme, storage, dataset);
  }

  close(): void {
    for (const lane of this.idle.splice(0)) lane.close();
    this.home.closeSync();
  }

  /** Start a unit: its rows are appended batch by batch, and merged partition by partition. */
  beginUnit(symbols: readonly string[], stagingDir: string, onCommitted: (partitions: readonly CommittedPartition[]) => void): UnitWrite<S> {
    return new UnitWrite(this, symbols, this.scheme, stagingDir, onCommitted);
  }

  buffers(): UnitBuffers<S> {
    this.unitsOpen += 1;
    this.buffersOut += 1;
    return this.spareBuffers.pop() ?? new UnitBuffers(this.schema);
  }

  extraBuffers(): UnitBuffers<S> | undefined {
    // Only WRITE_CONCURRENCY merges run at once: more buffers than that beyond one per unit only cost memory.
    if (this.buffersOut - this.unitsOpen >= WRITE_CONCURRENCY) return undefined;
    this.buffersOut += 1;
    return this.spareBuffers.pop() ?? new UnitBuffers(this.schema);
  }

  recycle(buffers: UnitBuffers<S>, unitDone = false): void {
    if (unitDone) this.unitsOpen -= 1;
    this.buffersOut -= 1;
    this.spareBuffers.push(buffers);
  }

  /**
   * Merge partitions into the lake. Every partition written is held (in sorted order, so two units
   * cannot deadlock), all temp files are written, then published together: one batch of fsyncs
   * instead of one per partition. Only the DuckDB part takes a write slot; publishing waits on the
   * disk (~17 ms a batch here), and holding a slot through it left DuckDB idle.
   */
  async writePartitions(partitions: readonly PartitionToWrite[], stagingDir: string): Promise<void> {
    if (partitions.length === 0) return;
    const targets = partitions.map((p) => partitionFile(this.storage, this.dataset, p.key));
    await this.locks.runAll(targets, async () => {
      const temps = new Map<number, string>();
      try {
        const exists = await Promise.all(targets.map((t) => fileExists(t)));
        // A long list is shared among the write slots: a unit's last merge otherwise ran its COPYs one
        // after another while the other slots sat idle.
        const slices = sliceEvenly(partitions.length, Math.min(WRITE_CONCURRENCY, Math.ceil(partitions.length / MIN_PARTITIONS_PER_SLOT)));
        const settled = await Promise.allSettled(slices.map((slice) => this.writeSlots(() => this.writeSlice(slice, partitions, exists, stagingDir, temps))));
        const failed = settled.find((r) => r.status === 'rejected');
        if (failed) throw failed.reason;
        await publishFiles(partitions.map((_, i) => ({ temp: temps.get(i)!, target: targets[i] })));
      } catch (error) {
        await Promise.all([...temps.values()].map((t) => fs.rm(t, { force: true })));
        throw error;
      }
    });
  }

  /** Write partitions `indices` of `partitions` to temp files (recorded in `temps`) on one lane. */
  private async writeSlice(indices: readonly number[], partitions: readonly PartitionToWrite[], exists: readonly boolean[], stagingDir: string, temps: Map<number, string>): Promise<void> {
    const lane = this.idle.pop() ?? (await WriteLane.open(this.duck, this.unitRows, this.fromMemory));
    try {
      for (const i of indices) temps.set(i, await this.mergePartition(lane, partitions[i], exists[i], stagingDir));
    } finally {
      this.idle.push(lane);
    }
  }

  /** Write the partition, merged with its stored file if it has one, to a temp file in the staging area; returns its path. */
  private async mergePartition(lane: WriteLane, { key, rows }: PartitionToWrite, exists: boolean, stagingDir: string): Promise<string> {
    const target = partitionFile(this.storage, this.dataset, key);
    const temp = path.join(stagingDir, `${partitionLabel(key).replace(' ', '-')}.parquet.tmp`);
    try {
      if (exists) await this.mergeWithStored(lane.connection, rows, target, temp);
      else await lane.writeNew(rows, temp, stagingDir);
    } catch (error) {
      await fs.rm(temp, { force: true });
      if (exists) throw new PartitionUnreadableError(target, duckMessage(error));
      throw new Error(`writing partition ${partitionLabel(key)} failed: ${duckMessage(error)}`);
    }
    return temp;
  }

  /** The stored rows whose time is not among the new ones, and the new ones, in time order, to `temp`. */
  private async mergeWithStored(connection: DuckDBConnection, rows: RowSegment, target: string, temp: string): Promise<void> {
    const scan = this.unitRows.open([rows]);
    const list = this.columns.map(sqlIdent).join(', ');
    const time = sqlIdent(this.schema.timeColumn);
    const batch = `SELECT ${this.fromMemory} FROM ${scan.sql}`;
    const stored = `SELECT ${list} FROM read_parquet(${sqlString(target)}, hive_partitioning = false)`;
    try {
      await connection.run(`COPY (SELECT * FROM (${stored} WHERE ${time} NOT IN (SELECT ${time} FROM (${batch})) UNION ALL ${batch}) ORDER BY ${time}) TO ${sqlString(temp)} (FORMAT parquet, COMPRESSION zstd)`);
    } finally {
      scan.close();
    }
  }
}

let laneCounter = 0;

/**
 * A connection running one write at a time. A new partition is written by a COPY prepared once per
 * staging area into the lane's own file, then renamed: planning a COPY cost about a third of writing
 * a small partition (measured: 500 partitions of 1,300 rows, 1.1 s → 0.8 s of CPU).
 */
class WriteLane {
  private fresh: { stagingDir: string; copy: DuckDBPreparedStatement; output: string } | undefined;

  private constructor(
    readonly connection: DuckDBConnection,
    private readonly scan: UnitRowsScan,
    private readonly fromMemory: string,
    private readonly id: number,
  ) {}

  static async open(duck: DuckDBInstance, unitRows: UnitRowsFunction, fromMemory: string): Promise<WriteLane> {
    return new WriteLane(await connectUtc(duck), unitRows.open([]), fromMemory, ++laneCounter);
  }

  /** Write a new partition's rows to `temp`. */
  async writeNew(rows: RowSegment, temp: string, stagingDir: string): Promise<void> {
    if (this.fresh?.stagingDir !== stagingDir) {
      this.fresh?.copy.destroySync();
      this.fresh = undefined;
      const output = path.join(stagingDir, `lane-${this.id}.parquet.tmp`);
      // The rows are strictly increasing in time, and a single-threaded scan keeps that order: no sort.
      const copy = await this.connection.prepare(`COPY (SELECT ${this.fromMemory} FROM ${this.scan.sql}) TO ${sqlString(output)} (FORMAT parquet, COMPRESSION zstd)`);
      this.fresh = { stagingDir, copy, output };
    }
    this.scan.set([rows]);
    try {
      await this.fresh.copy.run();
    } finally {
      this.scan.set([]);
    }
    await fs.rename(this.fresh.output, temp);
  }

  close(): void {
    this.fresh?.copy.destroySync();
    this.scan.close();
    this.connection.closeSync();
  }
}
