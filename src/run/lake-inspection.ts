/**
 * The read side of the library: what the lake holds (`status`), whether it is sound (`verify`) and
 * SQL over it (`query`). None of them takes the run lock: readers only ever see whole files.
 */
import fs from 'node:fs';
import { type DatasetMeta, listDatasets } from '../lake/dataset-meta.js';
import { duckMessage } from '../lake/duck.js';
import { type LakeSession, openLake } from '../lake/reader.js';
import { datasetStatus, type DatasetStatus } from '../lake/status.js';
import { verifyDataset, type VerifyReport } from '../quality/verify.js';
import { nyseRuleCalendar, type TradingCalendar } from '../shared/calendar.js';
import { UsageError } from '../shared/errors.js';
import { normalizeSymbol } from '../shared/symbol.js';
import { cachedReferenceData } from './reference-data.js';

export interface InspectOptions {
  /** Only this dataset. */
  dataset?: string;
  /** Only this symbol (normalized like any symbol: `brk-b` is `BRK.B`). */
  symbol?: string;
}

export interface StatusReport {
  storage: string;
  datasets: DatasetStatus[];
}

export interface VerifyResult {
  storage: string;
  clean: boolean;
  datasets: VerifyReport[];
}

export interface QueryResult {
  columns: string[];
  /** One array per row; timestamps as ISO-8601 UTC strings, integers that fit a double as numbers. */
  rows: unknown[][];
}

/** The lake, with the query views when `views` (status and verify name their files themselves). */
async function openStorage(storage: string, dataset: string | undefined, views: boolean): Promise<LakeSession> {
  if (!fs.existsSync(storage)) throw new UsageError(`storage directory ${storage} does not exist; point to the lake (--out DIR, or storageDir)`);
  const lake = await openLake(storage, views ? await lakeCalendar(storage) : undefined);
  if (dataset && !lake.datasets.some((d) => d.dataset === dataset)) {
    lake.close();
    throw new UsageError(`no dataset ${dataset} in ${storage}; datasets: ${lake.datasets.map((d) => d.dataset).join(', ') || 'none'}`);
  }
  return lake;
}

function symbolFilter(symbol: string | undefined): string | undefined {
  if (symbol === undefined) return undefined;
  const verdict = normalizeSymbol(symbol);
  if (!verdict.ok) throw new UsageError(`symbol ${JSON.stringify(symbol)} is invalid: ${verdict.reason}`);
  return verdict.symbol;
}

/** The calendar the dataset's source last served (cached by an ingest), or the NYSE rules. */
async function calendarFor(storage: string, meta: DatasetMeta): Promise<TradingCalendar> {
  return (await cachedReferenceData(storage, meta.source)).calendar ?? nyseRuleCalendar;
}

/** For the `sessions` table: the first provider calendar any dataset's source cached, or the NYSE rules. */
async function lakeCalendar(storage: string): Promise<TradingCalendar> {
  for (const meta of await listDatasets(storage)) {
    const cached = (await cachedReferenceData(storage, meta.source)).calendar;
    if (cached) return cached;
  }
  return nyseRuleCalendar;
}

/** Run `inspect` over each selected dataset of the lake, with its calendar and the symbol filter. */
async function eachDataset<T>(storage: string, options: InspectOptions, inspect: (lake: LakeSession, meta: DatasetMeta, calendar: TradingCalendar, symbol: string | undefined) => Promise<T>): Promise<T[]> {
  const lake = await openStorage(storage, options.dataset, false);
  try {
    const symbol = symbolFilter(options.symbol);
    const out: T[] = [];
    for (const meta of lake.datasets.filter((d) => !options.dataset || d.dataset === options.dataset)) {
      out.push(await inspect(lake, meta, await calendarFor(storage, meta), symbol));
    }
    return out;
  } finally {
    lake.close();
  }
}

export async function lakeStatus(storage: string, options: InspectOptions = {}): Promise<StatusReport> {
  const datasets = await eachDataset(storage, options, (lake, meta, calendar, symbol) => datasetStatus(lake.connection, storage, meta, calendar, symbol));
  return { storage, datasets };
}

export async function verifyLake(storage: string, options: InspectOptions = {}): Promise<VerifyResult> {
  const datasets = await eachDataset(storage, options, (lake, meta, calendar, symbol) => verifyDataset(lake.connection, storage, meta, calendar, symbol));
  return { storage, clean: datasets.every((r) => r.findings.every((f) => f.severity !== 'defect')), datasets };
}

const READ_ONLY_STATEMENTS = /^[\s(]*(select|with|from|describe|show|summarize|explain|pivot|unpivot|values|table)\b/i;
/** Words that make a statement write or change the session, wherever they appear (`EXPLAIN ANALYZE COPY …`, `WITH … INSERT`). */
const WRITING_WORDS = /\b(copy|insert|update|delete|merge|attach|detach|create|drop|alter|export|import|install|load|pragma|set|reset|call|checkpoint|vacuum|truncate|use)\b/i;

/** The statement without its string literals, quoted identifiers and comments, whose words are data. */
function statementWords(sql: string): string {
  return sql.replace(/'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|\/\*[\s\S]*?\*\//g, ' ');
}
/** Column types of the lake's instants: bars' TIMESTAMPTZ, ticks' TIMESTAMP_NS (a UTC instant by the schema). */
const INSTANT_TYPES = /^(TIMESTAMP WITH TIME ZONE|TIMESTAMP_NS)$/;

/** One read-only statement over the lake's views (one per dataset, named after it), in UTC. */
export async function queryLake(storage: string, sql: string): Promise<QueryResult> {
  if (!READ_ONLY_STATEMENTS.test(sql) || WRITING_WORDS.test(statementWords(sql))) {
    throw new UsageError('queries are read-only: use SELECT, WITH, FROM, DESCRIBE, SHOW, SUMMARIZE or EXPLAIN, without COPY, INSERT, CREATE, SET or the like (quote a column named like one)');
  }
  const lake = await openStorage(storage, undefined, true);
  try {
    let reader;
    try {
      const statements = await lake.connection.extractStatements(sql);
      if (statements.count !== 1) throw new UsageError('a query is exactly one statement');
      reader = await lake.connection.runAndReadAll(sql);
    } catch (error) {
      if (error instanceof UsageError) throw error;
      throw new UsageError(`query failed: ${duckMessage(error)}`);
    }
    const types = reader.columnTypes().map((t) => t.toString());
    // JSON-safe values, but integers that fit a double stay numbers (DuckDB's JSON form quotes BIGINTs),
    // and instants are ISO-8601 UTC.
    const rows = (reader.getRowsJson() as unknown[][]).map((r) =>
      r.map((v, i) => {
        if (typeof v !== 'string') return v;
        if (/INT/.test(types[i]) && Number.isSafeInteger(Number(v))) return Number(v);
        // The lake's instants, at either precision; a plain TIMESTAMP may be a wall-clock time
        // (timezone('America/New_York', …)), so it is left as DuckDB writes it.
        if (INSTANT_TYPES.test(types[i]) && /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/.test(v)) return `${v.replace(' ', 'T').replace(/\+00(:00)?$/, '')}Z`;
        return v;
      }),
    );
    return { columns: reader.columnNames(), rows };
  } finally {
    lake.close();
  }
}
