/**
 * Per-dataset provenance: which source, feed and adjustment the files hold. Mixing feeds or
 * adjustments in one dataset would silently corrupt every backtest that reads it, so it is refused.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../shared/atomic-file.js';
import { UsageError } from '../shared/errors.js';
import { metadataDir, type PartitionScheme } from '../shared/lake-paths.js';
import type { DataKind } from './schema.js';

export interface DatasetMeta {
  dataset: string;
  /** The data kind (its schema); datasets written before kinds existed are bars. */
  kind: DataKind;
  timeframe: string;
  source: string;
  synthetic: boolean;
  /** Null for a source without feeds or adjustments. */
  feed: string | null;
  adjustment: string | null;
  /** How the files are cut; datasets written before this was recorded are monthly. */
  partition: PartitionScheme;
  /** Set while `repartition` converts the files from this layout to `partition`. */
  repartitioning?: PartitionScheme;
  created_at: string;
}

export function datasetMetaFile(storage: string, dataset: string): string {
  return metadataDir(storage, 'datasets', `${dataset}.json`);
}

export async function readDatasetMeta(storage: string, dataset: string): Promise<DatasetMeta | undefined> {
  const file = datasetMetaFile(storage, dataset);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const meta = JSON.parse(text) as DatasetMeta;
    return { ...meta, kind: meta.kind ?? 'bars', feed: meta.feed ?? null, adjustment: meta.adjustment ?? null, partition: meta.partition ?? 'month' };
  } catch {
    throw new UsageError(`${file} is not valid JSON: fix or remove it (it records the dataset's source, feed and adjustment)`);
  }
}

export async function listDatasets(storage: string): Promise<DatasetMeta[]> {
  const dir = metadataDir(storage, 'datasets');
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  const out: DatasetMeta[] = [];
  for (const name of names.filter((n) => n.endsWith('.json')).sort()) {
    const meta = await readDatasetMeta(storage, path.basename(name, '.json'));
    if (meta) out.push(meta);
  }
  return out;
}

export async function writeDatasetMeta(storage: string, meta: DatasetMeta): Promise<void> {
  await writeFileAtomic(datasetMetaFile(storage, meta.dataset), `${JSON.stringify(meta, null, 2)}\n`);
}

/**
 * Refuse to mix provenance: throws UsageError when `existing` holds other data than `wanted`, when
 * the caller asked for another layout, or while a conversion of its layout is unfinished.
 */
export function checkProvenance(existing: DatasetMeta, wanted: Omit<DatasetMeta, 'created_at'>, partitionExplicit: boolean): void {
  // The option naming each field (the CLI's flag, the library's option): a kind is `data`.
  const option = { kind: 'data', timeframe: 'timeframe', source: 'source', feed: 'feed', adjustment: 'adjustment' } as const;
  for (const field of ['kind', 'timeframe', 'source', 'feed', 'adjustment'] as const) {
    if (existing[field] !== wanted[field]) {
      throw new UsageError(
        `dataset ${wanted.dataset} holds ${field} ${existing[field] ?? 'none'}, not ${wanted[field] ?? 'none'}: use --${option[field]} ${existing[field] ?? ''} to add to it, or --dataset NAME to write ${wanted[field] ?? 'this'} data to another directory`,
      );
    }
  }
  if (existing.repartitioning) {
    throw new UsageError(`dataset ${wanted.dataset} is half-way through a conversion to ${existing.partition} partitions; finish it with \`ingest repartition --dataset ${wanted.dataset} --partition ${existing.partition}\``);
  }
  if (partitionExplicit && existing.partition !== wanted.partition) {
    throw new UsageError(`dataset ${wanted.dataset} is partitioned by ${existing.partition}; convert it with \`ingest repartition --dataset ${wanted.dataset} --partition ${wanted.partition}\`, or leave --partition out`);
  }
}

/** Check an existing dataset's provenance, or record it for a new one (`created`). */
export async function claimDataset(storage: string, wanted: Omit<DatasetMeta, 'created_at'>, partitionExplicit: boolean): Promise<{ meta: DatasetMeta; created: boolean }> {
  const existing = await readDatasetMeta(storage, wanted.dataset);
  if (existing) {
    checkProvenance(existing, wanted, partitionExplicit);
    return { meta: existing, created: false };
  }
  const meta: DatasetMeta = { ...wanted, created_at: new Date().toISOString() };
  await writeDatasetMeta(storage, meta);
  return { meta, created: true };
}

/** Forget a dataset's provenance (one that holds nothing). */
export async function removeDatasetMeta(storage: string, dataset: string): Promise<void> {
  await fs.rm(datasetMetaFile(storage, dataset), { force: true });
}
