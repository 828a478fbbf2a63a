/**
 * A batch of bars as columns: what the page parser produces and what the lake buffers and writes.
 * Float64Array throughout: one flat array per column, which the writer hands to DuckDB by memory copies.
 */

/** Times are UTC microseconds; symbols are indexes into the request's symbol list. */
export interface BarColumns {
  length: number;
  symbol: Float64Array;
  time: Float64Array;
  open: Float64Array;
  high: Float64Array;
  low: Float64Array;
  close: Float64Array;
  vwap: Float64Array;
  volume: Float64Array;
  tradeCount: Float64Array;
}

export const BAR_COLUMN_NAMES = ['symbol', 'time', 'open', 'high', 'low', 'close', 'vwap', 'volume', 'tradeCount'] as const;

export function allocateBarColumns(capacity: number): BarColumns {
  const column = (): Float64Array => new Float64Array(capacity);
  return { length: 0, symbol: column(), time: column(), open: column(), high: column(), low: column(), close: column(), vwap: column(), volume: column(), tradeCount: column() };
}
