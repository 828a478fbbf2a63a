/** The `ingest` command line: parse, dispatch, and turn every failure into a one-line error and an exit code. */
import { Command, CommanderError, Option } from 'commander';
import { DEFAULT_SOURCE, SETTING_NAMES, SOURCE_DEFINITIONS, type SourceDefinition, TIMEFRAME_HELP } from '../index.js';
import { runConfigCommand } from './config-command.js';
import { EXIT_CODES_HELP, ExitCode, exitCodeForError } from './exit-codes.js';
import { type CommandContext, type IngestFlags, runIngestCommand } from './ingest-command.js';
import { type LakeFlags, runQueryCommand, runRepartitionCommand, runStatusCommand, runVerifyCommand } from './lake-commands.js';
import { exitQuietlyOnClosedPipe, type Output, processOutput } from './render.js';

/** Each source's choices, e.g. "alpaca: sip | iex". */
function perSource(choices: (d: SourceDefinition) => readonly string[]): string {
  return SOURCE_DEFINITIONS.filter((d) => choices(d).length > 0)
    .map((d) => `${d.name}: ${choices(d).join(' | ')}`)
    .join('; ');
}

function addIngestOptions(cmd: Command): Command {
  return cmd
    .addHelpText('after', EXIT_CODES_HELP)
    .addOption(new Option('--data <kind>', 'what to fetch: bars, or every trade or top-of-book quote (stored per symbol and New York day)').choices(['bars', 'trades', 'quotes']).default('bars'))
    .option('--timeframe <tf>', `bar timeframe: ${TIMEFRAME_HELP} (settings: timeframe; bars only)`)
    .option('--start <date>', 'first New York trading date, YYYY-MM-DD (default: resume from the lake, new symbols from settings start)')
    .option('--end <date>', 'last New York trading date, inclusive (default: now − 16 min)')
    .option('--feed <feed>', `where the source has feeds: ${perSource((d) => d.capabilities.feeds)} (settings: feed)`)
    .option('--adjustment <adj>', `where the source has adjustments: ${perSource((d) => d.capabilities.adjustments)} (settings: adjustment; bars only)`)
    .addOption(new Option('--source <name>', `data source: ${SOURCE_DEFINITIONS.map((d) => `${d.name} (${d.description})`).join(', ')}`).choices(SOURCE_DEFINITIONS.map((d) => d.name)).default(DEFAULT_SOURCE))
    .option('--out <dir>', 'storage directory (settings: local_storage_dir, default ./data)')
    .option('--dataset <name>', 'dataset directory name (default equities_<timeframe>, equities_trades, equities_quotes)')
    .option('--config <path>', 'settings file (default ./settings.ini)')
    .option('--threads <n>', 'concurrent units of work (settings: api_threads)')
    .option('--rate-limit <n>', 'requests per minute for the whole run (settings: rate_limit_per_minute)')
    .option('--max-attempts <n>', 'attempts per request before a unit fails (settings: max_attempts)')
    .option('--request-timeout <seconds>', 'per-request deadline (settings: request_timeout_seconds)')
    .option('--retry-delay <ms>', 'first retry delay, doubled per attempt (settings: retry_base_delay_ms)')
    .option('--circuit-breaker <n>', 'stop after n consecutive failed requests, 0 = never (settings: circuit_breaker_failures)')
    .option('--lookback <sessions>', 'sessions re-fetched before the covered end (settings: lookback_sessions)')
    .option('--refetch', 'fetch the whole range even where the lake already has it')
    .option('--no-actions', 'do not refresh the symbols\' corporate actions after the bars')
    .option('--index-name <name>', 'record index membership in metadata/indices/<name>.csv')
    .option('--skip-invalid', 'skip invalid symbols with a warning instead of stopping')
    .option('--partition <layout>', 'bars: files per symbol-month or symbol-year, for a dataset this run creates: month | year (default: year for 1Day and longer)')
    .option('--dry-run', 'print the plan (symbols current, units, requests, bars, time at the rate limit); fetch and write nothing')
    .option('--no-progress', 'plain log lines even on a terminal')
    .option('--json', 'print one machine-readable summary object on stdout')
    .option('--quiet', 'print only errors and the summary')
    .option('--verbose', 'log every request and unit start');
}

export interface MainContext {
  env?: Readonly<Record<string, string | undefined>>;
  io?: Output;
  stdoutIsTty?: boolean;
  /** Shown by --version. */
  version?: string;
}

export async function main(argv: string[], ctx: MainContext = {}): Promise<number> {
  const controller = new AbortController();
  let signalExit: number | undefined;
  const onSignal = (name: 'SIGINT' | 'SIGTERM') => () => {
    const code = name === 'SIGINT' ? ExitCode.sigint : ExitCode.sigterm;
    if (signalExit !== undefined) process.exit(code); // a second signal: stop now
    signalExit = code;
    process.stderr.write(`${name}: finishing commits in flight, then stopping (send again to stop at once)\n`);
    controller.abort();
  };
  if (!ctx.io) exitQuietlyOnClosedPipe();
  const sigint = onSignal('SIGINT');
  const sigterm = onSignal('SIGTERM');
  process.on('SIGINT', sigint);
  process.on('SIGTERM', sigterm);
  const context: CommandContext = {
    env: ctx.env ?? process.env,
    io: ctx.io ?? processOutput,
    stdoutIsTty: ctx.stdoutIsTty ?? Boolean(process.stdout.isTTY),
    signal: controller.signal,
    interruptedWith: () => signalExit,
  };
  let exitCode: number = ExitCode.ok;
  const program = new Command('ingest')
    .description('Bulk-ingest historical US stock bars into a partitioned Parquet lake')
    .exitOverride()
    .configureOutput({ writeErr: (s) => context.io.err(s.trimEnd()), writeOut: (s) => context.io.out(s.trimEnd()) })
    .addHelpText('after', EXIT_CODES_HELP)
    .showSuggestionAfterError();
  if (ctx.version) program.version(ctx.version, '-V, --version', 'print the version');

  addIngestOptions(program.command('csv <file>').description('ingest the symbols of a CSV file (column Symbol or Ticker, or --column)'))
    .option('--column <name>', 'the CSV column holding the symbols')
    .action(async (file: string, flags: IngestFlags & { column?: string }) => {
      exitCode = await runIngestCommand({ kind: 'csv', file, column: flags.column }, flags, context);
    });
  addIngestOptions(program.command('file <file>').description('ingest the symbols of a text file (one per line, # comments)')).action(
    async (file: string, flags: IngestFlags) => {
      exitCode = await runIngestCommand({ kind: 'file', file }, flags, context);
    },
  );
  addIngestOptions(program.command('symbols <symbols...>').description('ingest the symbols given as arguments')).action(
    async (symbols: string[], flags: IngestFlags) => {
      exitCode = await runIngestCommand({ kind: 'symbols', symbols }, flags, context);
    },
  );
  program
    .command('config')
    .description(`print the effective settings and where each came from (${SETTING_NAMES.length} keys)`)
    .option('--config <path>', 'settings file (default ./settings.ini)')
    .option('--out <dir>', 'storage directory')
    .option('--json', 'print JSON')
    .action((flags: { config?: string; out?: string; json?: boolean }) => {
      exitCode = runConfigCommand(flags, context);
    });

  const lakeOptions = (cmd: Command): Command =>
    cmd
      .option('--out <dir>', 'storage directory (settings: local_storage_dir)')
      .option('--config <path>', 'settings file (default ./settings.ini)')
      .option('--dataset <name>', 'only this dataset')
      .option('--json', 'print JSON');
  lakeOptions(program.command('status').description('what the lake holds: per dataset totals, then every symbol (first and last bar, bars, partitions, last outcome); read-only'))
    .option('--symbol <sym>', 'only this symbol, with its covered ranges')
    .action(async (flags: LakeFlags) => {
      exitCode = await runStatusCommand(flags, context);
    });
  lakeOptions(program.command('verify').description('check the lake: readable files, layout, partitions, duplicates, order, OHLC, ledger, missing sessions; exit 1 on defects'))
    .option('--symbol <sym>', 'only this symbol')
    .action(async (flags: LakeFlags) => {
      exitCode = await runVerifyCommand(flags, context);
    });
  program
    .command('repartition')
    .description('convert a dataset to one file per symbol-month or symbol-year, in place and crash-safely (takes the run lock)')
    .requiredOption('--dataset <name>', 'the dataset to convert')
    .requiredOption('--partition <layout>', 'month | year')
    .option('--out <dir>', 'storage directory (settings: local_storage_dir)')
    .option('--config <path>', 'settings file (default ./settings.ini)')
    .option('--json', 'print JSON')
    .action(async (flags: LakeFlags & { dataset: string; partition: string }) => {
      exitCode = await runRepartitionCommand(flags, context);
    });
  program
    .command('query <sql>')
    .description('run read-only SQL in DuckDB with one view per dataset (equities_1day, equities_1min, …)')
    .option('--out <dir>', 'storage directory (settings: local_storage_dir)')
    .option('--config <path>', 'settings file (default ./settings.ini)')
    .option('--format <format>', 'table | csv | json', 'table')
    .action(async (sql: string, flags: LakeFlags & { format?: string }) => {
      exitCode = await runQueryCommand(sql, flags, context);
    });

  try {
    await program.parseAsync(argv);
  } catch (error) {
    exitCode = reportError(error, context, argv.includes('--json'));
  } finally {
    process.off('SIGINT', sigint);
    process.off('SIGTERM', sigterm);
  }
  return signalExit ?? exitCode;
}

/**
 * Map anything thrown to one line on stderr and an exit code. No stack traces for user-caused errors.
 * With --json, stdout still gets one object: the error, since the command ended before its summary.
 */
function reportError(error: unknown, ctx: CommandContext, json: boolean): number {
  const report = (code: number, message: string, hint?: string): number => {
    // The process ends with the signal's code when one interrupted it.
    if (json) ctx.io.out(JSON.stringify({ error: message, ...(hint ? { hint } : {}), exitCode: ctx.interruptedWith() ?? code }));
    return code;
  };
  if (error instanceof CommanderError) {
    // --help and --version succeed; help shown because no command was given is a usage error.
    if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return ExitCode.ok;
    if (error.code === 'commander.help') return ExitCode.usage;
    // Commander already printed its message.
    return report(ExitCode.usage, error.message.replace(/^error: /, ''));
  }
  const message = error instanceof Error ? error.message : String(error);
  const known = exitCodeForError(error);
  if (known !== undefined) {
    const hint = (error as { hint?: string }).hint;
    ctx.io.err(`error: ${message}${hint ? ` — hint: ${hint}` : ''}`);
    return report(known, message, hint);
  }
  const line = message.split('\n')[0];
  ctx.io.err(`error: ${line}`);
  if (ctx.env.DATA_ENGINE_DEBUG && error instanceof Error && error.stack) ctx.io.err(error.stack);
  return report(ExitCode.partialFailure, line);
}
