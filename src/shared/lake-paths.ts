/**
 * The lake's layout codec: where every file lives. Pure functions; a symbol is re-validated here so
 * that nothing outside the lake can ever be addressed, whatever the caller passed.
 */
import path from 'node:path';
import { normalizeSymbol } from './symbol.js';

export const PARTITION_FILE = 'data.parquet';
export const STAGING_DIR = '.staging';
export const METADATA_DIR = 'metadata';

export interface PartitionKey {
  symbol: string;
  year: number;
  month: number;
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

/** `symbol=S/year=YYYY/month=MM`: the partition's directory below its dataset (or any root). */
export function partitionSubdir(key: PartitionKey): string {
  return path.join(`symbol=${assertLakeSymbol(key.symbol)}`, `year=${String(key.year).padStart(4, '0')}`, `month=${String(key.month).padStart(2, '0')}`);
}

export function partitionDir(storage: string, dataset: string, key: PartitionKey): string {
  return path.join(datasetDir(storage, dataset), partitionSubdir(key));
}

export function partitionFile(storage: string, dataset: string, key: PartitionKey): string {
  return path.join(partitionDir(storage, dataset, key), PARTITION_FILE);
}

/** [start, end) of a partition's month in UTC ms. */
export function partitionBounds(key: PartitionKey): { start: number; end: number } {
  return { start: Date.UTC(key.year, key.month - 1, 1), end: Date.UTC(key.year, key.month, 1) };
}

export function partitionLabel(key: PartitionKey): string {
  return `${key.symbol} ${partitionId(key)}`;
}

/** A partition's period within its symbol, as the ledger records it: "YYYY-MM". */
export function partitionId(key: Omit<PartitionKey, 'symbol'>): string {
  return `${String(key.year).padStart(4, '0')}-${String(key.month).padStart(2, '0')}`;
}

export function partitionKeyOf(symbol: string, id: string): PartitionKey {
  return { symbol, year: +id.slice(0, 4), month: +id.slice(5, 7) };
}

/** Parse `…/symbol=S/year=Y/month=M/data.parquet` relative to the dataset dir. */
export function parsePartitionPath(relative: string): PartitionKey | undefined {
  const m = /^symbol=([^/\\]+)[/\\]year=(\d{4})[/\\]month=(\d{2})[/\\]data\.parquet$/.exec(relative);
  if (!m) return undefined;
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
