/** Read-only commands over the lake: status, verify and query. None of them takes the run lock. */
import fs from 'node:fs';
import path from 'node:path';
import { ExitCode, UsageError } from '../errors.js';
import { duckMessage } from '../lake/duck.js';
import { Ledger } from '../lake/ledger.js';
import { datasetDir, sqlString } from '../lake/layout.js';
import { isPartitionFile, listDatasetFiles, openLake, readParquetSql, type LakeSession } from '../lake/reader.js';
import { nyseRuleCalendar, fromSessionList, makeSession, parseClock, type TradingCalendar } from '../plan/calendar.js';
import { normalize, subtract } from '../plan/intervals.js';
import { nyDateOf } from '../plan/time.js';
import { verifyDataset, type VerifyReport } from '../quality/verify.js';
import { settingsFromFlags, type CommandContext } from './ingest-command.js';
import { formatTable, formatCsv } from './table.js';

export interface LakeFlags {
  out?: string;
  config?: string;
  dataset?: string;
  symbol?: string;
  json?: boolean;
}

async function openStorage(flags: LakeFlags, ctx: CommandContext): Promise<{ storage: string; lake: LakeSession }> {
  const settings = settingsFromFlags({ out: flags.out, config: flags.config }, ctx.env);
  const storage = path.resolve(settings.local_storage_dir.value);
  if (!fs.existsSync(storage)) throw new UsageError(`storage directory ${storage} does not exist; pass the lake with --out`);
  const lake = await openLake(storage);
  if (flags.dataset && !lake.datasets.some((d) => d.dataset === flags.dataset)) {
    lake.close();
    throw new UsageError(`no dataset ${flags.dataset} in ${storage}; datasets: ${lake.datasets.map((d) => d.dataset).join(', ') || 'none'}`);
  }
  return { storage, lake };
}

/** The calendar an ingest cached from the provider, or the NYSE rules. */
function lakeCalendar(storage: string): TradingCalendar {
  try {
    const cache = JSON.parse(fs.readFileSync(path.join(storage, 'metadata', 'calendar.json'), 'utf8')) as { days: { date: string; open: string; close: string; session_open: string; session_close: string }[] };
    return fromSessionList(cache.days.map((d) => makeSession(d.date, parseClock(d.open), parseClock(d.close), parseClock(d.session_open), parseClock(d.session_close))));
  } catch {
    return nyseRuleCalendar;
  }
}

const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());

export async function runStatusCommand(flags: LakeFlags, ctx: CommandContext): Promise<number> {
  const { storage, lake } = await openStorage(flags, ctx);
  try {
    const calendar = lakeCalendar(storage);
    const report = [];
    for (const meta of lake.datasets.filter((d) => !flags.dataset || d.dataset === flags.dataset)) {
      const files = (await listDatasetFiles(storage, meta.dataset)).filter(isPartitionFile).filter((f) => !flags.symbol || f.key!.symbol === flags.symbol);
      const ledger = await Ledger.load(storage, meta.dataset);
      const perSymbol = new Map<string, { rows: number; first: string | null; last: string | null }>();
      if (files.length > 0) {
        const where = flags.symbol ? `WHERE symbol = ${sqlString(flags.symbol)}` : '';
        const result = await lake.connection.runAndReadAll(
          `SELECT symbol, count(*)::BIGINT, strftime(min("timestamp"), '%Y-%m-%dT%H:%M:%SZ'), strftime(max("timestamp"), '%Y-%m-%dT%H:%M:%SZ') FROM ${readParquetSql(storage, meta.dataset)} ${where} GROUP BY symbol ORDER BY symbol`,
        );
        for (const [symbol, n, first, last] of result.getRows() as [string, bigint, string, string][]) perSymbol.set(symbol, { rows: Number(n), first, last });
      }
      const entries = ledger.all().filter((e) => !flags.symbol || e.symbol === flags.symbol);
      const failed = entries.filter((e) => e.last_outcome === 'failed').map((e) => ({ symbol: e.symbol, reason: e.last_reason ?? '', at: e.last_run_at ?? null }));
      const gaps = [];
      for (const e of entries) {
        const covered = normalize(e.covered);
        if (covered.length < 2) continue;
        const holes = subtract([{ start: covered[0].start, end: covered[covered.length - 1].end }], covered).filter(
          (h) => calendar.sessions(nyDateOf(h.start), nyDateOf(h.end - 1)).some((s) => s.extendedOpen < h.end && s.extendedClose > h.start),
        );
        if (holes.length) gaps.push({ symbol: e.symbol, gaps: holes.map((h) => ({ start: iso(h.start), end: iso(h.end) })) });
      }
      const rows = [...perSymbol.values()].reduce((n, s) => n + s.rows, 0);
      const firsts = [...perSymbol.values()].map((s) => s.first).filter((v): v is string => v !== null).sort();
      const lasts = [...perSymbol.values()].map((s) => s.last).filter((v): v is string => v !== null).sort();
      report.push({
        dataset: meta.dataset,
        path: datasetDir(storage, meta.dataset),
        source: meta.source,
        synthetic: meta.synthetic,
        timeframe: meta.timeframe,
        feed: meta.feed,
        adjustment: meta.adjustment,
        symbols: perSymbol.size,
        rows,
        first_bar: firsts[0] ?? null,
        last_bar: lasts[lasts.length - 1] ?? null,
        partitions: files.length,
        size_bytes: files.reduce((n, f) => n + f.size, 0),
        inactive: entries.filter((e) => e.inactive).map((e) => e.symbol),
        failed,
        gaps,
        per_symbol: flags.symbol
          ? entries.map((e) => ({
              symbol: e.symbol,
              ...perSymbol.get(e.symbol),
              covered: e.covered.map((c) => ({ start: iso(c.start), end: iso(c.end) })),
              last_outcome: e.last_outcome ?? null,
              last_reason: e.last_reason ?? null,
              last_run_at: e.last_run_at ?? null,
            }))
          : undefined,
      });
    }
    if (flags.json) {
      ctx.io.out(JSON.stringify({ storage, datasets: report }, null, 2));
      return ExitCode.ok;
    }
    if (report.length === 0) ctx.io.out(`no datasets in ${storage}`);
    for (const d of report) {
      ctx.io.out(`${d.dataset}  (source ${d.source}, ${d.timeframe}, feed ${d.feed}, adjustment ${d.adjustment})`);
      ctx.io.out(`  ${d.symbols} symbols, ${d.rows.toLocaleString('en-US')} bars, ${d.partitions.toLocaleString('en-US')} partitions, ${(d.size_bytes / 1_048_576).toFixed(1)} MiB`);
      ctx.io.out(`  first bar ${d.first_bar ?? '-'}, last bar ${d.last_bar ?? '-'}`);
      if (d.inactive.length) ctx.io.out(`  inactive: ${d.inactive.join(', ')}`);
      for (const f of d.failed) ctx.io.out(`  last run failed: ${f.symbol}: ${f.reason}`);
      for (const g of d.gaps) ctx.io.out(`  uncovered gaps: ${g.symbol}: ${g.gaps.map((x) => `${x.start}..${x.end}`).join(', ')}`);
      for (const s of d.per_symbol ?? []) {
        ctx.io.out(`  ${s.symbol}: ${s.rows ?? 0} bars, ${s.first ?? '-'} .. ${s.last ?? '-'}, last outcome ${s.last_outcome ?? '-'}${s.last_reason ? ` (${s.last_reason})` : ''}`);
        for (const c of s.covered) ctx.io.out(`    covered ${c.start} .. ${c.end}`);
      }
    }
    return ExitCode.ok;
  } finally {
    lake.close();
  }
}

export async function runVerifyCommand(flags: LakeFlags, ctx: CommandContext): Promise<number> {
  const { storage, lake } = await openStorage(flags, ctx);
  try {
    const calendar = lakeCalendar(storage);
    const reports: VerifyReport[] = [];
    for (const meta of lake.datasets.filter((d) => !flags.dataset || d.dataset === flags.dataset)) {
      reports.push(await verifyDataset(lake.connection, storage, meta, calendar, flags.symbol));
    }
    const defects = reports.reduce((n, r) => n + r.findings.filter((f) => f.severity === 'defect').length, 0);
    if (flags.json) {
      ctx.io.out(JSON.stringify({ storage, clean: defects === 0, datasets: reports }, null, 2));
    } else {
      for (const r of reports) {
        ctx.io.out(`${r.dataset}: ${r.files.toLocaleString('en-US')} files, ${r.rows.toLocaleString('en-US')} rows checked`);
        for (const f of r.findings) ctx.io.out(`  ${f.severity === 'defect' ? 'DEFECT' : 'info'} [${f.check}] ${f.subject}: ${f.detail}`);
      }
      ctx.io.out(defects === 0 ? 'verify: clean' : `verify: ${defects} defect(s) found`);
    }
    return defects === 0 ? ExitCode.ok : ExitCode.partialFailure;
  } finally {
    lake.close();
  }
}

const READ_ONLY_STATEMENTS = /^\s*(select|with|from|describe|show|summarize|explain|pivot|unpivot|values|table)\b/i;

export async function runQueryCommand(sql: string, flags: LakeFlags & { format?: string }, ctx: CommandContext): Promise<number> {
  const format = (flags.format ?? 'table').toLowerCase();
  if (!['table', 'csv', 'json'].includes(format)) throw new UsageError(`unknown --format ${JSON.stringify(flags.format)}; use table, csv or json`);
  if (!READ_ONLY_STATEMENTS.test(sql)) throw new UsageError('ingest query is read-only: use SELECT, WITH, FROM, DESCRIBE, SHOW, SUMMARIZE or EXPLAIN');
  const { lake } = await openStorage(flags, ctx);
  try {
    let reader;
    try {
      const statements = await lake.connection.extractStatements(sql);
      if (statements.count !== 1) throw new UsageError('ingest query runs exactly one statement');
      reader = await lake.connection.runAndReadAll(sql);
    } catch (error) {
      if (error instanceof UsageError) throw error;
      throw new UsageError(`query failed: ${duckMessage(error)}`);
    }
    const columns = reader.columnNames();
    // JSON-safe values, but integers that fit a double stay numbers (DuckDB's JSON form quotes BIGINTs).
    const integerColumns = reader.columnTypes().map((t) => /INT/.test(t.toString()));
    const rows = (reader.getRowsJson() as unknown[][]).map((r) =>
      r.map((v, i) => (integerColumns[i] && typeof v === 'string' && Number.isSafeInteger(Number(v)) ? Number(v) : v)),
    );
    if (format === 'json') ctx.io.out(JSON.stringify(rows.map((r) => Object.fromEntries(columns.map((c, i) => [c, r[i]])))));
    else if (format === 'csv') ctx.io.out(formatCsv(columns, rows));
    else ctx.io.out(formatTable(columns, rows));
    return ExitCode.ok;
  } finally {
    lake.close();
  }
}
