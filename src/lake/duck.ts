/** DuckDB sessions for the lake: always UTC, so year()/month() of a TIMESTAMPTZ are UTC partitions. */
import { createRequire } from 'node:module';
import os from 'node:os';
import type { DuckDBConnection, DuckDBDataChunk, DuckDBInstance } from '@duckdb/node-api';

/**
 * DuckDB's packages are CommonJS and are loaded with `require`: an ES import of them makes Node lex
 * every file they re-export to find named exports, which cost each run's start ~0.1 s (measured).
 */
const require = createRequire(import.meta.url);
export const duckdb = require('@duckdb/node-api') as typeof import('@duckdb/node-api');
export const bindings = require('@duckdb/node-bindings') as typeof import('@duckdb/node-bindings');

/** An in-memory instance; with a memory limit, what exceeds it spills to `tempDirectory` when one is given. */
export async function openDuckDB(threads = Math.max(1, os.availableParallelism()), memoryLimit?: string, tempDirectory?: string): Promise<DuckDBInstance> {
  return duckdb.DuckDBInstance.create(':memory:', {
    threads: String(threads),
    ...(memoryLimit ? { memory_limit: memoryLimit } : {}),
    ...(tempDirectory ? { temp_directory: tempDirectory } : {}),
  });
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

/**
 * Copy a result chunk whose columns are all 8 bytes a value (DOUBLE, BIGINT, UBIGINT) and never NULL
 * (the query must guarantee both) into typed arrays of the same width, column i into `targets[i]`:
 * a memory copy per column instead of a value per cell. A BigInt64Array gets the integers' bits.
 */
export function copyChunkColumns(chunk: DuckDBDataChunk, targets: readonly (Float64Array | BigInt64Array)[]): number {
  const rows = chunk.rowCount;
  targets.forEach((target, i) => {
    const bytes = bindings.vector_get_data(bindings.data_chunk_get_vector(chunk.chunk, i), rows * 8);
    new Uint8Array(target.buffer, target.byteOffset, rows * 8).set(bytes);
  });
  return rows;
}
