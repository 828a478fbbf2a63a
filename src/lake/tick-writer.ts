/**
 * Writes ticks into the lake one New York day at a time: `symbol=S/year=Y/month=M/day=D/data.parquet`,
 * rows in time order (ties in the provider's order). A day is fetched whole and replaced whole, so
 * its file is built in the staging area and renamed over the old one: a crash at any moment leaves
 * each day either old or new. Rows arrive in symbol-then-time order; at most two parts (PART_ROWS
 * rows: the one filling and the one being inserted) per unit are held in JavaScript memory, however
 * large the day: full parts are inserted into a DuckDB table of the open day (which spills to the
 * staging area beyond DuckDB's memory limit), and the table is written to a temp file, once, when
 * the next day or symbol starts (while that one's rows arrive). A unit's days are published together
 * when its request is over, so a unit that fails (a page out of order, say) publishes nothing.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import pLimit from 'p-limit';
import { fileExists, fsyncDir, publishFiles } from '../shared/atomic-file.js';
import { dayPartitionKey, partitionFile, partitionLabel, type PartitionKey } from '../shared/lake-paths.js';
import { addDays, dayNumberToDate, dateToDayNumber, type IsoDate, nyDateOf, nyMidnightUtc } from '../shared/time.js';
import { HIGH_HALF, int64Halves, LOW_HALF, nsOfMs, TWO_POW_32 } from '../shared/nanos.js';
import { connectUtc, duckMessage, sqlIdent, sqlString } from './duck.js';
import { allocateBatch, batchFields, type ColumnBatch, columnOf, type DatasetSchema } from './schema.js';
import { schemaColumnsSql, UnitRowsFunction } from './unit-rows.js';
import type { CommittedPartition } from './unit-write.js';

/** Rows of a day held in JavaScript memory before they are inserted into the day's DuckDB table. */
export const PART_ROWS = 65_536;
/** DuckDB writes at once (each COPY's scan is fed by the JS thread). */
const WRITE_CONCURRENCY = 3;
/**
 * Days of a unit written to their temp files in the background while its next rows arrive: a unit of
 * many symbols (a market-wide day file) otherwise waits on one day's COPY after another. With one,
 * a unit waits on a COPY only when its next day is complete before that COPY is.
 */
const BACKGROUND_CLOSES = 1;
let tableCounter = 0;

/** Rows outside the unit's window, or a symbol's day served twice: the unit fails and publishes nothing. */
export class TickOrderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TickOrderError';
  }
}

/** A nanosecond instant as its int64 halves: high (signed) and low (unsigned). */
interface NsInstant {
  hi: number;
  lo: number;
}

function halvesOfMs(ms: number): NsInstant {
  const ns = nsOfMs(ms);
  return { hi: Number(BigInt.asIntN(32, ns >> 32n)), lo: Number(ns & 0xffffffffn) };
}

/** UTC ms of an int64 nanosecond value given as halves (to within a microsecond, for labels). */
function msOf(hi: number, lo: number): number {
  return Math.floor((hi * TWO_POW_32 + lo) / 1e6);
}

/** a < b for halves. */
function before(aHi: number, aLo: number, b: NsInstant): boolean {
  return aHi < b.hi || (aHi === b.hi && aLo < b.lo);
}

const highAt = (halves: Int32Array, row: number): number => halves[2 * row + HIGH_HALF];
const lowAt = (halves: Int32Array, row: number): number => halves[2 * row + LOW_HALF] >>> 0;

interface OpenDay {
  symbolIndex: number;
  date: IsoDate;
  key: PartitionKey;
  end: NsInstant;
  /** The DuckDB table holding the day's rows so far. */
  table: string;
  rows: number;
  sorted: boolean;
  lastHi: number;
  lastLo: number;
  firstMs: number;
  lastMs: number;
}

export interface TickUnitHandlers {
  /** A day's file was published. */
  onDay(day: CommittedPartition): void;
  /** A day the provider has no rows for now lost its stored file. */
  onDayRemoved(key: PartitionKey): void;
}

export class TickWriter {
  private readonly idle: DuckDBConnection[] = [];
  private readonly writeSlots = pLimit(WRITE_CONCURRENCY);
  private readonly spare: ColumnBatch[] = [];
  readonly columnsSql: () => string;

  private constructor(
    private readonly duck: DuckDBInstance,
    private readonly home: DuckDBConnection,
    readonly unitRows: UnitRowsFunction,
    readonly schema: DatasetSchema,
    readonly storage: string,
    readonly dataset: string,
  ) {
    // Built per query: text columns read the dictionaries as they are by then.
    this.columnsSql = () => schemaColumnsSql(schema);
  }

  static async open(duck: DuckDBInstance, schema: DatasetSchema, storage: string, dataset: string): Promise<TickWriter> {
    const home = await connectUtc(duck);
    return new TickWriter(duck, home, new UnitRowsFunction(home, schema), schema, storage, dataset);
  }

  close(): void {
    for (const c of this.idle.splice(0)) c.closeSync();
    this.home.closeSync();
  }

  /** Start a unit over [start, end): its symbols' rows, in symbol-then-time order, all inside the window. */
  beginUnit(symbols: readonly string[], window: { start: number; end: number }, stagingDir: string, handlers: TickUnitHandlers): TickUnitWrite {
    return new TickUnitWrite(this, symbols, window, stagingDir, handlers);
  }

  buffer(): ColumnBatch {
    const b = this.spare.pop() ?? (allocateBatch(this.schema, PART_ROWS) as ColumnBatch);
    b.length = 0;
    return b;
  }

  recycle(buffer: ColumnBatch): void {
    this.spare.push(buffer);
  }

  /** Run SQL on a pooled connection, within the write slots. */
  async write(sql: string): Promise<void> {
    await this.writeSlots(async () => {
      const connection = this.idle.pop() ?? (await connectUtc(this.duck));
      try {
        await connection.run(sql);
      } finally {
        this.idle.push(connection);
      }
    });
  }
}

export class TickUnitWrite {
  private readonly fields: string[];
  private buffer: ColumnBatch;
  private page: ColumnBatch | undefined;
  private day: OpenDay | undefined;
  /** Days published or started in this unit, "symbolIndex date": a day seen twice means the order broke. */
  private readonly days = new Set<string>();
  private readonly windowStart: NsInstant;
  private readonly windowEnd: NsInstant;
  /** Days written to temp files, published together by `finish`. */
  private readonly written: { temp: string; target: string; day: CommittedPartition }[] = [];
  /** Days whose COPY is running, oldest first; `finish` waits for them and reports the first failure. */
  private readonly closing: Promise<void>[] = [];
  /** Day tables this unit created and has not dropped. */
  private readonly createdTables = new Set<string>();
  /**
   * The insert of the previous part, running while the next rows arrive in another buffer: fetching
   * and parsing overlap DuckDB's work. One at a time per unit, so a day's rows enter its table in order.
   */
  private inserting: Promise<void> | undefined;

  constructor(
    private readonly writer: TickWriter,
    private readonly symbols: readonly string[],
    private readonly window: { start: number; end: number },
    private readonly stagingDir: string,
    private readonly handlers: TickUnitHandlers,
  ) {
    this.fields = batchFields(writer.schema);
    this.buffer = writer.buffer();
    this.windowStart = halvesOfMs(window.start);
    this.windowEnd = halvesOfMs(window.end);
  }

  /** Columns for the source to fill next (the previous batch's, once it is appended). */
  get pageColumns(): ColumnBatch | undefined {
    return this.page;
  }

  /** Take a batch: rows are split by symbol and New York day, full parts and finished days are written. */
  async append(batch: ColumnBatch): Promise<void> {
    this.page = batch;
    const time = int64Halves(columnOf(batch, 'time') as BigInt64Array);
    let r = 0;
    while (r < batch.length) {
      const symbolIndex = batch.symbol[r];
      const hi = highAt(time, r);
      const lo = lowAt(time, r);
      if (before(hi, lo, this.windowStart) || !before(hi, lo, this.windowEnd)) {
        throw new TickOrderError(`${this.symbols[symbolIndex]}: a row stamped ${new Date(msOf(hi, lo)).toISOString()} lies outside the requested days`);
      }
      const day = this.day;
      if (!day || day.symbolIndex !== symbolIndex || !before(hi, lo, day.end)) await this.openDay(symbolIndex, hi, lo);
      const open = this.day!;
      // The run of rows of this symbol and day.
      let end = r + 1;
      while (end < batch.length && batch.symbol[end] === symbolIndex && before(highAt(time, end), lowAt(time, end), open.end)) end++;
      await this.take(batch, time, r, end);
      r = end;
    }
  }

  /** Copy rows [from, to) of one symbol-day into the buffer, writing parts as it fills. */
  private async take(batch: ColumnBatch, time: Int32Array, from: number, to: number): Promise<void> {
    const day = this.day!;
    for (let r = from; r < to; r++) {
      const hi = highAt(time, r);
      const lo = lowAt(time, r);
      if (day.rows + (r - from) > 0 && (hi < day.lastHi || (hi === day.lastHi && lo < day.lastLo))) {
        day.sorted = false;
        // Out of order: the day's earliest row may be any row.
        day.firstMs = Math.min(day.firstMs, msOf(hi, lo));
      }
      day.lastHi = hi;
      day.lastLo = lo;
      day.lastMs = Math.max(day.lastMs, msOf(hi, lo));
    }
    if (day.rows === 0) day.firstMs = Math.min(day.firstMs, msOf(highAt(time, from), lowAt(time, from)));
    day.rows += to - from;
    let at = from;
    while (at < to) {
      const room = PART_ROWS - this.buffer.length;
      const take = Math.min(room, to - at);
      for (const field of this.fields) {
        (columnOf(this.buffer, field) as Float64Array).set((columnOf(batch, field) as Float64Array).subarray(at, at + take), this.buffer.length);
      }
      this.buffer.length += take;
      at += take;
      if (this.buffer.length === PART_ROWS) await this.writePart(day);
    }
  }

  private async openDay(symbolIndex: number, hi: number, lo: number): Promise<void> {
    await this.closeDay();
    const symbol = this.symbols[symbolIndex];
    if (symbol === undefined) throw new TickOrderError(`a row names symbol index ${symbolIndex}, outside the request`);
    // The New York date holding the instant, checked exactly against its midnights.
    let date = nyDateOf(msOf(hi, lo));
    if (before(hi, lo, halvesOfMs(nyMidnightUtc(date)))) date = addDays(date, -1);
    else if (!before(hi, lo, halvesOfMs(nyMidnightUtc(addDays(date, 1))))) date = addDays(date, 1);
    const id = `${symbolIndex} ${date}`;
    if (this.days.has(id)) throw new TickOrderError(`${symbol}: rows of ${date} arrived after rows of a later day or another symbol (not in symbol-then-time order)`);
    this.days.add(id);
    this.day = {
      symbolIndex,
      date,
      key: dayPartitionKey(symbol, date),
      end: halvesOfMs(nyMidnightUtc(addDays(date, 1))),
      table: `tick_day_${process.pid}_${++tableCounter}`,
      rows: 0,
      sorted: true,
      lastHi: 0,
      lastLo: 0,
      firstMs: Infinity,
      lastMs: -Infinity,
    };
  }

  /**
   * The buffered rows of the open day into its table (created by the first part), in the background:
   * the unit goes on with a fresh buffer, and waits only for the previous part's insert.
   */
  private async writePart(day: OpenDay): Promise<void> {
    if (this.buffer.length === 0) return;
    await this.settleInsert();
    const full = this.buffer;
    this.buffer = this.writer.buffer();
    const inserting = this.insert(day, full).finally(() => this.writer.recycle(full));
    // Handled here so a failure is never unhandled while the unit fetches on; settleInsert rethrows it.
    inserting.catch(() => undefined);
    this.inserting = inserting;
  }

  /** Wait for the part being inserted; its failure is the unit's. */
  private async settleInsert(): Promise<void> {
    const inserting = this.inserting;
    this.inserting = undefined;
    await inserting;
  }

  private async insert(day: OpenDay, rows: ColumnBatch): Promise<void> {
    const scan = this.writer.unitRows.open([{ columns: rows, from: 0, to: rows.length, part: 0 }]);
    // Codes as they are: turning them into text once, in the day's COPY, costs half as much.
    const select = `SELECT * EXCLUDE (part) FROM ${scan.sql}`;
    const created = this.createdTables.has(day.table);
    // Recorded first: a failed CREATE may still have made the table, and release drops it.
    this.createdTables.add(day.table);
    try {
      await this.writer.write(created ? `INSERT INTO ${day.table} ${select}` : `CREATE TABLE ${day.table} AS ${select}`);
    } catch (error) {
      throw new Error(`writing ${partitionLabel(day.key)} failed: ${duckMessage(error)}`);
    } finally {
      scan.close();
    }
  }

  /**
   * Close the open day: once its last part is in its table, the table is written in time order to a
   * temp file that `finish` renames over the stored one. The COPY runs while the next day's rows
   * arrive (BACKGROUND_CLOSES at most per unit).
   */
  private async closeDay(): Promise<void> {
    const day = this.day;
    if (!day) return;
    this.day = undefined;
    await this.writePart(day);
    await this.settleInsert();
    const copying = this.copyDay(day);
    // Handled here so a failure is never unhandled while the unit goes on; `finish` rethrows it.
    copying.catch(() => undefined);
    this.closing.push(copying);
    if (this.closing.length > BACKGROUND_CLOSES) await this.closing.shift();
  }

  private async copyDay(day: OpenDay): Promise<void> {
    const target = partitionFile(this.writer.storage, this.writer.dataset, day.key);
    const file = path.join(this.stagingDir, `${partitionLabel(day.key).replace(' ', '-')}.parquet.tmp`);
    // A table scan keeps insertion order: rows that arrived in time order need no sort, and a sort
    // by (time, rowid) keeps ties in the order they were served.
    const order = day.sorted ? '' : ` ORDER BY ${sqlIdent(this.writer.schema.timeColumn)}, rowid`;
    try {
      await this.writer.write(`COPY (SELECT ${this.writer.columnsSql()} FROM ${day.table}${order}) TO ${sqlString(file)} (FORMAT parquet, COMPRESSION zstd)`);
    } catch (error) {
      throw new Error(`writing ${partitionLabel(day.key)} failed: ${duckMessage(error)}`);
    } finally {
      // A table whose DROP fails stays recorded, and `release` drops it; the COPY's error is the one reported.
      await this.dropTable(day.table).catch(() => undefined);
    }
    this.written.push({ temp: file, target, day: { key: day.key, rows: day.rows, firstBar: day.firstMs, lastBar: day.lastMs } });
  }

  private async dropTable(table: string): Promise<void> {
    if (!this.createdTables.has(table)) return;
    await this.writer.write(`DROP TABLE IF EXISTS ${table}`);
    this.createdTables.delete(table);
  }

  /**
   * The request is over: publish the unit's days together (one batch of fsyncs), and remove the
   * stored file of every day in the window that now has no rows for a symbol (the provider's day is
   * empty: the lake's must be too).
   */
  async finish(): Promise<void> {
    let results: PromiseSettledResult<void>[];
    try {
      await this.closeDay();
    } finally {
      // Every COPY has ended before `finish` does, whatever failed.
      results = await Promise.allSettled(this.closing.splice(0));
    }
    const failure = results.find((r) => r.status === 'rejected');
    if (failure) throw failure.reason;
    const written = this.written.splice(0);
    await publishFiles(written);
    for (const w of written) this.handlers.onDay(w.day);
    const first = dateToDayNumber(nyDateOf(this.window.start));
    const last = dateToDayNumber(nyDateOf(this.window.end - 1));
    for (let s = 0; s < this.symbols.length; s++) {
      for (let d = first; d <= last; d++) {
        const date = dayNumberToDate(d);
        if (this.days.has(`${s} ${date}`)) continue;
        const key = dayPartitionKey(this.symbols[s], date);
        const file = partitionFile(this.writer.storage, this.writer.dataset, key);
        if (await fileExists(file)) {
          await fs.rm(file);
          await fsyncDir(path.dirname(file));
        }
        // Also when the file was already gone: the ledger must not expect it any more.
        this.handlers.onDayRemoved(key);
      }
    }
  }

  /**
   * Give the buffer back and drop every day table still held (an unfinished day's, or one whose
   * close failed); days written but not published stay in the unit's staging directory, which the
   * caller removes.
   */
  async release(): Promise<void> {
    await this.inserting?.catch(() => undefined);
    await Promise.allSettled(this.closing.splice(0));
    this.writer.recycle(this.buffer);
    this.day = undefined;
    for (const table of [...this.createdTables]) await this.dropTable(table).catch(() => undefined);
  }
}
