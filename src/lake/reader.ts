/**
 * Read access to the lake: one DuckDB view per dataset, with the hive columns typed (symbol text,
 * year and month integers), intraday bars tagged with their trading session, a `sessions` table of
 * the calendar, and the DuckDB session in UTC. Never takes the run lock, so it works while an
 * ingest runs: readers only ever see whole files.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { type DuckDBConnection, DuckDBDateValue, type DuckDBInstance, DuckDBTimestampTZValue } from '@duckdb/node-api';
import { listDatasets, type DatasetMeta } from './dataset-meta.js';
import type { TradingCalendar } from '../shared/calendar.js';
import { dateToDayNumber } from '../shared/time.js';
import { isIntraday, parseTimeframe } from '../shared/timeframe.js';
import { connectUtc, openDuckDB } from './duck.js';
import { datasetDir, PARTITION_FILE, partitionColumns, type PartitionKey, type PartitionScheme, parsePartitionPath } from '../shared/lake-paths.js';
import { sqlIdent, sqlString } from './duck.js';

export function datasetGlob(storage: string, dataset: string): string {
  return path.join(datasetDir(storage, dataset), '**', '*.parquet');
}

/** The hive columns' types for a layout: `symbol` text, `year` (and `month`) integers. */
export function hiveTypesSql(scheme: PartitionScheme): string {
  return `{${['symbol', ...partitionColumns(scheme)].map((c) => `'${c}': ${c === 'symbol' ? 'VARCHAR' : 'INTEGER'}`).join(', ')}}`;
}

export function readParquetSql(storage: string, meta: Pick<DatasetMeta, 'dataset' | 'partition'>): string {
  return `read_parquet(${sqlString(datasetGlob(storage, meta.dataset))}, hive_partitioning = true, hive_types = ${hiveTypesSql(meta.partition)})`;
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
  const paths = entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
  const out: DatasetFile[] = [];
  // Stats in parallel batches: thousands of files one at a time cost seconds.
  for (let i = 0; i < paths.length; i += STAT_BATCH) {
    const batch = paths.slice(i, i + STAT_BATCH);
    const stats = await Promise.all(batch.map((p) => fs.stat(p)));
    batch.forEach((absolute, j) => {
      const relative = path.relative(root, absolute);
      out.push({ relative, absolute, size: stats[j].size, key: parsePartitionPath(relative) });
    });
  }
  return out.sort((a, b) => (a.relative < b.relative ? -1 : 1));
}

const STAT_BATCH = 256;

/** Whether a dataset holds any partition file, found without listing them all. */
async function hasPartitionFile(dir: string, root: string): Promise<boolean> {
  const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    const absolute = path.join(dir, e.name);
    if (e.isFile() && e.name === PARTITION_FILE && parsePartitionPath(path.relative(root, absolute))) return true;
    if (e.isDirectory() && (await hasPartitionFile(absolute, root))) return true;
  }
  return false;
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

/** The years the `sessions` table spans: from before any history users fetch to next year. */
const SESSIONS_FROM = '2000-01-01';

/**
 * `sessions`: one row per trading day — `date` (New York), `open`/`close` of the regular session and
 * `extended_open`/`extended_close` (UTC instants), `early_close`.
 */
async function createSessionsTable(connection: DuckDBConnection, calendar: TradingCalendar): Promise<void> {
  const to = `${new Date().getUTCFullYear() + 1}-12-31`;
  await connection.run('CREATE TEMP TABLE sessions ("date" DATE, "open" TIMESTAMPTZ, "close" TIMESTAMPTZ, extended_open TIMESTAMPTZ, extended_close TIMESTAMPTZ, early_close BOOLEAN)');
  // The appender, not SQL text: parsing thousands of VALUES rows cost half a second per command.
  const appender = await connection.createAppender('sessions', 'main', 'temp');
  const instant = (ms: number): DuckDBTimestampTZValue => new DuckDBTimestampTZValue(BigInt(ms) * 1000n);
  for (const s of calendar.sessions(SESSIONS_FROM, to)) {
    appender.appendDate(new DuckDBDateValue(dateToDayNumber(s.date)));
    appender.appendTimestampTZ(instant(s.open));
    appender.appendTimestampTZ(instant(s.close));
    appender.appendTimestampTZ(instant(s.extendedOpen));
    appender.appendTimestampTZ(instant(s.extendedClose));
    appender.appendBoolean(s.close - s.open < EARLY_CLOSE_BELOW_MS);
    appender.endRow();
  }
  appender.closeSync();
}

/** A regular session shorter than 6 hours (13:00 closes) is an early close. */
const EARLY_CLOSE_BELOW_MS = 6 * 3_600_000;

/** The view of one dataset; intraday bars also get the `session` they fall in: pre, regular or post. */
function datasetViewSql(storage: string, meta: DatasetMeta): string {
  const timeframe = parseTimeframe(meta.timeframe);
  if (!timeframe || !isIntraday(timeframe)) return `SELECT * FROM ${readParquetSql(storage, meta)}`;
  const time = 'b."timestamp"';
  return `SELECT b.*, CASE WHEN s."date" IS NULL THEN NULL WHEN ${time} < s."open" THEN 'pre' WHEN ${time} < s."close" THEN 'regular' ELSE 'post' END AS "session"
          FROM ${readParquetSql(storage, meta)} b LEFT JOIN sessions s ON s."date" = CAST(timezone('America/New_York', ${time}) AS DATE)`;
}

/**
 * Open DuckDB on the lake. With a calendar, also a view per dataset that has data (named after the
 * dataset) and the `sessions` table; binding a view globs all its files, so callers that name
 * files themselves (status, verify) leave it out.
 */
export async function openLake(storage: string, viewsWith?: TradingCalendar): Promise<LakeSession> {
  const duck = await openDuckDB();
  const connection = await connectUtc(duck);
  const datasets = await listDatasets(storage);
  if (viewsWith) await createViews(connection, storage, datasets, viewsWith);
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

async function createViews(connection: DuckDBConnection, storage: string, datasets: readonly DatasetMeta[], calendar: TradingCalendar): Promise<void> {
  await createSessionsTable(connection, calendar);
  for (const d of datasets) {
    const root = datasetDir(storage, d.dataset);
    if (!(await hasPartitionFile(root, root))) continue;
    await connection.run(`CREATE VIEW ${sqlIdent(d.dataset)} AS ${datasetViewSql(storage, d)}`);
  }
}
