/** Reads a lake back through DuckDB, as users do, to compare it with what the fake server holds. */
import { DuckDBInstance } from '@duckdb/node-api';
import type { BarTuple } from '../../src/sources/synthetic/generator.js';

let instance: DuckDBInstance | undefined;

export async function query(sql: string): Promise<Record<string, unknown>[]> {
  instance ??= await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    await connection.run("SET TimeZone = 'UTC'");
    const reader = await connection.runAndReadAll(sql);
    return reader.getRowObjectsJS() as Record<string, unknown>[];
  } finally {
    connection.closeSync();
  }
}

export function lakeGlob(storage: string, dataset: string): string {
  return `${storage}/${dataset}/**/*.parquet`;
}

/** All bars of a dataset per symbol, as tuples comparable with the fake's `expectedBars`. */
export async function readLake(storage: string, dataset: string): Promise<Map<string, BarTuple[]>> {
  const rows = await query(
    `SELECT symbol, epoch_ms("timestamp") AS t, open, high, low, close, volume, trade_count, vwap
     FROM read_parquet('${lakeGlob(storage, dataset)}', hive_partitioning = true, hive_types = {'symbol': VARCHAR})
     ORDER BY symbol, t`,
  );
  const out = new Map<string, BarTuple[]>();
  for (const r of rows) {
    const list = out.get(r.symbol as string) ?? [];
    list.push([Number(r.t), r.open as number, r.high as number, r.low as number, r.close as number, Number(r.volume), Number(r.trade_count), r.vwap as number]);
    out.set(r.symbol as string, list);
  }
  return out;
}

/** A stored tick as comparable values: the exact nanosecond stamp and id as text, then the other columns in schema order. */
export type TickRow = unknown[];

/** Every row of a tick dataset, per symbol, in file order (days ascending, rows as stored). */
export async function readTicks(storage: string, dataset: string, kind: 'trades' | 'quotes'): Promise<Map<string, TickRow[]>> {
  const columns =
    kind === 'trades'
      ? 'epoch_ns("timestamp")::VARCHAR AS ns, price, size, exchange, id::VARCHAR AS id, conditions, tape, correction'
      : 'epoch_ns("timestamp")::VARCHAR AS ns, bid_price, bid_size, bid_exchange, ask_price, ask_size, ask_exchange, conditions, tape';
  const rows = await query(
    `SELECT symbol, ${columns} FROM read_parquet('${lakeGlob(storage, dataset)}', hive_partitioning = true, hive_types = {'symbol': VARCHAR}, filename = true, file_row_number = true)
     ORDER BY symbol, filename, file_row_number`,
  );
  const bySymbol = new Map<string, TickRow[]>();
  for (const { symbol, ...rest } of rows) {
    const list = bySymbol.get(symbol as string) ?? [];
    list.push(Object.values(rest));
    bySymbol.set(symbol as string, list);
  }
  return bySymbol;
}
