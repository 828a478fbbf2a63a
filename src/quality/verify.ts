/**
 * Checks over a dataset: files readable, one file per partition and nothing stray, every row in its
 * partition (a tick in its New York day), no duplicate timestamps (bars), rows sorted, the schema's
 * row checks (OHLC sanity for bars, prices and sizes for ticks) and notes (crossed quotes),
 * ledger and files in agreement, and covered sessions missing from the data. Each finding names the
 * file (or symbol) and the check. Rows are read one symbol at a time, so memory is bounded by the
 * largest symbol, not the dataset.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { knownActions, symbolsToReadjust } from '../lake/corporate-actions.js';
import type { DatasetMeta } from '../lake/dataset-meta.js';
import { duckMessage, sqlIdent, sqlString } from '../lake/duck.js';
import { Ledger } from '../lake/ledger.js';
import { hiveTypesSql, isPartitionFile, listDatasetFiles, type DatasetFile } from '../lake/reader.js';
import { isTickKind, SCHEMAS } from '../lake/schema.js';
import type { TradingCalendar } from '../shared/calendar.js';
import { isPartitionOf, partitionId, partitionLabel } from '../shared/lake-paths.js';
import { nyDateOf } from '../shared/time.js';
import { isIntraday, parseTimeframe } from '../shared/timeframe.js';

export type Severity = 'defect' | 'info';

export interface Finding {
  severity: Severity;
  check: string;
  /** The file (relative to the storage dir) or symbol the finding is about. */
  subject: string;
  detail: string;
}

export interface VerifyReport {
  dataset: string;
  files: number;
  rows: number;
  findings: Finding[];
}

const MAX_LISTED = 20;

export async function verifyDataset(connection: DuckDBConnection, storage: string, meta: DatasetMeta, calendar: TradingCalendar, symbolFilter?: string): Promise<VerifyReport> {
  const findings: Finding[] = [];
  const add = (severity: Severity, check: string, subject: string, detail: string): void => void findings.push({ severity, check, subject, detail });
  const rel = (f: DatasetFile): string => `${meta.dataset}/${f.relative}`;
  const schema = SCHEMAS[meta.kind];
  const time = sqlIdent(schema.timeColumn);
  const list = (fs: readonly DatasetFile[]): string => `[${fs.map((f) => sqlString(f.absolute)).join(', ')}]`;

  let files = await listDatasetFiles(storage, meta.dataset);
  if (symbolFilter) files = files.filter((f) => f.relative.startsWith(`symbol=${symbolFilter}/`) || f.relative.startsWith(`symbol=${symbolFilter}\\`));

  // Layout: only the dataset's partition files belong in it.
  const good: DatasetFile[] = [];
  for (const f of files) {
    if (isPartitionFile(f) && isPartitionOf(f.key!, meta.partition)) good.push(f);
    else if (f.relative.endsWith('.parquet')) add('defect', 'one-file-per-partition', rel(f), `extra Parquet file (the dataset is partitioned by ${meta.partition}): readers of **/*.parquet see its rows twice or out of place`);
    else add('defect', 'stray-file', rel(f), 'file that is not part of the lake layout');
  }
  const bySymbol = new Map<string, DatasetFile[]>();
  for (const f of good) bySymbol.set(f.key!.symbol, [...(bySymbol.get(f.key!.symbol) ?? []), f]);

  const ledger = await Ledger.load(storage, meta.dataset);
  const tf = parseTimeframe(meta.timeframe);
  const ticks = isTickKind(meta.kind);
  const checkSessions = ticks || (tf !== undefined && (tf.unit === 'Day' || isIntraday(tf)));
  // Ticks are filed by New York day; bars by UTC month or year.
  const nyDate = `timezone('America/New_York', ${time}::TIMESTAMPTZ)`;
  const periodMismatch =
    meta.partition === 'day'
      ? `year(${nyDate}) <> "year" OR month(${nyDate}) <> "month" OR day(${nyDate}) <> "day"`
      : meta.partition === 'year'
        ? `year(${time}) <> "year"`
        : `year(${time}) <> "year" OR month(${time}) <> "month"`;
  const periodName = meta.partition === 'day' ? 'New York day' : meta.partition;
  let rows = 0;
  for (const [symbol, symbolFiles] of bySymbol) {
    // Readability, file by file only when the symbol's files fail to read together (rare), to name the culprit.
    const readable: DatasetFile[] = [];
    try {
      await connection.run(`SELECT count(*), min(${time}) FROM read_parquet(${list(symbolFiles)}, hive_partitioning = false)`);
      readable.push(...symbolFiles);
    } catch {
      for (const f of symbolFiles) {
        try {
          await connection.run(`SELECT count(*), ${schema.columns.map((c) => `max(${sqlIdent(c.name)})`).join(', ')} FROM read_parquet(${sqlString(f.absolute)})`);
          readable.push(f);
        } catch (error) {
          add('defect', 'readable', rel(f), `cannot be read: ${duckMessage(error)}`);
        }
      }
    }
    if (readable.length === 0) continue;
    await connection.run(
      `CREATE OR REPLACE TEMP VIEW verify_rows AS SELECT * FROM read_parquet(${list(readable)}, hive_partitioning = true, hive_types = ${hiveTypesSql(meta.partition)}, filename = true, file_row_number = true)`,
    );
    try {
      rows += Number((await connection.runAndReadAll('SELECT count(*) FROM verify_rows')).getRows()[0][0]);
      const byFile = async (check: string, sql: string, describe: (n: number) => string): Promise<void> => {
        const result = await connection.runAndReadAll(sql);
        for (const [filename, n] of result.getRows() as [string, bigint][]) add('defect', check, `${meta.dataset}/${filename.slice(filename.indexOf(meta.dataset) + meta.dataset.length + 1)}`, describe(Number(n)));
      };
      await byFile('partition', `SELECT filename, count(*) FROM verify_rows WHERE ${periodMismatch} GROUP BY 1 ORDER BY 1`, (n) => `${n} row(s) outside the file's ${periodName}`);
      // Ticks have no identity: equal timestamps are normal on a tape.
      if (!ticks) await byFile('no-duplicates', `SELECT filename, count(*) FROM (SELECT filename FROM verify_rows GROUP BY filename, ${time} HAVING count(*) > 1) GROUP BY 1 ORDER BY 1`, (n) => `${n} duplicated timestamp(s)`);
      await byFile(
        'sorted',
        `SELECT filename, count(*) FROM (SELECT filename, ${time} < lag(${time}) OVER (PARTITION BY filename ORDER BY file_row_number) AS bad FROM verify_rows) WHERE bad GROUP BY 1 ORDER BY 1`,
        (n) => `${n} row(s) out of timestamp order`,
      );
      for (const check of schema.checks) {
        await byFile(check.name, `SELECT filename, count(*) FROM verify_rows WHERE ${check.failing} GROUP BY 1 ORDER BY 1`, (n) => `${n} row(s) ${check.describe}`);
      }
      for (const note of schema.notes) {
        const n = Number((await connection.runAndReadAll(`SELECT count(*) FROM verify_rows WHERE ${note.failing}`)).getRows()[0][0]);
        if (n > 0) add('info', note.name, symbol, `${n} row(s) ${note.describe}`);
      }
      // Rows in the wrong partition can duplicate a timestamp across files of the same symbol.
      const crossDup = ticks ? 0 : Number((await connection.runAndReadAll(`SELECT count(*) FROM (SELECT 1 FROM verify_rows GROUP BY ${time} HAVING count(DISTINCT filename) > 1)`)).getRows()[0][0]);
      if (crossDup > 0) add('defect', 'no-duplicates', symbol, `${crossDup} timestamp(s) stored in more than one file`);
      // Covered sessions without any bar, between the symbol's first and last bar.
      const entry = ledger.get(symbol);
      if (checkSessions && entry) {
        const days = await connection.runAndReadAll(`SELECT DISTINCT strftime(${nyDate}, '%Y-%m-%d') FROM verify_rows`);
        const dates = new Set((days.getRows() as [string][]).map(([d]) => d));
        const sorted = [...dates].sort();
        const missing = sorted.length === 0 ? [] : calendar
          .sessions(sorted[0], sorted[sorted.length - 1])
          .filter((s) => !dates.has(s.date) && entry.covered.some((c) => c.start <= s.extendedOpen && s.extendedOpen < c.end))
          .map((s) => s.date);
        if (missing.length > 0) {
          const detail = `${missing.length} covered session(s) with no ${ticks ? meta.kind.slice(0, -1) : 'bar'}: ${missing.slice(0, MAX_LISTED).join(', ')}${missing.length > MAX_LISTED ? ', …' : ''}`;
          // IEX (and OTC/BOATS) carry a small share of volume: whole quiet sessions are plausible there.
          // A tick day is fetched whole, so a covered day without a file is one the provider served empty.
          add(meta.feed === 'sip' && !ticks ? 'defect' : 'info', 'missing-sessions', symbol, detail);
        }
      }
    } finally {
      await connection.run('DROP VIEW IF EXISTS verify_rows');
    }
  }

  // Ledger ↔ files.
  const present = new Set(good.map((f) => `${f.key!.symbol}/${partitionId(f.key!)}`));
  for (const entry of ledger.all()) {
    if (symbolFilter && entry.symbol !== symbolFilter) continue;
    const missing = entry.partitions.filter((p) => !present.has(`${entry.symbol}/${p}`));
    if (missing.length) add('defect', 'ledger', entry.symbol, `ledger records data in ${missing.slice(0, MAX_LISTED).join(', ')}${missing.length > MAX_LISTED ? ` and ${missing.length - MAX_LISTED} more` : ''} but the file is missing (the next ingest fetches it again)`);
  }
  for (const f of good) {
    const e = ledger.get(f.key!.symbol);
    if (!e || !e.partitions.includes(partitionId(f.key!))) add('info', 'ledger', `${meta.dataset}/${f.relative}`, `${partitionLabel(f.key!)} is not in the ledger (written by a run that stopped before recording it; the next ingest reconciles it)`);
  }
  // A provider-adjusted symbol whose stored bars predate a relevant action the lake knows is on an old basis.
  if (meta.adjustment !== null && meta.adjustment !== 'raw') {
    const actions = await knownActions(connection, storage, meta.source, [...bySymbol.keys()]);
    for (const symbol of symbolsToReadjust(meta.adjustment, actions, (s) => ledger.historyBasis(s), nyDateOf(Date.now()))) {
      add('defect', 'adjustment-basis', symbol, `its ${meta.adjustment}-adjusted bars were fetched before a corporate action the lake knows; run ingest for it to fetch its history again`);
    }
  }
  return { dataset: meta.dataset, files: good.length, rows, findings };
}
