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
 * - `text`: a code of TEXT_CODES held as Float64 (0: NULL), stored VARCHAR.
 * - `text_list`: a code of TEXT_LIST_CODES held as Float64 (0: NULL), stored VARCHAR[].
 * - `uint64`: an unsigned 64-bit identifier held as BigInt64 (its bits), stored UBIGINT.
 */
export type ColumnType = 'double' | 'bigint' | 'timestamp_us' | 'timestamp_ns' | 'text' | 'text_list' | 'uint64';

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
  /** Conditions `verify` counts and reports as information, not defects (they happen in real data). */
  readonly notes: readonly RowCheck[];
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
  notes: [],
} as const satisfies DatasetSchema;

/** Tick data: trades and quotes, stored as the provider served them, one file per symbol and New York day. */
export const TRADES_SCHEMA = {
  kind: 'trades',
  columns: [
    { name: 'timestamp', field: 'time', type: 'timestamp_ns' },
    { name: 'price', field: 'price', type: 'double' },
    { name: 'size', field: 'size', type: 'double' },
    { name: 'exchange', field: 'exchange', type: 'text' },
    { name: 'id', field: 'id', type: 'uint64' },
    { name: 'conditions', field: 'conditions', type: 'text_list' },
    { name: 'tape', field: 'tape', type: 'text' },
    /** The provider's correction or cancellation flag as text; NULL for a valid trade. */
    { name: 'correction', field: 'correction', type: 'text' },
  ],
  timeColumn: 'timestamp',
  // Ticks have no reliable identity: a day is replaced whole.
  identity: [],
  checks: [
    { name: 'trade', failing: 'NOT (price > 0 AND size >= 0)', describe: 'fail trade sanity (price > 0, size ≥ 0)' },
  ],
  notes: [],
} as const satisfies DatasetSchema;

export const QUOTES_SCHEMA = {
  kind: 'quotes',
  columns: [
    { name: 'timestamp', field: 'time', type: 'timestamp_ns' },
    { name: 'bid_price', field: 'bidPrice', type: 'double' },
    { name: 'bid_size', field: 'bidSize', type: 'double' },
    { name: 'bid_exchange', field: 'bidExchange', type: 'text' },
    { name: 'ask_price', field: 'askPrice', type: 'double' },
    { name: 'ask_size', field: 'askSize', type: 'double' },
    { name: 'ask_exchange', field: 'askExchange', type: 'text' },
    { name: 'conditions', field: 'conditions', type: 'text_list' },
    { name: 'tape', field: 'tape', type: 'text' },
  ],
  timeColumn: 'timestamp',
  identity: [],
  checks: [
    // A side with no quote has price 0 and size 0.
    { name: 'quote', failing: 'NOT (bid_price >= 0 AND ask_price >= 0 AND bid_size >= 0 AND ask_size >= 0 AND (bid_price > 0 OR ask_price > 0))', describe: 'fail quote sanity (a price > 0 on one side at least; prices and sizes ≥ 0)' },
  ],
  notes: [{ name: 'crossed-quotes', failing: 'bid_price > ask_price AND ask_price > 0', describe: 'crossed (bid above ask): markets do cross briefly, so this is information' }],
} as const satisfies DatasetSchema;

type ArrayFor<T extends ColumnType> = T extends 'timestamp_ns' | 'uint64' ? BigInt64Array : Float64Array;

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
  for (const c of schema.columns) batch[c.field] = isBigIntColumn(c.type) ? new BigInt64Array(capacity) : new Float64Array(capacity);
  return batch as BatchOf<S>;
}

/**
 * A batch to fill with `rows` rows: `reuse` (a batch the caller handed back) when it holds that
 * many, its old rows overwritten, else a new one of `capacity` rows (at least `rows`). Empty either way.
 */
export function batchFor<S extends DatasetSchema>(schema: S, reuse: BatchOf<S> | undefined, rows: number, capacity = rows): BatchOf<S> {
  const batch = reuse !== undefined && reuse.symbol.length >= rows ? reuse : allocateBatch(schema, Math.max(1, rows, capacity));
  batch.length = 0;
  return batch;
}

/** The batch with twice the capacity, its rows kept (every column is 8 bytes a row, whatever its type). */
export function growBatch<S extends DatasetSchema>(schema: S, batch: BatchOf<S>): BatchOf<S> {
  const bigger = allocateBatch(schema, batch.symbol.length * 2);
  for (const field of batchFields(schema)) {
    const from = columnOf(batch, field);
    const to = columnOf(bigger, field);
    new Uint8Array(to.buffer, to.byteOffset, from.byteLength).set(new Uint8Array(from.buffer, from.byteOffset, from.byteLength));
  }
  bigger.length = batch.length;
  return bigger;
}

export function isBigIntColumn(type: ColumnType): boolean {
  return type === 'timestamp_ns' || type === 'uint64';
}

export type TradeColumns = BatchOf<typeof TRADES_SCHEMA>;
export type QuoteColumns = BatchOf<typeof QUOTES_SCHEMA>;

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

export const SCHEMAS = { bars: BARS_SCHEMA, trades: TRADES_SCHEMA, quotes: QUOTES_SCHEMA } as const;
export type DataKind = keyof typeof SCHEMAS;
export type TickKind = Exclude<DataKind, 'bars'>;
export const DATA_KINDS = Object.keys(SCHEMAS) as DataKind[];

export function isTickKind(kind: DataKind): kind is TickKind {
  return kind !== 'bars';
}

/** A batch of either tick kind. */
export type TickColumns = TradeColumns | QuoteColumns;
