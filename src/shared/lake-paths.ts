/**
 * The lake's layout codec: where every file lives. Pure functions; a symbol is re-validated here so
 * that nothing outside the lake can ever be addressed, whatever the caller passed.
 */
import path from 'node:path';
import { normalizeSymbol } from './symbol.js';
import { addDays, isIsoDate, isoFromParts, nyMidnightUtc } from './time.js';

export const PARTITION_FILE = 'data.parquet';
export const STAGING_DIR = '.staging';
export const METADATA_DIR = 'metadata';

/**
 * How a dataset's files are cut: one file per symbol and UTC month (intraday bars), per symbol and
 * UTC year (daily and longer bars, ~250 rows a year: monthly files would be ~21 rows each), or per
 * symbol and New York trading day (ticks: a day is fetched and replaced whole).
 */
export type PartitionScheme = 'month' | 'year' | 'day';
/** The layouts a bars dataset may choose. */
export const PARTITION_SCHEMES: readonly PartitionScheme[] = ['month', 'year'];

export interface PartitionKey {
  symbol: string;
  year: number;
  /** 1–12 in a monthly or daily dataset; undefined in a yearly one. */
  month: number | undefined;
  /** 1–31 in a daily dataset (a New York date). */
  day?: number;
}

/** The period (UTC year, and month in a monthly dataset) of the partition holding an instant (UTC ms). */
export function partitionPeriodAt(utcMs: number, scheme: PartitionScheme): Omit<PartitionKey, 'symbol'> {
  const d = new Date(utcMs);
  return { year: d.getUTCFullYear(), month: scheme === 'month' ? d.getUTCMonth() + 1 : undefined };
}

/** The hive columns below the symbol, in path order. */
export function partitionColumns(scheme: PartitionScheme): ('year' | 'month' | 'day')[] {
  return scheme === 'day' ? ['year', 'month', 'day'] : scheme === 'month' ? ['year', 'month'] : ['year'];
}

/** The daily partition of a symbol's New York date. */
export function dayPartitionKey(symbol: string, date: string): PartitionKey {
  return { symbol, year: +date.slice(0, 4), month: +date.slice(5, 7), day: +date.slice(8, 10) };
}

/** The New York date of a daily partition. */
export function partitionDate(key: Omit<PartitionKey, 'symbol'>): string {
  return isoFromParts(key.year, key.month!, key.day!);
}

function schemeOf(key: Omit<PartitionKey, 'symbol'>): PartitionScheme {
  return key.day !== undefined ? 'day' : key.month !== undefined ? 'month' : 'year';
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
  if (key.day !== undefined) dirs.push(`day=${String(key.day).padStart(2, '0')}`);
  return path.join(...dirs);
}

/** A glob matching exactly a dataset's partition files of one layout (of one symbol, if given), below its directory. */
export function partitionGlob(scheme: PartitionScheme, symbol?: string): string {
  const dirs = [`symbol=${symbol === undefined ? '*' : assertLakeSymbol(symbol)}`, ...partitionColumns(scheme).map((c) => `${c}=*`)];
  return path.join(...dirs, PARTITION_FILE);
}

export function partitionDir(storage: string, dataset: string, key: PartitionKey): string {
  return path.join(datasetDir(storage, dataset), partitionSubdir(key));
}

export function partitionFile(storage: string, dataset: string, key: PartitionKey): string {
  return path.join(partitionDir(storage, dataset, key), PARTITION_FILE);
}

/** [start, end) of a partition's UTC month or year, or its New York day, in UTC ms. */
export function partitionBounds(key: Omit<PartitionKey, 'symbol'>): { start: number; end: number } {
  if (key.day !== undefined) {
    const date = partitionDate(key);
    return { start: nyMidnightUtc(date), end: nyMidnightUtc(addDays(date, 1)) };
  }
  if (key.month === undefined) return { start: Date.UTC(key.year, 0, 1), end: Date.UTC(key.year + 1, 0, 1) };
  return { start: Date.UTC(key.year, key.month - 1, 1), end: Date.UTC(key.year, key.month, 1) };
}

export function partitionLabel(key: PartitionKey): string {
  return `${key.symbol} ${partitionId(key)}`;
}

/** A partition's period within its symbol, as the ledger records it: "YYYY-MM", "YYYY" in a yearly dataset, "YYYY-MM-DD" in a daily one. */
export function partitionId(key: Omit<PartitionKey, 'symbol'>): string {
  const year = String(key.year).padStart(4, '0');
  if (key.month === undefined) return year;
  const month = `${year}-${String(key.month).padStart(2, '0')}`;
  return key.day === undefined ? month : `${month}-${String(key.day).padStart(2, '0')}`;
}

export function partitionKeyOf(symbol: string, id: string): PartitionKey {
  const key: PartitionKey = { symbol, year: +id.slice(0, 4), month: id.length > 4 ? +id.slice(5, 7) : undefined };
  if (id.length > 7) key.day = +id.slice(8, 10);
  return key;
}

/** Parse `symbol=S/year=Y[/month=M[/day=D]]/data.parquet` relative to the dataset dir. */
export function parsePartitionPath(relative: string): PartitionKey | undefined {
  const m = /^symbol=([^/\\]+)[/\\]year=(\d{4})(?:[/\\]month=(\d{2})(?:[/\\]day=(\d{2}))?)?[/\\]data\.parquet$/.exec(relative);
  if (!m) return undefined;
  if (m[3] === undefined) return { symbol: m[1], year: +m[2], month: undefined };
  const month = +m[3];
  if (month < 1 || month > 12) return undefined;
  if (m[4] === undefined) return { symbol: m[1], year: +m[2], month };
  const key = { symbol: m[1], year: +m[2], month, day: +m[4] };
  // A real date only: 2024-02-30 is not a partition.
  if (!isIsoDate(partitionDate(key))) return undefined;
  return key;
}

/** Whether a partition belongs to a layout. */
export function isPartitionOf(key: Omit<PartitionKey, 'symbol'>, scheme: PartitionScheme): boolean {
  return schemeOf(key) === scheme;
}

export function metadataDir(storage: string, ...parts: string[]): string {
  return path.join(storage, METADATA_DIR, ...parts);
}

export function stagingRoot(storage: string): string {
  return path.join(storage, STAGING_DIR);
}
