/** DuckDB sessions for the lake: always UTC, so year()/month() of a TIMESTAMPTZ are UTC partitions. */
import os from 'node:os';
import { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';

export async function openDuckDB(threads = Math.max(1, os.availableParallelism())): Promise<DuckDBInstance> {
  return DuckDBInstance.create(':memory:', { threads: String(threads) });
}

export async function connectUtc(instance: DuckDBInstance): Promise<DuckDBConnection> {
  const connection = await instance.connect();
  await connection.run("SET TimeZone = 'UTC'");
  return connection;
}

/** A string literal for SQL. */
export function sqlString(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/** A quoted identifier for SQL. */
export function sqlIdent(value: string): string {
  return `"${value.replace(/"/g, '""')}"`;
}

/** DuckDB errors carry a type prefix ("IO Error: …"); keep the first line for users. */
export function duckMessage(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n')[0];
}
