/**
 * The library's entry point: `new IngestionPipeline(options)` (or `fromSettings`), then
 * `ingestSymbols`, `ingestFromCsv`, `ingestFromTextFile` or `plan`, with typed events on the way
 * and a typed result at the end. It never prints, exits or reads the command line.
 */
import path from 'node:path';
import { defaultConfigPath, detectOs, resolveSettings, type Settings } from '../config/settings.js';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from '../net/retry.js';
import { resolveDates } from '../plan/dates.js';
import { UsageError } from '../shared/errors.js';
import { isValidDatasetName, PARTITION_SCHEMES, type PartitionScheme } from '../shared/lake-paths.js';
import { nyDateOf } from '../shared/time.js';
import { defaultDatasetName, parseTimeframe, TIMEFRAME_HELP } from '../shared/timeframe.js';
import { DATA_KINDS, type DataKind, isTickKind } from '../lake/schema.js';
import { DEFAULT_SOURCE, sourceDefinition } from '../sources/registry.js';
import type { SourceDefinition } from '../sources/types.js';
import { INDEX_NAME, updateIndexMembership } from '../universe/index-membership.js';
import { indexNameFromFile, readCsvList, readTextList } from '../universe/lists.js';
import { normalizeList, type SymbolEntry } from '../universe/symbols.js';
import { EventBus, type IngestResult, type PipelineEventName, type PipelineListener, type PlanReport } from './events.js';
import { lakeStatus, queryLake, verifyLake, type InspectOptions, type QueryResult, type StatusReport, type VerifyResult } from './lake-inspection.js';
import { ingest, type IngestRunOptions, planIngest, type RunOptionsBase } from './pipeline.js';
import { ingestTicks, planTicks, type TickRunOptions } from './tick-pipeline.js';
import { repartitionDataset, type RepartitionResult } from './repartition.js';

export interface PipelineOptions {
  /** The lake's directory. Default `./data`. */
  storageDir?: string;
  /** A registered source's name (`SOURCE_NAMES`); default `DEFAULT_SOURCE`. */
  source?: string;
  /** Units of work in flight. Default 8. */
  threads?: number;
  /** Requests per minute shared by all workers. Default: the source's free plan. */
  rateLimitPerMinute?: number;
  /** Attempts per request before its unit fails. Default 6. */
  maxAttempts?: number;
  requestTimeoutSeconds?: number;
  retryBaseDelayMs?: number;
  /** Consecutive failed requests that stop the run; 0 = never. Default 10. */
  circuitBreakerFailures?: number;
  /** Sessions re-fetched before a symbol's covered end in incremental runs. Default 2. */
  lookbackSessions?: number;
  /** Where the source has them; default the source's first. */
  feed?: string;
  adjustment?: string;
  /** First New York date for symbols new to the lake. Default 2016-01-01. */
  defaultStart?: string;
  /** Timeframe when a call names none. Default 1Day. */
  defaultTimeframe?: string;
  /** Where the source's credentials and host overrides come from (its `capabilities.environment`). Default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
}

export interface IngestOptions {
  /** What to fetch: `bars` (default), `trades` or `quotes`. Ticks take no timeframe, adjustment or partition. */
  data?: DataKind;
  /** First New York trading date, inclusive (YYYY-MM-DD). Without it each stored symbol continues from its own history. */
  start?: string;
  /** Last New York trading date, inclusive. Default: as recent as the source allows. */
  end?: string;
  timeframe?: string;
  /** Dataset directory. Default `equities_<timeframe>`, `equities_trades` or `equities_quotes`. */
  dataset?: string;
  /** Record the list's membership in `metadata/indices/<indexName>.csv`. */
  indexName?: string;
  /** Fetch the whole range even where the lake has it. */
  refetch?: boolean;
  /** Refresh the symbols' corporate actions after the bars, where the source lists them. Default true. */
  corporateActions?: boolean;
  /** Layout of a dataset this call creates: `month` or `year` files per symbol. Default: yearly for daily and longer bars. */
  partition?: 'month' | 'year';
  /** Skip invalid symbols with a warning instead of throwing UsageError. */
  skipInvalid?: boolean;
  /** Abort to stop: no new work starts, requests in flight stop, commits in flight finish. */
  signal?: AbortSignal;
}

export interface CsvIngestOptions extends IngestOptions {
  /** The column holding symbols. Default: the one headed Symbol or Ticker. */
  column?: string;
}

function checkPartition(value: string | undefined): PartitionScheme | undefined {
  if (value === undefined || (PARTITION_SCHEMES as readonly string[]).includes(value)) return value as PartitionScheme | undefined;
  throw new UsageError(`unknown partition ${JSON.stringify(value)}; use ${PARTITION_SCHEMES.join(' or ')}`);
}

/** Numeric options take the same ranges as their settings keys. */
const NUMBER_RANGES: [keyof PipelineOptions, number, number][] = [
  ['threads', 1, 64],
  ['rateLimitPerMinute', 1, 100_000],
  ['maxAttempts', 1, 20],
  ['requestTimeoutSeconds', 1, 600],
  ['retryBaseDelayMs', 1, 60_000],
  ['circuitBreakerFailures', 0, 1000],
  ['lookbackSessions', 0, 50],
];

function checkNumbers(options: PipelineOptions): void {
  for (const [name, min, max] of NUMBER_RANGES) {
    const value = options[name];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      throw new UsageError(`${name} ${JSON.stringify(value)} is invalid; use a whole number from ${min} to ${max}`);
    }
  }
}

const DEFAULTS = { storageDir: './data', source: DEFAULT_SOURCE, threads: 8, maxAttempts: 6, circuitBreakerFailures: 10, lookbackSessions: 2, defaultStart: '2016-01-01', defaultTimeframe: '1Day' };

/** Pipeline options from resolved settings (values the settings leave to the source stay unset). */
export function optionsFromSettings(settings: Settings): PipelineOptions {
  return {
    storageDir: settings.local_storage_dir.value,
    threads: settings.api_threads.value,
    rateLimitPerMinute: settings.rate_limit_per_minute.value,
    maxAttempts: settings.max_attempts.value,
    requestTimeoutSeconds: settings.request_timeout_seconds.value,
    retryBaseDelayMs: settings.retry_base_delay_ms.value,
    circuitBreakerFailures: settings.circuit_breaker_failures.value,
    lookbackSessions: settings.lookback_sessions.value,
    feed: settings.feed.value,
    adjustment: settings.adjustment.value,
    defaultStart: settings.start.value,
    defaultTimeframe: settings.timeframe.value,
  };
}

function planRun(run: IngestRunOptions | TickRunOptions): Promise<PlanReport> {
  return run.kind === 'bars' ? planIngest(run) : planTicks(run);
}

export class IngestionPipeline {
  private readonly events = new EventBus();
  private readonly source: SourceDefinition;

  /** What reading the settings warned about (an unknown DATA_ENGINE_* variable), told the first run's `warning` listeners. */
  private settingsWarnings: string[] = [];

  constructor(readonly options: PipelineOptions = {}) {
    this.source = sourceDefinition(options.source ?? DEFAULTS.source);
    checkNumbers(options);
  }

  /**
   * Options from a settings file (default `./settings.ini`, if present) and `DATA_ENGINE_<KEY>`
   * variables, with `overrides` on top. Settings are read only when asked for, here.
   */
  static fromSettings(configPath?: string, overrides: PipelineOptions = {}): IngestionPipeline {
    const env = overrides.env ?? process.env;
    const { settings, warnings } = resolveSettings({ configPath: configPath ? path.resolve(configPath) : defaultConfigPath(), configExplicit: configPath !== undefined, env, flags: {}, osName: detectOs() });
    const fromFile = optionsFromSettings(settings);
    const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
    const pipeline = new IngestionPipeline({ ...fromFile, ...defined });
    // No listener exists yet: the first run or plan tells them.
    pipeline.settingsWarnings = [...warnings];
    return pipeline;
  }

  get storageDir(): string {
    return path.resolve(this.options.storageDir ?? DEFAULTS.storageDir);
  }

  /** Subscribe to run events; returns a function that unsubscribes. */
  on<K extends PipelineEventName>(name: K, listener: PipelineListener<K>): () => void {
    return this.events.on(name, listener);
  }

  async ingestSymbols(symbols: readonly string[], options: IngestOptions = {}): Promise<IngestResult> {
    return this.run(symbols.map((raw, i) => ({ raw, line: i + 1 })), 'symbols', options, undefined);
  }

  async ingestFromCsv(file: string, options: CsvIngestOptions = {}): Promise<IngestResult> {
    return this.run(readCsvList(file, options.column), file, options, indexNameFromFile(file));
  }

  async ingestFromTextFile(file: string, options: IngestOptions = {}): Promise<IngestResult> {
    return this.run(readTextList(file), file, options, indexNameFromFile(file));
  }

  /** What `ingestSymbols` would fetch now, and what it would cost: no request, no write. */
  async plan(symbols: readonly string[], options: IngestOptions = {}): Promise<PlanReport> {
    return planRun(this.runOptions(symbols.map((raw, i) => ({ raw, line: i + 1 })), 'symbols', options));
  }

  async planFromCsv(file: string, options: CsvIngestOptions = {}): Promise<PlanReport> {
    return planRun(this.runOptions(readCsvList(file, options.column), file, options));
  }

  async planFromTextFile(file: string, options: IngestOptions = {}): Promise<PlanReport> {
    return planRun(this.runOptions(readTextList(file), file, options));
  }

  status(options: InspectOptions = {}): Promise<StatusReport> {
    return lakeStatus(this.storageDir, options);
  }

  verify(options: InspectOptions = {}): Promise<VerifyResult> {
    return verifyLake(this.storageDir, options);
  }

  query(sql: string): Promise<QueryResult> {
    return queryLake(this.storageDir, sql);
  }

  /** Convert a dataset's files to one per symbol-month or symbol-year, crash-safely, under the run lock. */
  repartition(dataset: string, partition: 'month' | 'year'): Promise<RepartitionResult> {
    if (!isValidDatasetName(dataset)) throw new UsageError(`invalid dataset name ${JSON.stringify(dataset)}; use lower-case letters, digits, "_" and "-"`);
    const scheme = checkPartition(partition);
    if (scheme === undefined) throw new UsageError('repartition needs a partition layout: month or year');
    return repartitionDataset(this.storageDir, dataset, scheme);
  }

  private async run(entries: readonly SymbolEntry[], origin: string, options: IngestOptions, listIndexName: string | undefined): Promise<IngestResult> {
    const indexName = options.indexName ?? listIndexName;
    if (indexName !== undefined && !INDEX_NAME.test(indexName)) throw new UsageError(`invalid index name ${JSON.stringify(indexName)}; use letters, digits, "_" and "-"`);
    const run = this.runOptions(entries, origin, options);
    const result = await (run.kind === 'bars' ? ingest(run) : ingestTicks(run));
    if (indexName !== undefined && result.stopped?.kind !== 'credentials' && result.stopped?.kind !== 'plan') {
      await updateIndexMembership(run.storage, indexName, run.symbols, nyDateOf(Date.now()), new Set(result.inactive));
    }
    return result;
  }

  /** Validate everything about a call before any request or write; bad input throws UsageError. */
  private runOptions(entries: readonly SymbolEntry[], origin: string, options: Omit<IngestOptions, 'indexName'>): IngestRunOptions | TickRunOptions {
    for (const message of this.settingsWarnings.splice(0)) this.events.emit('warning', { message });
    const o = this.options;
    const kind = options.data ?? 'bars';
    if (!(DATA_KINDS as readonly string[]).includes(kind)) throw new UsageError(`unknown data ${JSON.stringify(kind)}; use ${DATA_KINDS.join(', ')}`);
    if (isTickKind(kind)) {
      if (options.timeframe !== undefined) throw new UsageError(`${kind} have no timeframe; leave timeframe out, or use data bars`);
      if (options.partition !== undefined) throw new UsageError(`${kind} are stored one file per symbol and day; leave partition out`);
    }
    const timeframeName = options.timeframe ?? o.defaultTimeframe ?? DEFAULTS.defaultTimeframe;
    const timeframe = parseTimeframe(timeframeName);
    if (!timeframe) throw new UsageError(`unknown timeframe ${JSON.stringify(timeframeName)}; use ${TIMEFRAME_HELP}`);
    const dataset = options.dataset ?? (isTickKind(kind) ? `equities_${kind}` : defaultDatasetName(timeframe));
    if (!isValidDatasetName(dataset)) throw new UsageError(`invalid dataset name ${JSON.stringify(dataset)}; use lower-case letters, digits, "_" and "-"`);
    const symbols = this.symbolsOf(entries, origin, options.skipInvalid ?? false);
    const capabilities = this.source.capabilities;
    const dates = resolveDates(options.start ?? o.defaultStart ?? DEFAULTS.defaultStart, options.end, Date.now(), capabilities.recentDataDelayMs);
    for (const note of dates.notes) this.events.emit('warning', { message: note });
    const retry: RetryPolicy = {
      ...DEFAULT_RETRY_POLICY,
      maxAttempts: o.maxAttempts ?? DEFAULTS.maxAttempts,
      timeoutMs: (o.requestTimeoutSeconds ?? DEFAULT_RETRY_POLICY.timeoutMs / 1000) * 1000,
      baseDelayMs: o.retryBaseDelayMs ?? DEFAULT_RETRY_POLICY.baseDelayMs,
    };
    const base: RunOptionsBase = {
      storage: this.storageDir,
      dataset,
      source: this.source,
      env: o.env ?? process.env,
      // A source without feeds ignores them; one with them gets its default when unset.
      feed: capabilities.feeds.length === 0 ? undefined : (o.feed ?? capabilities.feeds[0]),
      symbols,
      startDate: dates.startDate,
      explicitStart: options.start !== undefined,
      endInstant: dates.endInstant,
      lookbackSessions: o.lookbackSessions ?? DEFAULTS.lookbackSessions,
      refetch: options.refetch ?? false,
      threads: o.threads ?? DEFAULTS.threads,
      rateLimitPerMinute: o.rateLimitPerMinute,
      retry,
      circuitBreakerFailures: o.circuitBreakerFailures ?? DEFAULTS.circuitBreakerFailures,
      signal: options.signal ?? new AbortController().signal,
      events: this.events,
    };
    // Trades and quotes are never adjusted: the pipeline's adjustment is for bars.
    if (isTickKind(kind)) return { ...base, kind };
    return {
      ...base,
      kind,
      timeframe,
      adjustment: capabilities.adjustments.length === 0 ? undefined : (o.adjustment ?? capabilities.adjustments[0]),
      corporateActions: options.corporateActions ?? true,
      partition: checkPartition(options.partition),
    };
  }

  private symbolsOf(entries: readonly SymbolEntry[], origin: string, skipInvalid: boolean): string[] {
    const list = normalizeList(entries);
    if (list.invalid.length > 0) {
      const described = list.invalid.map((i) => `${origin}:${i.line} ${JSON.stringify(i.raw)} (${i.reason})`).join('; ');
      if (!skipInvalid) throw new UsageError(`invalid symbols, nothing was fetched: ${described}. Fix them, or skip them (--skip-invalid)`);
      this.events.emit('warning', { message: `skipping ${list.invalid.length} invalid symbol(s): ${described}` });
    }
    if (list.duplicates.length > 0) this.events.emit('warning', { message: `ignoring repeated symbol(s): ${list.duplicates.join(', ')}` });
    if (list.symbols.length === 0) throw new UsageError(`${origin} holds no valid symbols; add at least one`);
    return list.symbols;
  }
}
