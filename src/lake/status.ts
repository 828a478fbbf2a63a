/**
 * What a dataset holds, answered from the ledger and the Parquet footers (row counts and the time
 * column's min/max statistics): no data page is read, so it stays fast at any size.
 */
import path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { TradingCalendar } from '../shared/calendar.js';
import { normalize, subtract } from '../shared/intervals.js';
import { datasetDir, isPartitionOf, partitionGlob } from '../shared/lake-paths.js';
import { nyDateOf } from '../shared/time.js';
import type { DatasetMeta } from './dataset-meta.js';
import { duckMessage, sqlString } from './duck.js';
import { actionsOf, type ListedAction } from './corporate-actions.js';
import { Ledger } from './ledger.js';
import { isPartitionFile, listDatasetFiles } from './reader.js';
import { SCHEMAS } from './schema.js';

export interface SymbolStatus {
  symbol: string;
  rows: number;
  first_bar: string | null;
  last_bar: string | null;
  partitions: number;
  size_bytes: number;
  last_outcome: string | null;
  last_reason: string | null;
  last_run_at: string | null;
  inactive: boolean;
  covered: { start: string; end: string }[];
  /** Stretches with sessions inside the covered history that were never fetched. */
  gaps: { start: string; end: string }[];
  /** With a symbol asked for: its corporate actions the lake holds. */
  corporate_actions?: ListedAction[];
}

export interface DatasetStatus {
  dataset: string;
  path: string;
  kind: string;
  source: string;
  synthetic: boolean;
  timeframe: string;
  feed: string | null;
  adjustment: string | null;
  symbols: number;
  rows: number;
  first_bar: string | null;
  last_bar: string | null;
  partitions: number;
  size_bytes: number;
  inactive: string[];
  failed: { symbol: string; reason: string; at: string | null }[];
  gaps: { symbol: string; gaps: { start: string; end: string }[] }[];
  per_symbol: SymbolStatus[];
}

const iso = (ms: number): string => new Date(ms).toISOString();
const isoSeconds = (text: string | null): string | null => (text === null ? null : `${text.slice(0, 19)}Z`);

/** Rows per symbol from the row-group metadata: DuckDB answers count(*) from it, without reading data. */
async function rowsPerSymbol(connection: DuckDBConnection, storage: string, meta: DatasetMeta, symbolFilter: string | undefined): Promise<Map<string, number>> {
  const glob = path.join(datasetDir(storage, meta.dataset), partitionGlob(meta.partition, symbolFilter));
  try {
    const counts = await connection.runAndReadAll(`SELECT symbol, count(*)::BIGINT FROM read_parquet(${sqlString(glob)}, hive_partitioning = true, hive_types = {'symbol': VARCHAR}) GROUP BY symbol`);
    return new Map((counts.getRows() as [string, bigint][]).map(([symbol, rows]) => [symbol, Number(rows)]));
  } catch (error) {
    if (/no files found/i.test(duckMessage(error))) return new Map();
    throw error;
  }
}

export async function datasetStatus(connection: DuckDBConnection, storage: string, meta: DatasetMeta, calendar: TradingCalendar, symbolFilter?: string): Promise<DatasetStatus> {
  // DuckDB counts while Node lists the files (sizes, partitions): both wait on the file system.
  const [listed, rowsBySymbol] = await Promise.all([listDatasetFiles(storage, meta.dataset), rowsPerSymbol(connection, storage, meta, symbolFilter)]);
  const files = listed.filter(isPartitionFile).filter((f) => (!symbolFilter || f.key!.symbol === symbolFilter) && isPartitionOf(f.key!, meta.partition));
  const ledger = await Ledger.load(storage, meta.dataset);
  // The time range from the statistics of each symbol's first and last file only (files sort by
  // period, rows within a file by time).
  const footers = new Map<string, { first: string | null; last: string | null }>();
  const list = (paths: readonly string[]): string => `[${paths.map(sqlString).join(', ')}]`;
  if (files.length > 0) {
    const ends = new Set<string>();
    files.forEach((f, i) => {
      if (i === 0 || files[i - 1].key!.symbol !== f.key!.symbol) ends.add(f.absolute);
      if (i === files.length - 1 || files[i + 1].key!.symbol !== f.key!.symbol) ends.add(f.absolute);
    });
    const time = SCHEMAS[meta.kind].timeColumn;
    const stats = await connection.runAndReadAll(
      `SELECT file_name, strftime(min(stats_min_value::TIMESTAMPTZ), '%Y-%m-%dT%H:%M:%S'), strftime(max(stats_max_value::TIMESTAMPTZ), '%Y-%m-%dT%H:%M:%S')
       FROM parquet_metadata(${list([...ends])}) WHERE path_in_schema = ${sqlString(time)} GROUP BY file_name`,
    );
    for (const [file, first, last] of stats.getRows() as [string, string | null, string | null][]) {
      footers.set(file, { first, last });
    }
  }
  const bySymbol = new Map<string, { rows: number; first: string | null; last: string | null; partitions: number; size: number }>();
  for (const f of files) {
    const footer = footers.get(f.absolute) ?? { first: null, last: null };
    const s = bySymbol.get(f.key!.symbol) ?? { rows: rowsBySymbol.get(f.key!.symbol) ?? 0, first: null, last: null, partitions: 0, size: 0 };
    if (footer.first !== null && (s.first === null || footer.first < s.first)) s.first = footer.first;
    if (footer.last !== null && (s.last === null || footer.last > s.last)) s.last = footer.last;
    s.partitions += 1;
    s.size += f.size;
    bySymbol.set(f.key!.symbol, s);
  }
  const symbols = [...new Set([...bySymbol.keys(), ...ledger.all().map((e) => e.symbol)])].filter((s) => !symbolFilter || s === symbolFilter).sort();
  const perSymbol: SymbolStatus[] = symbols.map((symbol) => {
    const data = bySymbol.get(symbol);
    const entry = ledger.get(symbol);
    const covered = normalize(entry?.covered ?? []);
    const holes =
      covered.length < 2
        ? []
        : subtract([{ start: covered[0].start, end: covered[covered.length - 1].end }], covered).filter((h) =>
            calendar.sessions(nyDateOf(h.start), nyDateOf(h.end - 1)).some((s) => s.extendedOpen < h.end && s.extendedClose > h.start),
          );
    return {
      symbol,
      rows: data?.rows ?? 0,
      first_bar: isoSeconds(data?.first ?? null),
      last_bar: isoSeconds(data?.last ?? null),
      partitions: data?.partitions ?? 0,
      size_bytes: data?.size ?? 0,
      last_outcome: entry?.last_outcome ?? null,
      last_reason: entry?.last_reason ?? null,
      last_run_at: entry?.last_run_at ?? null,
      inactive: entry?.inactive ?? false,
      covered: covered.map((c) => ({ start: iso(c.start), end: iso(c.end) })),
      gaps: holes.map((h) => ({ start: iso(h.start), end: iso(h.end) })),
    };
  });
  if (symbolFilter) for (const s of perSymbol) s.corporate_actions = await actionsOf(connection, storage, meta.source, s.symbol);
  const withData = perSymbol.filter((s) => s.rows > 0);
  const firsts = withData.map((s) => s.first_bar).filter((v): v is string => v !== null).sort();
  const lasts = withData.map((s) => s.last_bar).filter((v): v is string => v !== null).sort();
  return {
    dataset: meta.dataset,
    path: datasetDir(storage, meta.dataset),
    kind: meta.kind,
    source: meta.source,
    synthetic: meta.synthetic,
    timeframe: meta.timeframe,
    feed: meta.feed,
    adjustment: meta.adjustment,
    symbols: withData.length,
    rows: perSymbol.reduce((n, s) => n + s.rows, 0),
    first_bar: firsts[0] ?? null,
    last_bar: lasts[lasts.length - 1] ?? null,
    partitions: files.length,
    size_bytes: files.reduce((n, f) => n + f.size, 0),
    inactive: perSymbol.filter((s) => s.inactive).map((s) => s.symbol),
    failed: perSymbol.filter((s) => s.last_outcome === 'failed').map((s) => ({ symbol: s.symbol, reason: s.last_reason ?? '', at: s.last_run_at })),
    gaps: perSymbol.filter((s) => s.gaps.length > 0).map((s) => ({ symbol: s.symbol, gaps: s.gaps })),
    per_symbol: perSymbol,
  };
}
