/**
 * Convert a dataset between monthly and yearly files, in place, under the run lock. The target
 * layout is recorded first (with the layout being left), then each symbol's new files are built
 * from its old files alone, published, and only then are the old files removed. Killed at any
 * moment, a rerun rebuilds from the old files that are left — identical to what was published —
 * so the result is exact; an ingest refuses the dataset until the conversion is finished.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { type DatasetMeta, readDatasetMeta, writeDatasetMeta } from '../lake/dataset-meta.js';
import { connectUtc, openDuckDB, sqlIdent, sqlString } from '../lake/duck.js';
import { Ledger } from '../lake/ledger.js';
import { isPartitionFile, listDatasetFiles, type DatasetFile } from '../lake/reader.js';
import { columnNames, SCHEMAS } from '../lake/schema.js';
import { publishFiles } from '../shared/atomic-file.js';
import { UsageError } from '../shared/errors.js';
import { datasetDir, isPartitionOf, type PartitionKey, partitionBounds, partitionFile, partitionId, partitionLabel, type PartitionScheme, stagingRoot } from '../shared/lake-paths.js';
import { prepareStorage } from './run-session.js';
import { RunLock } from './lock.js';

export interface RepartitionResult {
  dataset: string;
  from: PartitionScheme;
  to: PartitionScheme;
  symbols: number;
  filesBefore: number;
  filesAfter: number;
  rows: number;
}

const layoutOf = (f: DatasetFile): PartitionScheme => (isPartitionOf(f.key!, 'year') ? 'year' : 'month');

export async function repartitionDataset(storage: string, dataset: string, target: PartitionScheme): Promise<RepartitionResult> {
  await prepareStorage(storage);
  const lock = await RunLock.acquire(storage);
  const duck = await openDuckDB();
  const connection = await connectUtc(duck);
  const staging = path.join(stagingRoot(storage), `repartition-${process.pid}-${Date.now()}`);
  try {
    const meta = await readDatasetMeta(storage, dataset);
    if (!meta) throw new UsageError(`no dataset ${dataset} in ${storage}; name an existing dataset`);
    if (meta.kind !== 'bars') throw new UsageError(`dataset ${dataset} holds ${meta.kind}, stored one file per symbol and day; only bars datasets can be repartitioned`);
    const from = meta.repartitioning ?? meta.partition;
    const files = (await listDatasetFiles(storage, dataset)).filter(isPartitionFile);
    const result: RepartitionResult = { dataset, from, to: target, symbols: 0, filesBefore: files.length, filesAfter: files.length, rows: 0 };
    if (from === target && meta.repartitioning === undefined) return result;
    await fs.rm(stagingRoot(storage), { recursive: true, force: true });
    await fs.mkdir(staging, { recursive: true });
    // The intent is durable before any file moves.
    await writeDatasetMeta(storage, { ...meta, partition: target, repartitioning: from });

    const schema = SCHEMAS[meta.kind];
    const time = sqlIdent(schema.timeColumn);
    const columns = columnNames(schema).map(sqlIdent).join(', ');
    const old = files.filter((f) => layoutOf(f) === from);
    const bySymbol = new Map<string, DatasetFile[]>();
    for (const f of old) bySymbol.set(f.key!.symbol, [...(bySymbol.get(f.key!.symbol) ?? []), f]);
    for (const [symbol, symbolFiles] of bySymbol) {
      const list = `[${symbolFiles.map((f) => sqlString(f.absolute)).join(', ')}]`;
      const periods = await connection.runAndReadAll(
        `SELECT DISTINCT year(${time})::INTEGER, month(${time})::INTEGER FROM read_parquet(${list}, hive_partitioning = false) ORDER BY 1, 2`,
      );
      const keys = new Map<string, PartitionKey>();
      for (const [year, month] of periods.getRows() as [number, number][]) {
        const key: PartitionKey = { symbol, year, month: target === 'month' ? month : undefined };
        keys.set(partitionId(key), key);
      }
      const moves: { temp: string; target: string }[] = [];
      const published = new Set(files.filter((f) => layoutOf(f) === target && f.key!.symbol === symbol).map((f) => f.absolute));
      for (const key of keys.values()) {
        const bounds = partitionBounds(key);
        const temp = path.join(staging, `${partitionLabel(key).replace(' ', '-')}.parquet.tmp`);
        const targetFile = partitionFile(storage, dataset, key);
        // A run killed while deleting old files left a complete new file and only some old ones:
        // the new file is read too, and each timestamp kept once (the copies are identical).
        const sources = published.has(targetFile) ? `[${[...symbolFiles.map((f) => f.absolute), targetFile].map(sqlString).join(', ')}]` : list;
        await connection.run(
          `COPY (SELECT DISTINCT ON (${time}) ${columns} FROM read_parquet(${sources}, hive_partitioning = false)
                 WHERE ${time} >= to_timestamp(${bounds.start / 1000}) AND ${time} < to_timestamp(${bounds.end / 1000})
                 ORDER BY ${time})
           TO ${sqlString(temp)} (FORMAT parquet, COMPRESSION zstd)`,
        );
        moves.push({ temp, target: targetFile });
      }
      await publishFiles(moves);
      for (const f of symbolFiles) {
        await fs.rm(f.absolute);
        await removeEmptyDirs(path.dirname(f.absolute), datasetDir(storage, dataset));
      }
      result.symbols += 1;
    }

    // The ledger names partitions by period: name what is on disk now.
    const after = (await listDatasetFiles(storage, dataset)).filter(isPartitionFile);
    const ledger = await Ledger.load(storage, dataset);
    const ids = new Map<string, string[]>();
    for (const f of after) ids.set(f.key!.symbol, [...(ids.get(f.key!.symbol) ?? []), partitionId(f.key!)]);
    for (const entry of ledger.all()) ledger.replacePartitions(entry.symbol, ids.get(entry.symbol) ?? []);
    await ledger.save();
    const rows = await connection.runAndReadAll(
      after.length === 0 ? 'SELECT 0' : `SELECT sum(num_rows)::BIGINT FROM parquet_file_metadata([${after.map((f) => sqlString(f.absolute)).join(', ')}])`,
    );
    result.rows = Number(rows.getRows()[0][0] ?? 0);
    result.filesAfter = after.length;
    const finished: DatasetMeta = { ...meta, partition: target };
    delete finished.repartitioning;
    await writeDatasetMeta(storage, finished);
    return result;
  } finally {
    await fs.rm(staging, { recursive: true, force: true }).catch(() => undefined);
    await fs.rmdir(stagingRoot(storage)).catch(() => undefined);
    connection.closeSync();
    duck.closeSync();
    await lock.release();
  }
}

/** Remove `dir` and its parents up to (not including) `stop` while they are empty. */
async function removeEmptyDirs(dir: string, stop: string): Promise<void> {
  for (let d = dir; d.startsWith(stop) && d !== stop; d = path.dirname(d)) {
    try {
      await fs.rmdir(d);
    } catch {
      return;
    }
  }
}
