/**
 * The lake's layout codec: where every file lives. Pure functions; a symbol is re-validated here so
 * that nothing outside the lake can ever be addressed, whatever the caller passed.
 */
import path from 'node:path';
import { normalizeSymbol } from './symbol.js';

export const PARTITION_FILE = 'data.parquet';
export const STAGING_DIR = '.staging';
export const METADATA_DIR = 'metadata';

/**
 * How a dataset's files are cut: one file per symbol and UTC month (intraday data), or per symbol
 * and UTC year (daily and longer bars, ~250 rows a year: monthly files would be ~21 rows each).
 */
export type PartitionScheme = 'month' | 'year';
export const PARTITION_SCHEMES: readonly PartitionScheme[] = ['month', 'year'];

export interface PartitionKey {
  symbol: string;
  year: number;
  /** 1–12 in a monthly dataset; undefined in a yearly one. */
  month: number | undefined;
}

/** The period (UTC year, and month in a monthly dataset) of the partition holding an instant (UTC ms). */
export function partitionPeriodAt(utcMs: number, scheme: PartitionScheme): Omit<PartitionKey, 'symbol'> {
  const d = new Date(utcMs);
  return { year: d.getUTCFullYear(), month: scheme === 'month' ? d.getUTCMonth() + 1 : undefined };
}

/** The hive columns below the symbol, in path order. */
export function partitionColumns(scheme: PartitionScheme): ('year' | 'month')[] {
  return scheme === 'month' ? ['year', 'month'] : ['year'];
}

export function assertLakeSymbol(symbol: string): string {
  const verdict = normalizeSymbol(symbol);
  if (!verdict.ok || verdict.symbol !== symbol) throw new Error(`refusing to address the lake with symbol ${JSON.stringify(symbol)}`);
  return symbol;
}

const DATASET_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;

export function isValidDatasetName(name: string): boolean {
  return DATASET_NAME.test(name);
}

export function datasetDir(storage: string, dataset: string): string {
  if (!isValidDatasetName(dataset)) throw new Error(`invalid dataset name ${JSON.stringify(dataset)}`);
  return path.join(storage, dataset);
}

/** `symbol=S/year=YYYY[/month=MM]`: the partition's directory below its dataset (or any root). */
export function partitionSubdir(key: PartitionKey): string {
  const dirs = [`symbol=${assertLakeSymbol(key.symbol)}`, `year=${String(key.year).padStart(4, '0')}`];
  if (key.month !== undefined) dirs.push(`month=${String(key.month).padStart(2, '0')}`);
  return path.join(...dirs);
}

/** A glob matching exactly a dataset's partition files of one layout (of one symbol, if given), below its directory. */
export function partitionGlob(scheme: PartitionScheme, symbol?: string): string {
  const dirs = [`symbol=${symbol === undefined ? '*' : assertLakeSymbol(symbol)}`, 'year=*', ...(scheme === 'month' ? ['month=*'] : [])];
  return path.join(...dirs, PARTITION_FILE);
}

export function partitionDir(storage: string, dataset: string, key: PartitionKey): string {
  return path.join(datasetDir(storage, dataset), partitionSubdir(key));
}

export function partitionFile(storage: string, dataset: string, key: PartitionKey): string {
  return path.join(partitionDir(storage, dataset, key), PARTITION_FILE);
}

/** [start, end) of a partition's month or year in UTC ms. */
export function partitionBounds(key: Omit<PartitionKey, 'symbol'>): { start: number; end: number } {
  if (key.month === undefined) return { start: Date.UTC(key.year, 0, 1), end: Date.UTC(key.year + 1, 0, 1) };
  return { start: Date.UTC(key.year, key.month - 1, 1), end: Date.UTC(key.year, key.month, 1) };
}

export function partitionLabel(key: PartitionKey): string {
  return `${key.symbol} ${partitionId(key)}`;
}

/** A partition's period within its symbol, as the ledger records it: "YYYY-MM", or "YYYY" in a yearly dataset. */
export function partitionId(key: Omit<PartitionKey, 'symbol'>): string {
  const year = String(key.year).padStart(4, '0');
  return key.month === undefined ? year : `${year}-${String(key.month).padStart(2, '0')}`;
}

export function partitionKeyOf(symbol: string, id: string): PartitionKey {
  return { symbol, year: +id.slice(0, 4), month: id.length > 4 ? +id.slice(5, 7) : undefined };
}

/** Parse `symbol=S/year=Y[/month=M]/data.parquet` relative to the dataset dir. */
export function parsePartitionPath(relative: string): PartitionKey | undefined {
  const m = /^symbol=([^/\\]+)[/\\]year=(\d{4})(?:[/\\]month=(\d{2}))?[/\\]data\.parquet$/.exec(relative);
  if (!m) return undefined;
  if (m[3] === undefined) return { symbol: m[1], year: +m[2], month: undefined };
  const month = +m[3];
  if (month < 1 || month > 12) return undefined;
  return { symbol: m[1], year: +m[2], month };
}

export function metadataDir(storage: string, ...parts: string[]): string {
  return path.join(storage, METADATA_DIR, ...parts);
}

export function stagingRoot(storage: string): string {
  return path.join(storage, STAGING_DIR);
}
