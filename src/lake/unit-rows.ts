/**
 * Streams buffered rows from JS memory into DuckDB queries through a table function:
 * `COPY (SELECT … FROM <fn>(handle)) TO …` reads a batch's typed-array columns, as the schema lays
 * them out, chunk by chunk, so rows are never inserted into a DuckDB table first. Measured here, that insert (the Appender's
 * flush) cost the main thread five times what filling the scan's chunks costs, and a third more CPU
 * in total. Callbacks run on the JS thread; each fills one chunk with memory copies.
 */
import type { DuckDBConnection, DuckDBDataChunk, DuckDBType } from '@duckdb/node-api';
import { TWO_POW_32 } from '../shared/nanos.js';
import { bindings, duckdb, sqlIdent } from './duck.js';
import { type ColumnBatch, columnOf, type ColumnSpec, type ColumnType, type DatasetSchema, isBigIntColumn } from './schema.js';
import { TEXT_CODES, TEXT_LIST_CODES } from './text-codes.js';

/** Rows [from, to) of a batch, all of one partition, tagged with that partition's id. */
export interface RowSegment {
  columns: ColumnBatch;
  from: number;
  to: number;
  part: number;
}

const CHUNK_ROWS = 2048; // DuckDB's vector size

/** How each column type crosses into DuckDB; `columnSql` turns it into the lake's type. */
const { BIGINT, DOUBLE, INTEGER, TIMESTAMP_NS, TIMESTAMPTZ, UBIGINT } = duckdb;
const DUCK_TYPES: Record<ColumnType, DuckDBType> = {
  double: DOUBLE,
  bigint: BIGINT,
  timestamp_us: TIMESTAMPTZ,
  timestamp_ns: TIMESTAMP_NS,
  text: INTEGER,
  text_list: INTEGER,
  uint64: UBIGINT,
};

/**
 * The SQL turning a scanned column into the lake's value: NaN in a nullable double is NULL, text
 * codes become text through the dictionaries as they are now (codes only grow, so any code
 * scanned by this query is in them).
 */
export function columnSql(spec: ColumnSpec): string {
  const name = sqlIdent(spec.name);
  switch (spec.type) {
    case 'text':
      return `(${TEXT_CODES.sql()})[${name}] AS ${name}`;
    case 'text_list':
      return `(${TEXT_LIST_CODES.sql()})[${name}] AS ${name}`;
    default:
      return spec.nullable ? `CASE WHEN isnan(${name}) THEN NULL ELSE ${name} END AS ${name}` : name;
  }
}

/** Every column of the schema as the lake stores it, read from a scan. */
export function schemaColumnsSql(schema: DatasetSchema): string {
  return schema.columns.map(columnSql).join(', ');
}

/**
 * Little-endian int64 of whole numbers (|v| < 2^53), written as two int32 halves at row `at`: as
 * cheap as a copy, where BigInt64Array would allocate a BigInt per value.
 */
export function writeInt64(target: Int32Array, at: number, source: Float64Array, from: number, to: number, round: boolean): void {
  for (let r = from, i = 2 * at; r < to; r++, i += 2) {
    const v = round ? Math.round(source[r]) : source[r];
    target[i] = v >>> 0;
    target[i + 1] = Math.floor(v / TWO_POW_32);
  }
}

interface ScanState {
  segment: number;
  row: number;
}

/** A scan's rows, read when a query over it starts: a prepared query reads whatever they are then. */
interface ScanRows {
  segments: readonly RowSegment[];
}

/** A table expression over rows in memory, valid until `close`; `set` replaces its rows between queries. */
export interface UnitRowsScan {
  readonly sql: string;
  set(segments: readonly RowSegment[]): void;
  close(): void;
}

/** One column's chunk-sized staging buffer and how rows get into it. */
interface StagedColumn {
  spec: ColumnSpec;
  /** The bytes handed to DuckDB. */
  bytes: Float64Array | Int32Array | BigInt64Array;
  /** Bytes per row in DuckDB's vector. */
  rowBytes: 4 | 8;
}

function stageFor(spec: ColumnSpec): StagedColumn {
  if (spec.type === 'double') return { spec, bytes: new Float64Array(CHUNK_ROWS), rowBytes: 8 };
  if (isBigIntColumn(spec.type)) return { spec, bytes: new BigInt64Array(CHUNK_ROWS), rowBytes: 8 };
  if (spec.type === 'text' || spec.type === 'text_list') return { spec, bytes: new Int32Array(CHUNK_ROWS), rowBytes: 4 };
  return { spec, bytes: new Int32Array(CHUNK_ROWS * 2), rowBytes: 8 };
}

/** Chunk-sized staging buffers, reused by every callback (callbacks never overlap: one JS thread). */
class ChunkBuffers {
  readonly part = new Int32Array(CHUNK_ROWS);
  readonly columns: StagedColumn[];

  constructor(schema: DatasetSchema) {
    this.columns = schema.columns.map(stageFor);
  }

  /** Copy up to a chunk of rows from the segments, advancing the state; returns the row count. */
  fill(segments: readonly RowSegment[], state: ScanState): number {
    let n = 0;
    while (n < CHUNK_ROWS && state.segment < segments.length) {
      const s = segments[state.segment];
      const take = Math.min(CHUNK_ROWS - n, s.to - state.row);
      if (take > 0) {
        const end = state.row + take;
        this.part.fill(s.part, n, n + take);
        for (const { spec, bytes } of this.columns) {
          const source = columnOf(s.columns, spec.field);
          if (spec.type === 'double') (bytes as Float64Array).set((source as Float64Array).subarray(state.row, end), n);
          else if (isBigIntColumn(spec.type)) (bytes as BigInt64Array).set((source as BigInt64Array).subarray(state.row, end), n);
          else if (spec.type === 'text' || spec.type === 'text_list') (bytes as Int32Array).set((source as Float64Array).subarray(state.row, end), n);
          else writeInt64(bytes as Int32Array, n, source as Float64Array, state.row, end, spec.type === 'bigint');
        }
        n += take;
        state.row = end;
      }
      if (state.row >= s.to) {
        state.segment++;
        state.row = segments[state.segment]?.from ?? 0;
      }
    }
    return n;
  }

  copyTo(output: DuckDBDataChunk, n: number): void {
    const copy = (column: number, source: Int32Array | Float64Array | BigInt64Array, bytes: number): void =>
      bindings.copy_data_to_vector(bindings.data_chunk_get_vector(output.chunk, column), 0, source.buffer as ArrayBuffer, 0, n * bytes);
    copy(0, this.part, 4);
    this.columns.forEach((c, i) => copy(1 + i, c.bytes, c.rowBytes));
  }
}

let functionCounter = 0;

/** One table function per DuckDB instance; scans are addressed by a handle. */
export class UnitRowsFunction {
  private readonly scans = new Map<number, ScanRows>();
  private nextHandle = 0;
  private readonly buffers: ChunkBuffers;
  readonly name = `unit_rows_${process.pid}_${++functionCounter}`;

  constructor(connection: DuckDBConnection, schema: DatasetSchema) {
    this.buffers = new ChunkBuffers(schema);
    const resultColumns: [string, DuckDBType][] = [['part', INTEGER], ...schema.columns.map((c): [string, DuckDBType] => [c.name, DUCK_TYPES[c.type]])];
    connection.registerTableFunction(
      duckdb.DuckDBTableFunction.create({
        name: this.name,
        parameterTypes: [INTEGER],
        bindFunction: (info) => {
          const rows = this.scans.get(Number(info.getParameter(0)));
          if (!rows) return info.setError('unknown unit rows handle');
          for (const [name, type] of resultColumns) info.addResultColumn(name, type);
          // An estimate only when the rows may be replaced before the query runs.
          const count = rows.segments.reduce((n, s) => n + s.to - s.from, 0);
          info.setCardinality(count, count > 0);
          info.setBindData(rows);
        },
        initFunction: (info) => {
          const { segments } = info.bindData as ScanRows;
          info.setInitData({ segments, segment: 0, row: segments[0]?.from ?? 0 } satisfies ScanState & ScanRows);
          // One scanning thread keeps insertion order, which the writer relies on instead of sorting.
          info.setMaxThreads(1);
        },
        mainFunction: (info, output) => {
          const state = info.initData as ScanState & ScanRows;
          const n = this.buffers.fill(state.segments, state);
          output.rowCount = n;
          if (n > 0) this.buffers.copyTo(output, n);
        },
      }),
    );
  }

  /** Make segments scannable. */
  open(segments: readonly RowSegment[]): UnitRowsScan {
    const handle = ++this.nextHandle;
    const rows: ScanRows = { segments };
    this.scans.set(handle, rows);
    return {
      sql: `${this.name}(${handle})`,
      set: (next) => void (rows.segments = next),
      close: () => this.scans.delete(handle),
    };
  }
}
