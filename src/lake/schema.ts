/**
 * Dataset schemas: what a data kind's rows are, in one place. The writer, the reader, the ledger,
 * `verify` and every source take column names, types, the row identity and the checks from here.
 *
 * Rows travel between a source and the lake as columns (one typed array per column, no object per
 * row): a source parses straight into them and the writer hands them to DuckDB by memory copies.
 * Each column declares how it is held in memory and how it is stored, so a kind whose timestamps
 * need nanoseconds declares `timestamp_ns` (held as BigInt64) without changing the seam.
 */

/**
 * - `double`: Float64, stored DOUBLE.
 * - `bigint`: a whole number held as Float64 (exact below 2^53), stored BIGINT.
 * - `timestamp_us`: UTC microseconds held as Float64 (exact for any real date), stored TIMESTAMPTZ.
 * - `timestamp_ns`: UTC nanoseconds held as BigInt64, stored TIMESTAMP_NS (a UTC instant).
 */
export type ColumnType = 'double' | 'bigint' | 'timestamp_us' | 'timestamp_ns';

export interface ColumnSpec {
  /** The column's name in the lake. */
  readonly name: string;
  /** The property of an in-memory batch that holds it. */
  readonly field: string;
  readonly type: ColumnType;
  /** A `double` that may be missing (a source without it): NaN in memory, NULL in the lake. */
  readonly nullable?: boolean;
}

/** A check `verify` runs on every row: rows where `failing` is true are defects. */
export interface RowCheck {
  readonly name: string;
  /** A SQL predicate over the lake's columns, true for a bad row. */
  readonly failing: string;
  readonly describe: string;
}

export interface DatasetSchema<C extends readonly ColumnSpec[] = readonly ColumnSpec[]> {
  readonly kind: string;
  readonly columns: C;
  /** The column that orders rows and, with the symbol, identifies one. */
  readonly timeColumn: string;
  /** Columns that together identify a row: a newer row with the same identity replaces the stored one. */
  readonly identity: readonly string[];
  readonly checks: readonly RowCheck[];
}

/** Float tolerance in price checks. */
const EPS = 1e-9;

export const BARS_SCHEMA = {
  kind: 'bars',
  columns: [
    { name: 'timestamp', field: 'time', type: 'timestamp_us' },
    { name: 'open', field: 'open', type: 'double' },
    { name: 'high', field: 'high', type: 'double' },
    { name: 'low', field: 'low', type: 'double' },
    { name: 'close', field: 'close', type: 'double' },
    { name: 'vwap', field: 'vwap', type: 'double', nullable: true },
    { name: 'volume', field: 'volume', type: 'bigint' },
    { name: 'trade_count', field: 'tradeCount', type: 'bigint' },
  ],
  timeColumn: 'timestamp',
  identity: ['symbol', 'timestamp'],
  checks: [
    {
      name: 'ohlc',
      failing: `NOT (low <= LEAST(open, close) + ${EPS} AND GREATEST(open, close) <= high + ${EPS} AND low > 0 AND volume >= 0 AND trade_count >= 0 AND (vwap IS NULL OR (vwap >= low - ${EPS} AND vwap <= high + ${EPS})))`,
      describe: 'fail OHLC sanity (low ≤ open, close ≤ high; prices > 0; volume ≥ 0; VWAP within [low, high])',
    },
  ],
} as const satisfies DatasetSchema;

type ArrayFor<T extends ColumnType> = T extends 'timestamp_ns' ? BigInt64Array : Float64Array;

/** A batch of rows of a schema: `symbol` indexes the request's symbol list; one array per column. */
export type BatchOf<S extends DatasetSchema> = { length: number; symbol: Float64Array } & {
  [C in S['columns'][number] as C['field']]: ArrayFor<C['type']>;
};

export type BarColumns = BatchOf<typeof BARS_SCHEMA>;

/** Any schema's batch, for code that works column by column. */
export interface ColumnBatch {
  length: number;
  symbol: Float64Array;
}

/** The batch properties of a schema, `symbol` first. */
export function batchFields(schema: DatasetSchema): string[] {
  return ['symbol', ...schema.columns.map((c) => c.field)];
}

export function allocateBatch<S extends DatasetSchema>(schema: S, capacity: number): BatchOf<S> {
  const batch: Record<string, unknown> = { length: 0, symbol: new Float64Array(capacity) };
  for (const c of schema.columns) batch[c.field] = c.type === 'timestamp_ns' ? new BigInt64Array(capacity) : new Float64Array(capacity);
  return batch as BatchOf<S>;
}

export function allocateBarColumns(capacity: number): BarColumns {
  return allocateBatch(BARS_SCHEMA, capacity);
}

export function columnOf(batch: ColumnBatch, field: string): Float64Array | BigInt64Array {
  return (batch as unknown as Record<string, Float64Array | BigInt64Array>)[field];
}

/** The lake column list in schema order, for SQL. */
export function columnNames(schema: DatasetSchema): string[] {
  return schema.columns.map((c) => c.name);
}

export const SCHEMAS = { bars: BARS_SCHEMA } as const;
export type DataKind = keyof typeof SCHEMAS;
