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
import { partitionColumns, partitionFile, partitionLabel, type PartitionScheme, partitionSubdir } from '../shared/lake-paths.js';
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

let bulkCounter = 0;

/**
 * DuckDB writes at once. A bar run's COPY runs on its calling thread alone (see `BAR_WRITER_THREADS`)
 * and waits on the main thread for its rows and on the disk, so twice a 2-core machine's cores keep
 * it busy (three left a month of 500 flat-file partitions with a third of the CPU idle).
 */
const WRITE_CONCURRENCY = 4;

/** A merge is shared among the write slots only in slices of at least this many partitions. */
const MIN_PARTITIONS_PER_SLOT = 4;

/** Below this many new partitions in one commit, per-partition COPYs are as cheap as the bulk path. */
const BULK_MIN_PARTITIONS = 8;
/** A partitioned COPY keeps a writer open per partition: this many at most bounds its memory. */
const BULK_MAX_PARTITIONS = 64;
/**
 * Above this many rows a partition on average, the bulk path's sort and check cost more than the
 * COPYs it saves: a COPY costs ~3 ms here whatever its size, the bulk path ~2 µs a row more.
 */
const BULK_MAX_MEAN_ROWS = 1_000;

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

/** Whether new partitions of these row counts are written by one partitioned COPY rather than one COPY each. */
export function writesInBulk(rows: readonly number[]): boolean {
  return rows.length >= BULK_MIN_PARTITIONS && rows.reduce((sum, n) => sum + n, 0) <= BULK_MAX_MEAN_ROWS * rows.length;
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
      const fresh = indices.filter((i) => !exists[i]);
      for (let from = 0; from < fresh.length; from += BULK_MAX_PARTITIONS) {
        const batch = fresh.slice(from, from + BULK_MAX_PARTITIONS);
        if (!writesInBulk(batch.map((i) => partitions[i].rows.to - partitions[i].rows.from))) continue;
        const written = await this.writeNewPartitions(lane.connection, batch.map((i) => partitions[i]), stagingDir);
        for (const [i, temp] of written) temps.set(batch[i], temp);
      }
      for (const i of indices) {
        if (!temps.has(i)) temps.set(i, await this.mergePartition(lane, partitions[i], exists[i], stagingDir));
      }
    } finally {
      this.idle.push(lane);
    }
  }

  /**
   * Partitions that do not exist yet, written by one partitioned COPY (~0.45 ms a partition here
   * instead of ~3 ms each). DuckDB does not promise one sorted file per partition on that path, so
   * every output is checked: a partition with more than one file, an unsorted file or a row count
   * other than expected is left out of the result and goes through the per-partition merge instead.
   * Returns index → temp file.
   */
  private async writeNewPartitions(connection: DuckDBConnection, partitions: readonly PartitionToWrite[], stagingDir: string): Promise<Map<number, string>> {
    const bulkDir = path.join(stagingDir, `bulk-${++bulkCounter}`);
    // Hive values as text, padded as the path codec pads them; the check below compares each output
    // directory with the codec's path, so a mismatch falls back to the per-partition write.
    const hive = partitionColumns(this.scheme);
    const hiveList = ['symbol', ...hive].map(sqlIdent).join(', ');
    const values = partitions
      .map(({ key, rows }) => `(${[String(rows.part), sqlString(key.symbol), sqlString(String(key.year).padStart(4, '0')), ...(key.month === undefined ? [] : [sqlString(String(key.month).padStart(2, '0'))])].join(', ')})`)
      .join(', ');
    const keysTable = `bulk_keys_${process.pid}_${bulkCounter}`;
    const scan = this.unitRows.open(partitions.map((p) => p.rows));
    await connection.run(`CREATE TEMP TABLE ${keysTable} AS SELECT * FROM (VALUES ${values}) v(part, ${hiveList})`);
    try {
      await connection.run(
        `COPY (SELECT ${['symbol', ...hive].map((c) => `k.${sqlIdent(c)}`).join(', ')}, ${this.columns.map((c) => `t.${sqlIdent(c)}`).join(', ')}
               FROM (SELECT part, ${this.fromMemory} FROM ${scan.sql}) t JOIN ${keysTable} k USING (part)
               ORDER BY k.symbol, t.${sqlIdent(this.schema.timeColumn)})
         TO ${sqlString(bulkDir)} (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (${hiveList}), FILE_EXTENSION 'parquet.tmp')`,
      );
      // Sorted strictly: a duplicate timestamp (which the provider should never send) also sends the
      // partition through the per-partition path, which keeps the last row of each timestamp.
      const check = await connection.runAndReadAll(
        `SELECT filename, bool_or(bad) AS unordered, count(*)::BIGINT AS n FROM (
           SELECT filename, ${sqlIdent(this.schema.timeColumn)} <= lag(${sqlIdent(this.schema.timeColumn)}) OVER (PARTITION BY filename ORDER BY file_row_number) AS bad
           FROM read_parquet(${sqlString(path.join(bulkDir, '**', '*.parquet.tmp'))}, filename = true, file_row_number = true, hive_partitioning = false))
         GROUP BY filename`,
      );
      const filesByDir = new Map<string, { file: string; unordered: boolean; rows: number }[]>();
      for (const [file, unordered, n] of check.getRows() as [string, boolean, bigint][]) {
        const dir = path.dirname(file);
        filesByDir.set(dir, [...(filesByDir.get(dir) ?? []), { file, unordered, rows: Number(n) }]);
      }
      const out = new Map<number, string>();
      partitions.forEach(({ key, rows }, i) => {
        const files = filesByDir.get(path.join(bulkDir, partitionSubdir(key))) ?? [];
        if (files.length === 1 && !files[0].unordered && files[0].rows === rows.to - rows.from) out.set(i, files[0].file);
      });
      return out;
    } finally {
      scan.close();
      await connection.run(`DROP TABLE IF EXISTS ${keysTable}`).catch(() => undefined);
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
