/**
 * What each Massive flat-file dataset's CSV is, and how its rows become the lake's columns: the
 * part of a day file DuckDB keeps (read by header name, so the columns' order does not matter), and
 * the query and copy that hand the kept rows over in symbol-then-time order. Columns (reference
 * section 3): aggregates `ticker,volume,open,close,high,low,window_start,transactions`; trades
 * `ticker,conditions,correction,exchange,id,participant_timestamp,price,sequence_number,
 * sip_timestamp,size,tape,trf_id,trf_timestamp`; quotes `ticker,ask_exchange,ask_price,ask_size,
 * bid_exchange,bid_price,bid_size,conditions,indicators,participant_timestamp,sequence_number,
 * sip_timestamp,tape,trf_timestamp`. Ticks map as the REST pages do (`tick-codes`), so both paths
 * store the same rows.
 */
import type { DuckDBConnection, DuckDBDataChunk } from '@duckdb/node-api';
import { copyChunkColumns, sqlString } from '../../lake/duck.js';
import { type BarColumns, BARS_SCHEMA, batchFor, type ColumnBatch, QUOTES_SCHEMA, type QuoteColumns, type TickColumns, type TickKind, TRADES_SCHEMA, type TradeColumns } from '../../lake/schema.js';
import { TEXT_LIST_CODES } from '../../lake/text-codes.js';
import { maxBarsPerSession, type Timeframe } from '../../shared/timeframe.js';
import { integerListCode, integerText, nonZeroText, tapeText } from './tick-codes.js';

const BATCH_ROWS = 10_000;
/** Rows read back and sorted at once: bounds DuckDB's sort and the rows in flight. */
const SORT_GROUP_ROWS = 1_000_000;
/** Groups of symbols a day of ticks is kept in at most (one more: a smaller first one): each is a file DuckDB writes at once. */
const TICK_GROUPS = 32;
/** Symbols per group at least: a liquid symbol's day of ticks is hundreds of thousands of rows. */
const TICK_GROUP_SYMBOLS = 16;

/**
 * A unit's symbols in groups of `perGroup` (by their index in the request, `idx` in SQL), except the
 * first, a quarter of that: its sort is the only one the writer waits for, as each later group is
 * sorted while the one before is written. `count` groups in all.
 */
export function symbolGroups(symbols: number, perGroup: number): { groupOf: (idx: string) => string; count: number } {
  const first = Math.max(1, Math.ceil(perGroup / 4));
  return {
    groupOf: (idx) => `CASE WHEN ${idx} < ${first} THEN 0 ELSE 1 + (${idx} - ${first}) // ${perGroup} END`,
    count: symbols <= first ? 1 : 1 + Math.ceil((symbols - first) / perGroup),
  };
}

export interface DayFileFormat<B extends ColumnBatch> {
  /** read_csv types of the columns used, by header name. */
  readonly csvTypes: Readonly<Record<string, string>>;
  /** The kept column holding the row's instant in nanoseconds. */
  readonly timeColumn: string;
  /** True for a row with every field the lake needs, over `c`. */
  readonly complete: string;
  /** Those fields, for a warning about rows without them. */
  readonly required: string;
  /** The columns kept, over `c` (`c.rn` is the row's number in the file when `fileOrder`). */
  readonly kept: string;
  /** Rows with the same time keep the file's order. */
  readonly fileOrder: boolean;
  /** Symbols kept in one group (read back and sorted together) for a unit of `days` day files. */
  symbolsPerGroup(days: number, symbols: number): number;
  /** The query over the kept rows in `from` (columns `idx`, the kept ones, `in_day`, `complete`), in symbol-then-time order. */
  readBackSql(connection: DuckDBConnection, from: string): Promise<string>;
  /** A result chunk of that query as a batch (the previous one's arrays when they are big enough). */
  toBatch(chunk: DuckDBDataChunk, reuse: B | undefined): B;
}

export function barFormat(timeframe: Timeframe): DayFileFormat<BarColumns> {
  return {
    csvTypes: { ticker: 'VARCHAR', volume: 'DOUBLE', open: 'DOUBLE', close: 'DOUBLE', high: 'DOUBLE', low: 'DOUBLE', window_start: 'BIGINT', transactions: 'DOUBLE' },
    timeColumn: 'window_start',
    complete: 'c.window_start IS NOT NULL AND c.open IS NOT NULL AND c.high IS NOT NULL AND c.low IS NOT NULL AND c.close IS NOT NULL',
    required: 'a time or price',
    kept: 'c.window_start, c.open, c.high, c.low, c.close, coalesce(c.volume, 0) AS volume, coalesce(c.transactions, 0) AS transactions',
    // A (symbol, time) is one bar: the order of ties does not arise.
    fileOrder: false,
    symbolsPerGroup: (days) => Math.max(1, Math.floor(SORT_GROUP_ROWS / (days * maxBarsPerSession(timeframe)))),
    readBackSql: async (_connection, from) =>
      `SELECT idx::DOUBLE, (window_start // 1000)::DOUBLE, open, high, low, close, volume, transactions FROM ${from} WHERE in_day AND complete ORDER BY idx, window_start`,
    toBatch(chunk, reuse) {
      const n = chunk.rowCount;
      const batch = batchFor(BARS_SCHEMA, reuse, n, BATCH_ROWS);
      copyChunkColumns(chunk, [batch.symbol, batch.time, batch.open, batch.high, batch.low, batch.close, batch.volume, batch.tradeCount]);
      // Flat files have no VWAP.
      batch.vwap.fill(Number.NaN, 0, n);
      batch.length = n;
      return batch;
    },
  };
}

/**
 * A `conditions` field: the integer codes in one CSV field (`12,37`; brackets or braces around it and
 * spaces between are allowed), as REST lists them; an empty field is no list (NULL), `[]` an empty
 * one; a code that is not an integer is kept as text.
 */
export function conditionsCode(field: string): number {
  if (field.trim() === '') return 0;
  const inner = field.trim().replace(/^[[{(]\s*|\s*[\]})]$/g, '');
  // `[]`: a list with no codes, as REST's `"conditions": []`.
  if (inner === '') return integerListCode([]);
  const tokens = inner.split(/\s*,\s*|\s+/);
  if (tokens.every((t) => /^\d{1,15}$/.test(t))) return integerListCode(tokens.map(Number));
  return TEXT_LIST_CODES.code(tokens);
}

/**
 * A field of decimal digits as an integer of `type`; an empty field is NULL, anything else fails the
 * file, as a malformed integer fails a REST page (DuckDB's own cast would round `4.7` or read `1e3`).
 */
function digits(field: string, type: 'BIGINT' | 'UBIGINT', what: string): string {
  const f = `c.${field}`;
  return `CASE WHEN ${f} IS NULL OR ${f} = '' THEN NULL WHEN regexp_full_match(${f}, '[0-9]{1,20}') THEN ${f}::${type}
          ELSE error('${what} ' || ${f} || ' is not an unsigned integer') END`;
}

/** A CTE `codes(conditions, code)` of the distinct conditions fields in `from`. */
async function conditionCodes(connection: DuckDBConnection, from: string): Promise<string> {
  const reader = await connection.runAndReadAll(`SELECT DISTINCT conditions FROM ${from} WHERE conditions IS NOT NULL`);
  const rows = reader.getRows().map(([text]) => `(${sqlString(String(text))}, ${conditionsCode(String(text))})`);
  const values = rows.length > 0 ? `VALUES ${rows.join(', ')}` : 'SELECT NULL::VARCHAR, NULL::DOUBLE WHERE false';
  return `WITH codes(conditions, code) AS (${values})`;
}

const tickGroups = (_days: number, symbols: number): number => Math.max(TICK_GROUP_SYMBOLS, Math.ceil(symbols / TICK_GROUPS));

/** Map integer codes (held as doubles) to text codes in place. */
function mapCodes(column: Float64Array, n: number, map: (code: number) => number): void {
  for (let i = 0; i < n; i++) column[i] = map(column[i]);
}

// Integer fields are read as text and converted strictly (`digits`).
const TRADE_FORMAT: DayFileFormat<TradeColumns> = {
  csvTypes: { ticker: 'VARCHAR', conditions: 'VARCHAR', correction: 'VARCHAR', exchange: 'VARCHAR', id: 'VARCHAR', price: 'DOUBLE', sip_timestamp: 'VARCHAR', size: 'DOUBLE', tape: 'VARCHAR' },
  timeColumn: 'sip_timestamp',
  complete: 'c.sip_timestamp IS NOT NULL AND c.price IS NOT NULL AND c.size IS NOT NULL AND c.exchange IS NOT NULL AND c.id IS NOT NULL',
  required: 'a sip_timestamp, price, size, exchange or id',
  // An id is a string of digits (leading zeros allowed), stored as the uint64 it spells.
  kept: `c.rn, ${digits('sip_timestamp', 'BIGINT', 'sip_timestamp')} AS sip_timestamp, c.price, c.size, ${digits('exchange', 'BIGINT', 'exchange')} AS exchange,
         ${digits('id', 'UBIGINT', 'trade id')} AS id, c.conditions, ${digits('tape', 'BIGINT', 'tape')} AS tape, ${digits('correction', 'BIGINT', 'correction')} AS correction`,
  fileOrder: true,
  symbolsPerGroup: tickGroups,
  readBackSql: async (connection, from) =>
    `${await conditionCodes(connection, from)}
     SELECT k.idx::DOUBLE, k.sip_timestamp, k.price, k.size, k.exchange::DOUBLE, k.id, coalesce(codes.code, 0)::DOUBLE, coalesce(k.tape, 0)::DOUBLE, coalesce(k.correction, 0)::DOUBLE
     FROM ${from} k LEFT JOIN codes ON k.conditions = codes.conditions WHERE k.in_day AND k.complete ORDER BY k.idx, k.sip_timestamp, k.rn`,
  toBatch(chunk, reuse) {
    const n = chunk.rowCount;
    const b = batchFor(TRADES_SCHEMA, reuse, n, BATCH_ROWS);
    b.length = n;
    copyChunkColumns(chunk, [b.symbol, b.time, b.price, b.size, b.exchange, b.id, b.conditions, b.tape, b.correction]);
    mapCodes(b.exchange, n, integerText);
    mapCodes(b.tape, n, tapeText);
    mapCodes(b.correction, n, nonZeroText);
    return b;
  },
};

const QUOTE_FORMAT: DayFileFormat<QuoteColumns> = {
  csvTypes: {
    ticker: 'VARCHAR',
    ask_exchange: 'VARCHAR',
    ask_price: 'DOUBLE',
    ask_size: 'DOUBLE',
    bid_exchange: 'VARCHAR',
    bid_price: 'DOUBLE',
    bid_size: 'DOUBLE',
    conditions: 'VARCHAR',
    sip_timestamp: 'VARCHAR',
    tape: 'VARCHAR',
  },
  timeColumn: 'sip_timestamp',
  complete: 'c.sip_timestamp IS NOT NULL',
  required: 'a sip_timestamp',
  // A side without a quote is empty fields or zeros (exchange 0): zeros, as REST's absent members.
  kept: `c.rn, ${digits('sip_timestamp', 'BIGINT', 'sip_timestamp')} AS sip_timestamp, coalesce(c.bid_price, 0) AS bid_price, coalesce(c.bid_size, 0) AS bid_size,
         coalesce(${digits('bid_exchange', 'BIGINT', 'bid_exchange')}, 0) AS bid_exchange, coalesce(c.ask_price, 0) AS ask_price, coalesce(c.ask_size, 0) AS ask_size,
         coalesce(${digits('ask_exchange', 'BIGINT', 'ask_exchange')}, 0) AS ask_exchange, c.conditions, ${digits('tape', 'BIGINT', 'tape')} AS tape`,
  fileOrder: true,
  symbolsPerGroup: tickGroups,
  readBackSql: async (connection, from) =>
    `${await conditionCodes(connection, from)}
     SELECT k.idx::DOUBLE, k.sip_timestamp, k.bid_price, k.bid_size, k.bid_exchange::DOUBLE, k.ask_price, k.ask_size, k.ask_exchange::DOUBLE, coalesce(codes.code, 0)::DOUBLE, coalesce(k.tape, 0)::DOUBLE
     FROM ${from} k LEFT JOIN codes ON k.conditions = codes.conditions WHERE k.in_day AND k.complete ORDER BY k.idx, k.sip_timestamp, k.rn`,
  toBatch(chunk, reuse) {
    const n = chunk.rowCount;
    const b = batchFor(QUOTES_SCHEMA, reuse, n, BATCH_ROWS);
    b.length = n;
    copyChunkColumns(chunk, [b.symbol, b.time, b.bidPrice, b.bidSize, b.bidExchange, b.askPrice, b.askSize, b.askExchange, b.conditions, b.tape]);
    mapCodes(b.bidExchange, n, nonZeroText);
    mapCodes(b.askExchange, n, nonZeroText);
    mapCodes(b.tape, n, tapeText);
    return b;
  },
};

export function tickFormat(kind: TickKind): DayFileFormat<TickColumns> {
  return (kind === 'trades' ? TRADE_FORMAT : QUOTE_FORMAT) as DayFileFormat<TickColumns>;
}
