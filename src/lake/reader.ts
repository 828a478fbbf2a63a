/**
 * Read access to the lake: one DuckDB view per dataset, with the hive columns typed (symbol text,
 * year and month integers) and the session in UTC. Never takes the run lock, so it works while an
 * ingest runs: readers only ever see whole files.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { listDatasets, type DatasetMeta } from './dataset-meta.js';
import { connectUtc, openDuckDB } from './duck.js';
import { datasetDir, PARTITION_FILE, parsePartitionPath, type PartitionKey } from '../shared/lake-paths.js';
import { sqlIdent, sqlString } from './duck.js';

export function datasetGlob(storage: string, dataset: string): string {
  return path.join(datasetDir(storage, dataset), '**', '*.parquet');
}

export function readParquetSql(storage: string, dataset: string, extra = ''): string {
  return `read_parquet(${sqlString(datasetGlob(storage, dataset))}, hive_partitioning = true, hive_types = {'symbol': VARCHAR, 'year': INTEGER, 'month': INTEGER}${extra})`;
}

export interface DatasetFile {
  /** Path relative to the dataset directory. */
  relative: string;
  absolute: string;
  size: number;
  key: PartitionKey | undefined;
}

/** Every file below a dataset directory (nothing skipped: stray files matter to verify). */
export async function listDatasetFiles(storage: string, dataset: string): Promise<DatasetFile[]> {
  const root = datasetDir(storage, dataset);
  const entries = await fs.readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
  const out: DatasetFile[] = [];
  for (const e of entries) {
    if (!e.isFile()) continue;
    const absolute = path.join(e.parentPath, e.name);
    const relative = path.relative(root, absolute);
    const stat = await fs.stat(absolute);
    out.push({ relative, absolute, size: stat.size, key: parsePartitionPath(relative) });
  }
  return out.sort((a, b) => (a.relative < b.relative ? -1 : 1));
}

export function isPartitionFile(file: DatasetFile): boolean {
  return file.key !== undefined && path.basename(file.relative) === PARTITION_FILE;
}

export interface LakeSession {
  duck: DuckDBInstance;
  connection: DuckDBConnection;
  datasets: DatasetMeta[];
  close(): void;
}

/** Open DuckDB with a view per dataset that has data (named after the dataset). */
export async function openLake(storage: string): Promise<LakeSession> {
  const duck = await openDuckDB();
  const connection = await connectUtc(duck);
  const datasets = await listDatasets(storage);
  for (const d of datasets) {
    const files = await listDatasetFiles(storage, d.dataset);
    if (!files.some(isPartitionFile)) continue;
    await connection.run(`CREATE VIEW ${sqlIdent(d.dataset)} AS SELECT * FROM ${readParquetSql(storage, d.dataset)}`);
  }
  return {
    duck,
    connection,
    datasets,
    close: () => {
      connection.closeSync();
      duck.closeSync();
    },
  };
}
