/** Read-only commands over the lake: status, verify and query. None of them takes the run lock. */
import { IngestionPipeline, type ListedAction, type StatusReport, UsageError } from '../index.js';
import { ExitCode } from './exit-codes.js';
import { type CommandContext, settingsFromFlags } from './ingest-command.js';
import { formatCsv, formatTable } from './table.js';

export interface LakeFlags {
  out?: string;
  config?: string;
  dataset?: string;
  symbol?: string;
  json?: boolean;
}

function pipelineFor(flags: LakeFlags, ctx: CommandContext): IngestionPipeline {
  const { settings, warnings } = settingsFromFlags({ out: flags.out, config: flags.config }, ctx.env);
  for (const warning of warnings) ctx.io.err(`warning: ${warning}`);
  return new IngestionPipeline({ storageDir: settings.local_storage_dir.value, env: ctx.env });
}

/** `AAPL forward_split 1 → 4, ex 2024-03-11`; `FB → META name_change 2022-06-09`. */
function describeAction(a: ListedAction): string {
  if (a.other_symbol && a.type === 'name_change') return `${a.symbol} → ${a.other_symbol} name change ${a.ex_date}`;
  const numbers = a.cash_amount !== null ? `${a.cash_amount} per share` : a.old_rate !== null && a.new_rate !== null ? `${a.old_rate} → ${a.new_rate}` : '';
  return [a.symbol, a.type.replace(/_/g, ' '), numbers, a.other_symbol ? `(${a.other_symbol})` : '', `ex ${a.ex_date}`].filter(Boolean).join(' ');
}

const mib = (bytes: number): string => `${(bytes / 1_048_576).toFixed(1)} MiB`;
const num = (n: number): string => n.toLocaleString('en-US');

function renderStatus(report: StatusReport, ctx: CommandContext, oneSymbol: boolean): void {
  if (report.datasets.length === 0) ctx.io.out(`no datasets in ${report.storage}`);
  for (const d of report.datasets) {
    const provenance = [d.source, d.timeframe, d.feed && `feed ${d.feed}`, d.adjustment && `adjustment ${d.adjustment}`].filter(Boolean).join(', ');
    // A tick dataset's files are its symbol-days.
    const files = d.kind === 'bars' ? 'partitions' : 'days';
    const one = d.kind === 'bars' ? 'bar' : d.kind.slice(0, -1);
    ctx.io.out(`${d.dataset}  (${provenance})`);
    ctx.io.out(`  ${num(d.symbols)} symbols, ${num(d.rows)} ${d.kind}, ${num(d.partitions)} ${files}, ${mib(d.size_bytes)}`);
    ctx.io.out(`  first ${one} ${d.first_bar ?? '-'}, last ${one} ${d.last_bar ?? '-'}`);
    if (d.inactive.length) ctx.io.out(`  inactive: ${d.inactive.join(', ')}`);
    for (const f of d.failed) ctx.io.out(`  last run failed: ${f.symbol}: ${f.reason}`);
    for (const g of d.gaps) ctx.io.out(`  uncovered gaps: ${g.symbol}: ${g.gaps.map((x) => `${x.start}..${x.end}`).join(', ')}`);
    if (d.per_symbol.length > 0) {
      const rows = d.per_symbol.map((s) => [s.symbol, s.first_bar ?? '-', s.last_bar ?? '-', num(s.rows), num(s.partitions), `${s.last_outcome ?? '-'}${s.inactive ? ' (inactive)' : ''}`]);
      ctx.io.out(
        formatTable(['symbol', `first ${one}`, `last ${one}`, d.kind, files, 'last outcome'], rows)
          .split('\n')
          .map((line) => `  ${line}`)
          .join('\n'),
      );
    }
    if (oneSymbol) {
      for (const s of d.per_symbol) {
        if (s.last_reason) ctx.io.out(`  ${s.symbol} last reason: ${s.last_reason}`);
        for (const c of s.covered) ctx.io.out(`  ${s.symbol} covered ${c.start} .. ${c.end}`);
        for (const a of s.corporate_actions ?? []) ctx.io.out(`  ${describeAction(a)}`);
      }
    }
  }
}

export async function runStatusCommand(flags: LakeFlags, ctx: CommandContext): Promise<number> {
  const report = await pipelineFor(flags, ctx).status({ dataset: flags.dataset, symbol: flags.symbol });
  if (flags.json) ctx.io.out(JSON.stringify(report, null, 2));
  else renderStatus(report, ctx, flags.symbol !== undefined);
  return ExitCode.ok;
}

export async function runVerifyCommand(flags: LakeFlags, ctx: CommandContext): Promise<number> {
  const result = await pipelineFor(flags, ctx).verify({ dataset: flags.dataset, symbol: flags.symbol });
  const defects = result.datasets.reduce((n, r) => n + r.findings.filter((f) => f.severity === 'defect').length, 0);
  if (flags.json) {
    ctx.io.out(JSON.stringify(result, null, 2));
  } else {
    for (const r of result.datasets) {
      ctx.io.out(`${r.dataset}: ${num(r.files)} files, ${num(r.rows)} rows checked`);
      for (const f of r.findings) ctx.io.out(`  ${f.severity === 'defect' ? 'DEFECT' : 'info'} [${f.check}] ${f.subject}: ${f.detail}`);
    }
    ctx.io.out(defects === 0 ? 'verify: clean' : `verify: ${defects} defect(s) found`);
  }
  return defects === 0 ? ExitCode.ok : ExitCode.partialFailure;
}

export async function runQueryCommand(sql: string, flags: LakeFlags & { format?: string }, ctx: CommandContext): Promise<number> {
  const format = (flags.format ?? 'table').toLowerCase();
  if (!['table', 'csv', 'json'].includes(format)) throw new UsageError(`unknown --format ${JSON.stringify(flags.format)}; use table, csv or json`);
  const { columns, rows } = await pipelineFor(flags, ctx).query(sql);
  if (format === 'json') ctx.io.out(JSON.stringify(rows.map((r) => Object.fromEntries(columns.map((c, i) => [c, r[i]])))));
  else if (format === 'csv') ctx.io.out(formatCsv(columns, rows));
  else ctx.io.out(formatTable(columns, rows));
  return ExitCode.ok;
}

export async function runRepartitionCommand(flags: LakeFlags & { dataset: string; partition: string }, ctx: CommandContext): Promise<number> {
  if (flags.partition !== 'month' && flags.partition !== 'year') throw new UsageError(`unknown --partition ${JSON.stringify(flags.partition)}; use month or year`);
  const result = await pipelineFor(flags, ctx).repartition(flags.dataset, flags.partition);
  if (flags.json) ctx.io.out(JSON.stringify(result));
  else if (result.from === result.to && result.symbols === 0) ctx.io.out(`${result.dataset} is already partitioned by ${result.to}; nothing to do`);
  else ctx.io.out(`${result.dataset}: ${num(result.symbols)} symbols converted from ${result.from} to ${result.to} partitions, ${num(result.filesBefore)} → ${num(result.filesAfter)} files, ${num(result.rows)} rows`);
  return ExitCode.ok;
}
