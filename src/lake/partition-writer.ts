/**
 * Buffers a unit's parsed pages and merges them into the lake, one partition file at a time: stored
 * rows whose timestamp is not in the batch, plus the batch, sorted, written by DuckDB to a temp file
 * in the staging area and renamed over `data.parquet`. Partitions the batch does not touch are never
 * rewritten; readers always see the old file or the new one.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import pLimit from 'p-limit';
import { allocateBarColumns, BAR_COLUMN_NAMES, type BarColumns } from '../bars.js';
import { publishFiles } from './atomic.js';
import { connectUtc, duckMessage } from './duck.js';
import { type PartitionKey, partitionFile, partitionLabel, sqlIdent, sqlString } from './layout.js';
import { type PendingPartition, PendingPartitions, partitionSegment } from './pending-partitions.js';
import { type RowSegment, UnitRowsFunction } from './unit-rows.js';

const LAKE_COLUMNS = ['timestamp', 'open', 'high', 'low', 'close', 'vwap', 'volume', 'trade_count'] as const;
const COLUMN_LIST = LAKE_COLUMNS.map(sqlIdent).join(', ');
/** Rows a unit buffers before merging its completed partitions: bounds memory per unit in flight. */
const FLUSH_ROWS = 50_000;
/** Room for a flush's worth of rows plus a full page, so a unit's buffer normally never grows. */
const UNIT_CAPACITY = 65_536;

/**
 * A unit's buffers, reused by the next unit: they are megabytes of typed arrays, and allocating
 * them per unit added to the garbage collector's work for nothing.
 */
class UnitBuffers {
  columns = allocateBarColumns(UNIT_CAPACITY);
  ids = new Int32Array(UNIT_CAPACITY);
  /** The last page's parse buffer, handed to the next parse. */
  page: BarColumns | undefined;
}

/** A stored partition exists but cannot be read: the unit fails and the file is left for inspection. */
export class PartitionUnreadableError extends Error {
  constructor(readonly file: string, detail: string) {
    super(`stored partition ${file} cannot be read (${detail}); it was left untouched — inspect or move it, then rerun`);
    this.name = 'PartitionUnreadableError';
  }
}

export interface SymbolWriteStats {
  rows: number;
  firstBar: number | undefined;
  lastBar: number | undefined;
  partitions: PartitionKey[];
}

export interface UnitWriteResult {
  rows: number;
  partitionsWritten: number;
  perSymbol: Map<string, SymbolWriteStats>;
}

/** A partition to write: where it goes and its rows, strictly increasing in time. */
interface PartitionToWrite {
  key: PartitionKey;
  rows: RowSegment;
}

/**
 * One unit in flight: parsed pages are copied into the unit's column buffer; completed partitions
 * are streamed from it into the lake as the unit goes, the rest at commit.
 */
export class UnitWrite {
  private readonly pending = new PendingPartitions();
  private readonly total: UnitWriteResult;

  constructor(
    private readonly writer: PartitionWriter,
    private readonly symbols: readonly string[],
    private readonly buffers: UnitBuffers,
  ) {
    this.total = { rows: 0, partitionsWritten: 0, perSymbol: new Map(symbols.map((s) => [s, { rows: 0, firstBar: undefined, lastBar: undefined, partitions: [] }])) };
    buffers.columns.length = 0;
  }

  private get buffer(): BarColumns {
    return this.buffers.columns;
  }

  private get ids(): Int32Array {
    return this.buffers.ids;
  }

  /** Columns to parse the next page into (the previous page's, once it is appended). */
  get pageColumns(): BarColumns | undefined {
    return this.buffers.page;
  }

  /** Copy a parsed page into the unit's buffer; its columns become the next `pageColumns`. */
  append(columns: BarColumns): void {
    this.buffers.page = columns;
    const start = this.buffer.length;
    const end = start + columns.length;
    if (end > this.ids.length) this.grow(end);
    for (const name of BAR_COLUMN_NAMES) this.buffer[name].set(columns[name].subarray(0, columns.length), start);
    this.buffer.length = end;
    this.pending.add(this.buffer, start, end, this.ids);
  }

  /** True when enough rows are buffered that the completed partitions should be merged now. */
  get wantsFlush(): boolean {
    return this.buffer.length >= FLUSH_ROWS && this.pending.completed().length > 0;
  }

  /** Merge the completed partitions; the open one stays buffered, moved to the buffer's start. */
  async flushCompleted(stagingDir: string): Promise<void> {
    const done = this.pending.completed();
    if (done.length === 0) return;
    await this.write(done, stagingDir);
    const open = this.pending.open();
    if (open) this.keepOnly(open);
    else this.buffer.length = 0;
  }

  /** Move the open partition's rows, in arrival order, to the start of the buffer and drop the rest. */
  private keepOnly(open: PendingPartition): void {
    if (open.lastRow - open.firstRow + 1 === open.rows) {
      for (const name of BAR_COLUMN_NAMES) this.buffer[name].copyWithin(0, open.firstRow, open.lastRow + 1);
    } else {
      let w = 0;
      for (let r = open.firstRow; r <= open.lastRow; r++) {
        if (this.ids[r] !== open.id) continue;
        for (const name of BAR_COLUMN_NAMES) this.buffer[name][w] = this.buffer[name][r];
        w++;
      }
    }
    this.ids.fill(open.id, 0, open.rows);
    this.buffer.length = open.rows;
    this.pending.movedToFront(open);
  }

  async commit(stagingDir: string): Promise<UnitWriteResult> {
    await this.write(this.pending.all(), stagingDir);
    this.buffer.length = 0;
    return this.total;
  }

  private grow(needed: number): void {
    const capacity = Math.max(needed, this.ids.length * 2);
    const bigger = allocateBarColumns(capacity);
    for (const name of BAR_COLUMN_NAMES) bigger[name].set(this.buffer[name].subarray(0, this.buffer.length));
    bigger.length = this.buffer.length;
    const ids = new Int32Array(capacity);
    ids.set(this.ids.subarray(0, this.buffer.length));
    this.buffers.columns = bigger;
    this.buffers.ids = ids;
  }

  /** Hand the buffers to the next unit; this unit must not be used afterwards. */
  release(): void {
    this.writer.recycle(this.buffers);
  }

  private async write(partitions: PendingPartition[], stagingDir: string): Promise<void> {
    const targets = partitions
      .filter((p) => p.rows > 0)
      .map((p) => ({ key: { symbol: this.symbols[p.symbolIndex], year: p.year, month: p.month }, rows: partitionSegment(this.buffer, this.ids, p), pending: p }));
    await this.writer.writePartitions(targets, stagingDir);
    this.pending.remove(partitions);
    for (const { key, rows, pending } of targets) {
      const acc = this.total.perSymbol.get(key.symbol)!;
      const n = rows.to - rows.from;
      acc.rows += n;
      acc.firstBar = Math.min(acc.firstBar ?? Infinity, Math.floor(pending.minUs / 1000));
      acc.lastBar = Math.max(acc.lastBar ?? -Infinity, Math.floor(pending.maxUs / 1000));
      acc.partitions.push(key);
      this.total.rows += n;
      this.total.partitionsWritten += 1;
    }
  }
}

/** Serializes writers of the same partition within this process (the run lock covers other processes). */
class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>();

  /** Run with all keys held; keys are taken in sorted order so overlapping callers cannot deadlock. */
  async runAll<T>(keys: readonly string[], task: () => Promise<T>): Promise<T> {
    const sorted = [...new Set(keys)].sort();
    const step = (i: number): Promise<T> => (i === sorted.length ? task() : this.run(sorted[i], () => step(i + 1)));
    return step(0);
  }

  async run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const tail = new Promise<void>((resolve) => (release = resolve));
    const chained = previous.then(() => tail);
    this.tails.set(key, chained);
    await previous;
    try {
      return await task();
    } finally {
      release();
      if (this.tails.get(key) === chained) this.tails.delete(key);
    }
  }
}

let bulkCounter = 0;

/**
 * DuckDB writes at once. Each COPY waits on the main thread for its rows, so one more write than the
 * 2 cores here keeps DuckDB busy (throughput run, 6 runs each: 2 → 5.72 s, 3 → 5.08 s, 4 → 5.34 s);
 * DuckDB queries also run on Node's 4 libuv threads, which the file system shares.
 */
const WRITE_CONCURRENCY = 3;

/** Below this many new partitions in one commit, per-partition COPYs are as cheap as the bulk path. */
const BULK_MIN_PARTITIONS = 8;

async function fileExists(file: string): Promise<boolean> {
  return fs.stat(file).then(
    () => true,
    (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return false;
      throw error;
    },
  );
}

export class PartitionWriter {
  private readonly locks = new KeyedMutex();
  /** Connections not running a write; one is opened per concurrent write. */
  private readonly idle: DuckDBConnection[] = [];
  private readonly spareBuffers: UnitBuffers[] = [];
  private readonly writeSlots = pLimit(WRITE_CONCURRENCY);

  private constructor(
    private readonly duck: DuckDBInstance,
    private readonly home: DuckDBConnection,
    private readonly unitRows: UnitRowsFunction,
    private readonly storage: string,
    private readonly dataset: string,
  ) {}

  static async open(duck: DuckDBInstance, storage: string, dataset: string): Promise<PartitionWriter> {
    const home = await connectUtc(duck);
    return new PartitionWriter(duck, home, new UnitRowsFunction(home), storage, dataset);
  }

  close(): void {
    for (const c of this.idle.splice(0)) c.closeSync();
    this.home.closeSync();
  }

  /** Start a unit: its bars are appended page by page, then committed partition by partition. */
  beginUnit(symbols: readonly string[]): UnitWrite {
    return new UnitWrite(this, symbols, this.spareBuffers.pop() ?? new UnitBuffers());
  }

  recycle(buffers: UnitBuffers): void {
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
        await this.writeSlots(async () => {
          const connection = this.idle.pop() ?? (await connectUtc(this.duck));
          try {
            const fresh = partitions.map((_, i) => i).filter((i) => !exists[i]);
            if (fresh.length >= BULK_MIN_PARTITIONS) {
              const written = await this.writeNewPartitions(connection, fresh.map((i) => partitions[i]), stagingDir);
              for (const [i, temp] of written) temps.set(fresh[i], temp);
            }
            for (let i = 0; i < partitions.length; i++) {
              if (!temps.has(i)) temps.set(i, await this.mergePartition(connection, partitions[i], exists[i], stagingDir));
            }
          } finally {
            this.idle.push(connection);
          }
        });
        await publishFiles(partitions.map((_, i) => ({ temp: temps.get(i)!, target: targets[i] })));
      } catch (error) {
        await Promise.all([...temps.values()].map((t) => fs.rm(t, { force: true })));
        throw error;
      }
    });
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
    const values = partitions.map(({ key, rows }) => `(${rows.part}, ${sqlString(key.symbol)}, ${key.year}, '${String(key.month).padStart(2, '0')}')`).join(', ');
    const keysTable = `bulk_keys_${process.pid}_${bulkCounter}`;
    const scan = this.unitRows.open(partitions.map((p) => p.rows));
    await connection.run(`CREATE TEMP TABLE ${keysTable} AS SELECT * FROM (VALUES ${values}) v(part, symbol, "year", "month")`);
    try {
      await connection.run(
        `COPY (SELECT k.symbol, k."year", k."month", ${LAKE_COLUMNS.map((c) => `t.${sqlIdent(c)}`).join(', ')}
               FROM ${scan.sql} t JOIN ${keysTable} k USING (part)
               ORDER BY k.symbol, t."timestamp")
         TO ${sqlString(bulkDir)} (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (symbol, "year", "month"), FILE_EXTENSION 'parquet.tmp')`,
      );
      // Sorted strictly: a duplicate timestamp (which the provider should never send) also sends the
      // partition through the per-partition path, which keeps the last row of each timestamp.
      const check = await connection.runAndReadAll(
        `SELECT filename, bool_or(bad) AS unordered, count(*)::BIGINT AS n FROM (
           SELECT filename, "timestamp" <= lag("timestamp") OVER (PARTITION BY filename ORDER BY file_row_number) AS bad
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
        const files = filesByDir.get(path.join(bulkDir, `symbol=${key.symbol}`, `year=${key.year}`, `month=${String(key.month).padStart(2, '0')}`)) ?? [];
        if (files.length === 1 && !files[0].unordered && files[0].rows === rows.to - rows.from) out.set(i, files[0].file);
      });
      return out;
    } finally {
      scan.close();
      await connection.run(`DROP TABLE IF EXISTS ${keysTable}`).catch(() => undefined);
    }
  }

  /** Write the merged partition to a temp file in the staging area; returns its path. */
  private async mergePartition(connection: DuckDBConnection, { key, rows }: PartitionToWrite, exists: boolean, stagingDir: string): Promise<string> {
    const target = partitionFile(this.storage, this.dataset, key);
    const temp = path.join(stagingDir, `${key.symbol}-${key.year}-${String(key.month).padStart(2, '0')}.parquet.tmp`);
    const scan = this.unitRows.open([rows]);
    // The rows are strictly increasing in time, and a single-threaded scan keeps that order: a new
    // partition needs no sort. Against stored rows, new rows win on equal timestamps.
    const batch = `SELECT ${COLUMN_LIST} FROM ${scan.sql}`;
    const stored = `SELECT ${COLUMN_LIST} FROM read_parquet(${sqlString(target)}, hive_partitioning = false)`;
    const query = exists ? `SELECT * FROM (${stored} WHERE "timestamp" NOT IN (SELECT "timestamp" FROM (${batch})) UNION ALL ${batch}) ORDER BY "timestamp"` : batch;
    try {
      await connection.run(`COPY (${query}) TO ${sqlString(temp)} (FORMAT parquet, COMPRESSION zstd)`);
    } catch (error) {
      await fs.rm(temp, { force: true });
      if (exists) throw new PartitionUnreadableError(target, duckMessage(error));
      throw new Error(`writing partition ${partitionLabel(key)} failed: ${duckMessage(error)}`);
    } finally {
      scan.close();
    }
    return temp;
  }
}
