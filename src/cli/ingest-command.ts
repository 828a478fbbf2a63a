/** `ingest csv|file|symbols`: flags and settings into a pipeline, its events onto the terminal, its result into an exit code. */
import path from 'node:path';
import { type DataKind, DEFAULT_SOURCE, defaultConfigPath, detectOs, type IngestOptions, IngestionPipeline, type IngestResult, optionsFromSettings, type ResolvedSettings, resolveSettings, type SettingKey, SOURCE_DEFINITIONS, UsageError } from '../index.js';
import { ExitCode } from './exit-codes.js';
import { type Output, type OutputMode, Renderer } from './render.js';

export interface IngestFlags {
  data?: string;
  timeframe?: string;
  start?: string;
  end?: string;
  feed?: string;
  adjustment?: string;
  source?: string;
  out?: string;
  dataset?: string;
  config?: string;
  threads?: string;
  rateLimit?: string;
  maxAttempts?: string;
  requestTimeout?: string;
  retryDelay?: string;
  circuitBreaker?: string;
  lookback?: string;
  refetch?: boolean;
  /** False with --no-actions. */
  actions?: boolean;
  indexName?: string;
  skipInvalid?: boolean;
  partition?: string;
  dryRun?: boolean;
  progress?: boolean;
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
}

export interface CommandContext {
  env: Readonly<Record<string, string | undefined>>;
  io: Output;
  stdoutIsTty: boolean;
  signal: AbortSignal;
  /** The exit code of the signal that interrupted the run (130/143), if one did. */
  interruptedWith: () => number | undefined;
}

/** Which flag sets which settings key: error messages name the flag the user typed. */
const FLAG_FOR_SETTING: Partial<Record<SettingKey, [keyof IngestFlags, string]>> = {
  local_storage_dir: ['out', '--out'],
  api_threads: ['threads', '--threads'],
  timeframe: ['timeframe', '--timeframe'],
  feed: ['feed', '--feed'],
  adjustment: ['adjustment', '--adjustment'],
  rate_limit_per_minute: ['rateLimit', '--rate-limit'],
  max_attempts: ['maxAttempts', '--max-attempts'],
  request_timeout_seconds: ['requestTimeout', '--request-timeout'],
  retry_base_delay_ms: ['retryDelay', '--retry-delay'],
  circuit_breaker_failures: ['circuitBreaker', '--circuit-breaker'],
  lookback_sessions: ['lookback', '--lookback'],
};

export function settingsFromFlags(flags: IngestFlags, env: CommandContext['env']): ResolvedSettings {
  const given: Partial<Record<SettingKey, { raw: string; flag: string }>> = {};
  for (const [key, [property, flag]] of Object.entries(FLAG_FOR_SETTING) as [SettingKey, [keyof IngestFlags, string]][]) {
    const raw = flags[property];
    if (typeof raw === 'string') given[key] = { raw, flag };
  }
  return resolveSettings({
    configPath: flags.config ? path.resolve(flags.config) : defaultConfigPath(),
    configExplicit: flags.config !== undefined,
    env,
    flags: given,
    osName: detectOs(),
  });
}

export function outputMode(flags: IngestFlags, stdoutIsTty: boolean): OutputMode {
  if (flags.json) return 'json';
  if (flags.quiet) return 'quiet';
  return stdoutIsTty && flags.progress !== false ? 'tty' : 'plain';
}

/** What the shell should hear: the signal's code, 3 when nothing could proceed, 1 when anything is missing. */
export function exitCodeOf(result: IngestResult, interruptedWith: number | undefined): number {
  if (interruptedWith !== undefined) return interruptedWith;
  if (result.stopped?.kind === 'credentials' || result.stopped?.kind === 'plan') return ExitCode.cannotProceed;
  return result.complete ? ExitCode.ok : ExitCode.partialFailure;
}

export type SymbolInput = { kind: 'csv'; file: string; column?: string } | { kind: 'file'; file: string } | { kind: 'symbols'; symbols: string[] };

export async function runIngestCommand(input: SymbolInput, flags: IngestFlags, ctx: CommandContext): Promise<number> {
  const data = (flags.data ?? 'bars') as DataKind;
  if (data !== 'bars') {
    // Ticks have neither: a flag that would be ignored is a mistake worth saying.
    const given: [string, unknown][] = [['--timeframe', flags.timeframe], ['--adjustment', flags.adjustment], ['--partition', flags.partition], ['--lookback', flags.lookback], ['--no-actions', flags.actions === false ? true : undefined]];
    for (const [flag, value] of given) {
      if (value !== undefined) throw new UsageError(`${flag} means nothing for ${data} (they are never aggregated or adjusted, have no correction window or corporate actions, and are stored per symbol and day); leave it out`);
    }
  }
  const { settings, warnings } = settingsFromFlags(flags, ctx.env);
  const renderer = new Renderer(outputMode(flags, ctx.stdoutIsTty), ctx.io, flags.verbose ?? false);
  for (const warning of warnings) renderer.notice('warning', warning);
  // A feed asked for by flag or variable that the source has no use for: said, not silently dropped.
  const sourceName = (flags.source ?? DEFAULT_SOURCE).trim().toLowerCase();
  const feedless = SOURCE_DEFINITIONS.find((d) => d.name === sourceName)?.capabilities.feeds.length === 0;
  if (feedless && (settings.feed.origin === 'flag' || settings.feed.origin === 'environment')) {
    renderer.notice('warning', `${settings.feed.where} ${settings.feed.value} is ignored: source ${sourceName} has no feeds`);
  }
  const pipeline = new IngestionPipeline({ ...optionsFromSettings(settings), source: flags.source, env: ctx.env });
  const detach = renderer.attach(pipeline);
  try {
    const options: IngestOptions = {
      data,
      start: flags.start,
      end: flags.end,
      timeframe: data === 'bars' ? settings.timeframe.value : undefined,
      dataset: flags.dataset,
      indexName: flags.indexName,
      refetch: flags.refetch,
      corporateActions: flags.actions,
      skipInvalid: flags.skipInvalid,
      partition: flags.partition as IngestOptions['partition'],
      signal: ctx.signal,
    };
    if (flags.dryRun) {
      renderer.dryRun(await (input.kind === 'csv' ? pipeline.planFromCsv(input.file, { ...options, column: input.column }) : input.kind === 'file' ? pipeline.planFromTextFile(input.file, options) : pipeline.plan(input.symbols, options)));
      return ExitCode.ok;
    }
    const result = await (input.kind === 'csv' ? pipeline.ingestFromCsv(input.file, { ...options, column: input.column }) : input.kind === 'file' ? pipeline.ingestFromTextFile(input.file, options) : pipeline.ingestSymbols(input.symbols, options));
    const exitCode = exitCodeOf(result, ctx.interruptedWith());
    renderer.finish(result, exitCode);
    return exitCode;
  } finally {
    detach();
  }
}
