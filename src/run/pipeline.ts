/**
 * One ingest run: check the source's credentials, lock the lake, clean leftovers, claim the
 * dataset's provenance, plan against the ledger, run the units, and summarize. `planIngest` makes
 * the same plan without a request or a write.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { checkProvenance, claimDataset, type DatasetMeta, readDatasetMeta } from '../lake/dataset-meta.js';
import { openDuckDB } from '../lake/duck.js';
import { Ledger } from '../lake/ledger.js';
import { PartitionWriter } from '../lake/partition-writer.js';
import { BARS_SCHEMA } from '../lake/schema.js';
import { CircuitBreaker } from '../net/circuit-breaker.js';
import type { RetryPolicy } from '../net/retry.js';
import { estimateRequests, plan, type Plan } from '../plan/planner.js';
import { nyseRuleCalendar } from '../shared/calendar.js';
import { CannotProceedError, InterruptedError, UsageError } from '../shared/errors.js';
import type { Interval } from '../shared/intervals.js';
import { type PartitionScheme, stagingRoot } from '../shared/lake-paths.js';
import type { IsoDate } from '../shared/time.js';
import { isIntraday, type Timeframe } from '../shared/timeframe.js';
import type { SourceCapabilities, SourceDefinition } from '../sources/types.js';
import type { EventBus, IngestResult, PlanReport } from './events.js';
import { RunLock } from './lock.js';
import { cachedReferenceData, loadReferenceData, type ReferenceData } from './reference-data.js';
import { UnitRunner } from './unit-runner.js';

export interface IngestRunOptions {
  storage: string;
  dataset: string;
  source: SourceDefinition;
  env: Readonly<Record<string, string | undefined>>;
  timeframe: Timeframe;
  feed: string | undefined;
  adjustment: string | undefined;
  symbols: readonly string[];
  /** The first date wanted: asked for (`explicitStart`), or the default for symbols new to the lake. */
  startDate: IsoDate;
  explicitStart: boolean;
  /** Exclusive end instant. */
  endInstant: number;
  lookbackSessions: number;
  refetch: boolean;
  /** The layout of a dataset this run creates; undefined: by timeframe (daily and longer bars yearly). */
  partition: PartitionScheme | undefined;
  threads: number;
  /** Requests per minute; the source's default when undefined. */
  rateLimitPerMinute: number | undefined;
  retry: RetryPolicy;
  circuitBreakerFailures: number;
  signal: AbortSignal;
  events: EventBus;
}

export async function prepareStorage(storage: string): Promise<void> {
  try {
    const stat = await fs.stat(storage).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    if (stat && !stat.isDirectory()) throw new CannotProceedError(`storage path ${storage} is a file, not a directory; choose another storage directory`);
    await fs.mkdir(storage, { recursive: true });
    const probe = path.join(storage, `.write-probe.${process.pid}`);
    await fs.writeFile(probe, '');
    await fs.rm(probe);
  } catch (error) {
    if (error instanceof CannotProceedError) throw error;
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new CannotProceedError(`storage path ${storage} is not writable (${code}); fix its permissions or choose another storage directory`);
  }
}

/** Options the source cannot serve are the caller's mistake: say which values it accepts. */
export function checkAgainstCapabilities(capabilities: SourceCapabilities, sourceName: string, options: Pick<IngestRunOptions, 'timeframe' | 'feed' | 'adjustment'>): void {
  if (!capabilities.kinds.includes('bars') || !capabilities.supportsTimeframe(options.timeframe)) {
    throw new UsageError(`source ${sourceName} has no ${options.timeframe.api} bars; choose another timeframe or source`);
  }
  const check = (what: 'feed' | 'adjustment', value: string | undefined, offered: readonly string[]): void => {
    if (value === undefined) return;
    if (offered.length === 0) throw new UsageError(`source ${sourceName} has no ${what} choice; leave ${what} unset`);
    if (!offered.includes(value)) throw new UsageError(`source ${sourceName} has no ${what} ${JSON.stringify(value)}; use ${offered.join(', ')}`);
  };
  check('feed', options.feed, capabilities.feeds);
  check('adjustment', options.adjustment, capabilities.adjustments);
}

/** Daily and longer bars are ~250 rows a symbol-year: one file per year, not twelve of ~21 rows. */
export function defaultPartition(timeframe: Timeframe): PartitionScheme {
  return isIntraday(timeframe) ? 'month' : 'year';
}

/** The requests per minute the run is held to; undefined for a source that makes no requests. */
function rateLimitOf(options: IngestRunOptions): number | undefined {
  const sourceDefault = options.source.capabilities.defaultRateLimitPerMinute;
  return sourceDefault === undefined ? undefined : (options.rateLimitPerMinute ?? sourceDefault);
}

interface PlannedRun {
  work: Plan;
  report: PlanReport;
  notListed: Set<string>;
  inactive: Set<string>;
}

async function planAgainst(options: IngestRunOptions, ledger: Ledger, reference: ReferenceData): Promise<PlannedRun> {
  const { listings } = reference;
  const notListed = new Set(listings ? options.symbols.filter((s) => !listings.has(s)) : []);
  const inactive = new Set(listings ? options.symbols.filter((s) => listings.get(s) === 'inactive') : []);
  const symbols = options.symbols.filter((s) => !notListed.has(s));
  const covered = new Map<string, Interval[]>();
  for (const symbol of symbols) covered.set(symbol, await ledger.trustedCoverage(symbol));
  const { capabilities } = options.source;
  const work = plan({
    symbols,
    timeframe: options.timeframe,
    calendar: reference.calendar ?? nyseRuleCalendar,
    startDate: options.startDate,
    explicitStart: options.explicitStart,
    endInstant: options.endInstant,
    covered,
    lookbackSessions: options.lookbackSessions,
    refetch: options.refetch,
    threads: options.threads,
    pageRows: capabilities.pageRows,
    maxSymbolsPerRequest: capabilities.maxSymbolsPerRequest,
  });
  const rateLimit = rateLimitOf(options);
  // A source that makes no requests (generated data) costs none.
  const estimatedRequests = rateLimit === undefined ? 0 : work.units.reduce((n, u) => n + estimateRequests(u, capabilities.pageRows), 0);
  const report: PlanReport = {
    dataset: options.dataset,
    source: options.source.name,
    timeframe: options.timeframe.api,
    symbols: options.symbols.length,
    upToDate: work.upToDate,
    notListed: [...notListed],
    units: work.units.length,
    estimatedBars: work.units.reduce((n, u) => n + u.estimatedBars, 0),
    estimatedRequests,
    estimatedRequestTimeMs: rateLimit === undefined ? 0 : Math.round((estimatedRequests / rateLimit) * 60_000),
    rateLimitPerMinute: rateLimit,
    work: work.units,
  };
  return { work, report, notListed, inactive };
}

/** What this run would record for its dataset. */
function wantedDataset(options: IngestRunOptions, synthetic: boolean): Omit<DatasetMeta, 'created_at'> {
  return {
    dataset: options.dataset,
    kind: 'bars',
    timeframe: options.timeframe.api,
    source: options.source.name,
    synthetic,
    feed: options.feed ?? null,
    adjustment: options.adjustment ?? null,
    partition: options.partition ?? defaultPartition(options.timeframe),
  };
}

/** The plan a run would make now, from the ledger and cached reference data: no request, no write, no lock. */
export async function planIngest(options: IngestRunOptions): Promise<PlanReport> {
  checkAgainstCapabilities(options.source.capabilities, options.source.name, options);
  // The same refusals as a real run, read-only.
  const existing = await readDatasetMeta(options.storage, options.dataset);
  if (existing) checkProvenance(existing, wantedDataset(options, options.source.capabilities.synthetic), options.partition !== undefined);
  const ledger = await Ledger.load(options.storage, options.dataset);
  const reference = await cachedReferenceData(options.storage, options.source.name);
  return (await planAgainst(options, ledger, reference)).report;
}

export async function ingest(options: IngestRunOptions): Promise<IngestResult> {
  const started = Date.now();
  const { storage, dataset, events, signal } = options;
  checkAgainstCapabilities(options.source.capabilities, options.source.name, options);
  if (signal.aborted) throw new InterruptedError();
  const breaker = new CircuitBreaker(options.circuitBreakerFailures);
  const rateLimitPerMinute = rateLimitOf(options) ?? Number.POSITIVE_INFINITY;
  // Credentials are checked before anything is locked or written.
  const source = options.source.create({
    env: options.env,
    rateLimitPerMinute,
    retry: options.retry,
    breaker,
    onRequest: (request) => events.emit('request', request),
  });
  await prepareStorage(storage);
  const lock = await RunLock.acquire(storage);
  const duck = await openDuckDB();
  const runStaging = path.join(stagingRoot(storage), `run-${process.pid}-${started}`);
  try {
    // Leftovers of a crashed run: safe to delete, we hold the lock.
    await fs.rm(stagingRoot(storage), { recursive: true, force: true });
    await fs.mkdir(runStaging, { recursive: true });
    // Reference data first: rejected credentials stop the run before the dataset is claimed.
    const reference = await loadReferenceData(source, storage, signal, events).catch((error: unknown) => {
      throw signal.aborted ? new InterruptedError('interrupted while loading the calendar and symbol list; nothing was fetched') : error;
    });
    const meta = await claimDataset(storage, wantedDataset(options, source.capabilities.synthetic), options.partition !== undefined);
    const ledger = await Ledger.load(storage, dataset);
    const planned = await planAgainst(options, ledger, reference);
    for (const symbol of options.symbols) {
      if (!reference.listings?.has(symbol)) continue;
      ledger.markInactive(symbol, planned.inactive.has(symbol));
    }
    for (const symbol of planned.notListed) events.emit('warning', { message: `${symbol}: not listed by ${source.name}; skipped without a request` });
    events.emit('planned', planned.report);
    const writer = await PartitionWriter.open(duck, BARS_SCHEMA, meta.partition, storage, dataset);
    const runner = new UnitRunner(
      {
        source,
        timeframe: options.timeframe,
        feed: options.feed,
        adjustment: options.adjustment,
        threads: options.threads,
        breaker,
        signal,
        events,
        staging: runStaging,
        ledger,
        writer,
        estimatedRequests: planned.report.estimatedRequests,
        estimatedBars: planned.report.estimatedBars,
        symbolsTotal: options.symbols.length,
        symbolsDone: planned.report.upToDate.length + planned.notListed.size,
      },
      planned.work.units,
    );
    try {
      await runner.execute();
    } finally {
      writer.close();
      // Whatever was committed is recorded, however the run ended.
      await ledger.save();
    }
    return {
      dataset,
      source: source.name,
      feed: options.feed,
      adjustment: options.adjustment,
      timeframe: options.timeframe.api,
      storage,
      durationMs: Date.now() - started,
      ...runner.summarize({ requested: options.symbols, upToDate: planned.work.upToDate, notListed: planned.notListed, inactive: planned.inactive }),
    };
  } finally {
    await fs.rm(runStaging, { recursive: true, force: true }).catch(() => undefined);
    // A finished run leaves no staging area behind (rmdir fails harmlessly if anything is left).
    await fs.rmdir(stagingRoot(storage)).catch(() => undefined);
    duck.closeSync();
    await lock.release();
  }
}
