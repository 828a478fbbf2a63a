/**
 * Read access to the lake: one DuckDB view per dataset, with the hive columns typed (symbol text,
 * year and month integers), intraday bars tagged with their trading session, a `sessions` table of
 * the calendar, and the DuckDB session in UTC. Never takes the run lock, so it works while an
 * ingest runs: readers only ever see whole files.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { DuckDBConnection, DuckDBInstance, DuckDBTimestampTZValue } from '@duckdb/node-api';
import { listDatasets, type DatasetMeta } from './dataset-meta.js';
import type { Session, TradingCalendar } from '../shared/calendar.js';
import { dateToDayNumber, dayNumberToDate, type IsoDate, nyDateOf, nyMidnightUtc, weekday } from '../shared/time.js';
import { isIntraday, parseTimeframe } from '../shared/timeframe.js';
import { connectUtc, duckdb, openDuckDB } from './duck.js';
import { fileExists } from '../shared/atomic-file.js';
import { actionsFile, actionsGlob, adjustedSql } from './corporate-actions.js';
import { Ledger } from './ledger.js';
import { isTickKind } from './schema.js';
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
/** Whether any file below `root` (a missing directory holds none) satisfies `wanted`, given its path relative to `root`. */
export async function hasFileBelow(root: string, wanted: (relative: string) => boolean = () => true, dir = root): Promise<boolean> {
  const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    const absolute = path.join(dir, e.name);
    if (e.isDirectory() ? await hasFileBelow(root, wanted, absolute) : wanted(path.relative(root, absolute))) return true;
  }
  return false;
}

function hasPartitionFile(root: string): Promise<boolean> {
  return hasFileBelow(root, (relative) => path.basename(relative) === PARTITION_FILE && parsePartitionPath(relative) !== undefined);
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
  const instant = (ms: number): DuckDBTimestampTZValue => new duckdb.DuckDBTimestampTZValue(BigInt(ms) * 1000n);
  for (const s of calendar.sessions(SESSIONS_FROM, to)) {
    appender.appendDate(new duckdb.DuckDBDateValue(dateToDayNumber(s.date)));
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

/** The regular session most days: 09:30–16:00 New York, in minutes after midnight. */
const REGULAR_OPEN_MIN = 9 * 60 + 30;
const REGULAR_CLOSE_MIN = 16 * 60;

/**
 * The `session` of an instant as a SQL expression over `ts`: NULL on a day without a session, else
 * pre, regular or post against that day's regular hours. The calendar's days that differ from
 * 09:30–16:00 (early closes) and its weekday holidays are written into the expression, so the
 * column costs nothing unless a query selects it (a join with the sessions table cost every
 * query of the view, a tenfold slowdown of a month's scan). Days outside [from, to] are taken as
 * ordinary weekdays.
 */
export function sessionSql(ts: string, calendar: TradingCalendar, from: IsoDate, to: IsoDate): string {
  const sessions = calendar.sessions(from, to);
  const sessionDates = new Set(sessions.map((s) => s.date));
  const minutesOf = (s: Session, ms: number): number => Math.round((ms - nyMidnightUtc(s.date)) / 60_000);
  const special = sessions.filter((s) => minutesOf(s, s.open) !== REGULAR_OPEN_MIN || minutesOf(s, s.close) !== REGULAR_CLOSE_MIN);
  const holidays: string[] = [];
  for (let day = dateToDayNumber(from), last = dateToDayNumber(to); day <= last; day++) {
    const date = dayNumberToDate(day);
    if (weekday(date) !== 0 && weekday(date) !== 6 && !sessionDates.has(date)) holidays.push(date);
  }
  const local = `timezone('America/New_York', ${ts})`;
  const day = `CAST(${local} AS DATE)`;
  const minute = `(hour(${local}) * 60 + minute(${local}))`;
  const boundary = (which: 'open' | 'close', standard: number): string =>
    special.length === 0 ? String(standard) : `CASE ${day} ${special.map((s) => `WHEN DATE '${s.date}' THEN ${minutesOf(s, s[which])}`).join(' ')} ELSE ${standard} END`;
  // list_contains, not IN: DuckDB turns a long IN list into a join, which runs even when the column is not selected.
  const noSession = `isodow(${day}) >= 6${holidays.length ? ` OR list_contains([${holidays.map((d) => `DATE '${d}'`).join(', ')}], ${day})` : ''}`;
  return `CASE WHEN ${noSession} THEN NULL WHEN ${minute} < ${boundary('open', REGULAR_OPEN_MIN)} THEN 'pre' WHEN ${minute} < ${boundary('close', REGULAR_CLOSE_MIN)} THEN 'regular' ELSE 'post' END`;
}

/**
 * The view of one dataset; intraday bars and ticks also get the `session` they fall in: pre, regular
 * or post. The session expression spans the years the ledger covers (a shorter expression binds faster).
 */
async function datasetViewSql(storage: string, meta: DatasetMeta, calendar: TradingCalendar): Promise<string> {
  const timeframe = parseTimeframe(meta.timeframe);
  const ticks = isTickKind(meta.kind);
  if (!ticks && (!timeframe || !isIntraday(timeframe))) return `SELECT * FROM ${readParquetSql(storage, meta)}`;
  const covered = (await Ledger.load(storage, meta.dataset)).all().flatMap((e) => e.covered);
  const from = covered.length ? `${nyDateOf(Math.min(...covered.map((c) => c.start))).slice(0, 4)}-01-01` : SESSIONS_FROM;
  const to = covered.length ? `${nyDateOf(Math.max(...covered.map((c) => c.end))).slice(0, 4)}-12-31` : `${new Date().getUTCFullYear() + 1}-12-31`;
  // Tick timestamps are nanosecond UTC instants without a zone: as instants for the zone conversion.
  return `SELECT *, ${sessionSql(ticks ? '"timestamp"::TIMESTAMPTZ' : '"timestamp"', calendar, from, to)} AS "session" FROM ${readParquetSql(storage, meta)}`;
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
  const withActions = new Set<string>();
  for (const d of datasets) if (await fileExists(actionsFile(storage, d.source))) withActions.add(d.source);
  if (withActions.size > 0) {
    await connection.run(
      `CREATE VIEW corporate_actions AS SELECT * EXCLUDE (filename), regexp_extract(filename, '([^/\\\\]+)\\.parquet$', 1) AS source FROM read_parquet(${sqlString(actionsGlob(storage))}, filename = true)`,
    );
  }
  for (const d of datasets) {
    const root = datasetDir(storage, d.dataset);
    if (!(await hasPartitionFile(root))) continue;
    await connection.run(`CREATE VIEW ${sqlIdent(d.dataset)} AS ${await datasetViewSql(storage, d, calendar)}`);
    // Adjusting provider-adjusted bars again would apply the splits twice.
    if (d.kind === 'bars' && withActions.has(d.source) && (d.adjustment === null || d.adjustment === 'raw')) {
      await connection.run(`CREATE VIEW ${sqlIdent(`${d.dataset}_split_adjusted`)} AS ${adjustedSql(sqlIdent(d.dataset), storage, d.source, false)}`);
      await connection.run(`CREATE VIEW ${sqlIdent(`${d.dataset}_adjusted`)} AS ${adjustedSql(sqlIdent(d.dataset), storage, d.source, true)}`);
    }
  }
}
