/**
 * One ingest run: check the source's credentials, lock the lake, clean leftovers, claim the
 * dataset's provenance, plan against the ledger, run the units, and summarize. `planIngest` makes
 * the same plan without a request or a write.
 */
import { checkProvenance, claimDataset, type DatasetMeta, readDatasetMeta, removeDatasetMeta } from '../lake/dataset-meta.js';
import { openDuckDB } from '../lake/duck.js';
import { Ledger } from '../lake/ledger.js';
import { hasFileBelow } from '../lake/reader.js';
import { PartitionWriter } from '../lake/partition-writer.js';
import { BARS_SCHEMA } from '../lake/schema.js';
import type { RetryPolicy } from '../net/retry.js';
import { fewestRequests, plan, type Plan, type PlanRequest, planRequests, planSessions, staleSessions } from '../plan/planner.js';
import { fromListedDates, nyseRuleCalendar, type TradingCalendar } from '../shared/calendar.js';
import { InterruptedError, UsageError } from '../shared/errors.js';
import type { Interval } from '../shared/intervals.js';
import { datasetDir, type PartitionScheme } from '../shared/lake-paths.js';
import { addDays, type IsoDate, nyDateOf, nyMidnightUtc } from '../shared/time.js';
import { isIntraday, type Timeframe } from '../shared/timeframe.js';
import type { SessionData, Source, SourceCapabilities, SourceDefinition } from '../sources/types.js';
import type { EventBus, IngestResult, PlanReport } from './events.js';
import { barUnits } from './bar-units.js';
import { readjustments, refreshCorporateActions } from './corporate-actions.js';
import { cachedReferenceData, loadReferenceData, type ReferenceData } from './reference-data.js';
import { rateLimitOf, type RunSession, withRunSession } from './run-session.js';
import { type UnitExecutor, UnitRunner } from './unit-runner.js';

/** What every run needs, whatever the data kind. */
export interface RunOptionsBase {
  storage: string;
  dataset: string;
  source: SourceDefinition;
  env: Readonly<Record<string, string | undefined>>;
  feed: string | undefined;
  symbols: readonly string[];
  /** The first date wanted: asked for (`explicitStart`), or the default for symbols new to the lake. */
  startDate: IsoDate;
  explicitStart: boolean;
  /** Exclusive end instant. */
  endInstant: number;
  lookbackSessions: number;
  refetch: boolean;
  threads: number;
  /** Requests per minute; the source's default when undefined. */
  rateLimitPerMinute: number | undefined;
  retry: RetryPolicy;
  circuitBreakerFailures: number;
  signal: AbortSignal;
  events: EventBus;
}

export interface IngestRunOptions extends RunOptionsBase {
  kind: 'bars';
  timeframe: Timeframe;
  adjustment: string | undefined;
  /** Refresh the symbols' corporate actions after the bars. */
  corporateActions: boolean;
  /** The layout of a dataset this run creates; undefined: by timeframe (daily and longer bars yearly). */
  partition: PartitionScheme | undefined;
}

/** Options the source cannot serve are the caller's mistake: say which values it accepts. */
export function checkAgainstCapabilities(capabilities: SourceCapabilities, sourceName: string, options: Pick<IngestRunOptions, 'timeframe' | 'feed' | 'adjustment'>): void {
  if (!capabilities.kinds.includes('bars') || !capabilities.supportsTimeframe(options.timeframe)) {
    const choices = capabilities.timeframeChoices ? `use --timeframe ${capabilities.timeframeChoices.join(' or ')}` : 'choose another timeframe';
    throw new UsageError(`source ${sourceName} has no ${options.timeframe.api} bars; ${choices}, or another source`);
  }
  checkChoice(sourceName, 'feed', options.feed, capabilities.feeds);
  checkChoice(sourceName, 'adjustment', options.adjustment, capabilities.adjustments);
}

/** A feed or adjustment must be one the source offers. */
export function checkChoice(sourceName: string, what: 'feed' | 'adjustment', value: string | undefined, offered: readonly string[]): void {
  if (value === undefined) return;
  if (offered.length === 0) throw new UsageError(`source ${sourceName} has no ${what} choice; leave ${what} unset`);
  if (!offered.includes(value)) throw new UsageError(`source ${sourceName} has no ${what} ${JSON.stringify(value)}; use ${offered.join(', ')}`);
}

/** Requested symbols the source does not list (skipped) or lists as inactive (fetched all the same). */
function listingsOf(symbols: readonly string[], reference: ReferenceData): { notListed: Set<string>; inactive: Set<string> } {
  const { listings } = reference;
  return {
    notListed: new Set(listings ? symbols.filter((s) => !listings.has(s)) : []),
    inactive: new Set(listings ? symbols.filter((s) => listings.get(s) === 'inactive') : []),
  };
}

/** Daily and longer bars are ~250 rows a symbol-year: one file per year, not twelve of ~21 rows. */
export function defaultPartition(timeframe: Timeframe): PartitionScheme {
  return isIntraday(timeframe) ? 'month' : 'year';
}

export interface PlannedRun {
  work: Plan;
  report: PlanReport;
  notListed: Set<string>;
  inactive: Set<string>;
}

/** The session files a versioned source holds for the run's range, and their versions. */
export interface ListedSessions {
  from: IsoDate;
  to: IsoDate;
  versions: Map<IsoDate, string>;
}

/** Ask a versioned source which sessions of the data it holds from the earliest date the run may need. */
export async function listSessions(
  source: Source,
  data: SessionData,
  options: Pick<RunOptionsBase, 'symbols' | 'startDate' | 'explicitStart' | 'endInstant' | 'signal'>,
  ledger: Ledger,
): Promise<ListedSessions | undefined> {
  if (!source.listSessionVersions) return undefined;
  // Every day the dataset holds (a republished one is fetched again for all its holders, whichever
  // symbols the run names), and the start where the plan wants it: asked for, or for a symbol with
  // no trusted history (a held one continues from its own).
  const held = ledger.earliestCovered();
  let from: IsoDate | undefined = held === undefined ? undefined : nyDateOf(held);
  let fromStart = options.explicitStart;
  for (const symbol of options.symbols) if (!fromStart && !(await ledger.hasTrustedCoverage(symbol))) fromStart = true;
  if (fromStart && (from === undefined || options.startDate < from)) from = options.startDate;
  const to = nyDateOf(options.endInstant - 1);
  if (from === undefined || to < from) return undefined;
  return { from, to, versions: await source.listSessionVersions(from, to, data, options.signal) };
}

/**
 * What a listing means for a plan: only the sessions the provider has published exist, nothing after
 * the newest one is covered, and the sessions whose stored data is not the listed version are fetched again.
 */
function listedCalendar(listed: ListedSessions, endInstant: number, ledger: Ledger): { calendar: TradingCalendar; endInstant: number; refresh: Map<string, IsoDate[]> } {
  const newest = [...listed.versions.keys()].sort().pop();
  return {
    calendar: fromListedDates(listed.versions.keys(), listed.from, listed.to),
    endInstant: Math.min(endInstant, nyMidnightUtc(newest === undefined ? listed.from : addDays(newest, 1))),
    refresh: staleSessions(listed.versions, (date) => ledger.sessionVersion(date), (date) => ledger.symbolsCovering(nyMidnightUtc(date))),
  };
}

/**
 * What every plan starts from: the symbols the source lists, what the ledger trusts they hold, and
 * the calendar (a versioned source's listing when there is one, else the reference data's).
 */
export async function planInputs(options: RunOptionsBase, ledger: Ledger, reference: ReferenceData, listed: ListedSessions | undefined) {
  const { notListed, inactive } = listingsOf(options.symbols, reference);
  const symbols = options.symbols.filter((s) => !notListed.has(s));
  const covered = new Map<string, Interval[]>();
  for (const symbol of symbols) covered.set(symbol, await ledger.trustedCoverage(symbol));
  const dates = listed ? listedCalendar(listed, options.endInstant, ledger) : { calendar: reference.calendar ?? nyseRuleCalendar, endInstant: options.endInstant, refresh: undefined };
  if (dates.refresh && dates.refresh.size > 0) {
    // Symbols the run did not name may be rewritten: say why, as the summary only lists the named ones.
    const days = [...new Set([...dates.refresh.values()].flat())].sort();
    const shown = days.length > 5 ? `${days.slice(0, 5).join(', ')}, …` : days.join(', ');
    options.events.emit('info', {
      message: `${days.length} session file(s) changed since they were ingested (${shown}): fetched again for the ${dates.refresh.size} symbol(s) of the dataset holding them`,
    });
  }
  return { notListed, inactive, symbols, covered, ...dates };
}

/** A plan's report; `requests` as the kind's planner counts them (none for a source that makes no requests). */
export function planReport(
  options: RunOptionsBase,
  work: Plan,
  notListed: ReadonlySet<string>,
  requests: number,
  kindFields: Pick<PlanReport, 'kind' | 'timeframe' | 'estimatedBars' | 'readjust' | 'dayFiles'>,
): PlanReport {
  const rateLimit = rateLimitOf(options);
  const estimatedRequests = rateLimit === undefined ? 0 : requests;
  return {
    dataset: options.dataset,
    source: options.source.name,
    symbols: options.symbols.length,
    upToDate: work.upToDate,
    notListed: [...notListed],
    units: work.units.length,
    estimatedRequests,
    estimatedRequestTimeMs: rateLimit === undefined ? 0 : Math.round((estimatedRequests / rateLimit) * 60_000),
    rateLimitPerMinute: rateLimit,
    work: work.units,
    ...kindFields,
  };
}

async function planAgainst(options: IngestRunOptions, ledger: Ledger, reference: ReferenceData, scheme: PartitionScheme, listed: ListedSessions | undefined, readjust: ReadonlySet<string> = new Set()): Promise<PlannedRun> {
  const { notListed, inactive, symbols, covered, calendar, endInstant, refresh } = await planInputs(options, ledger, reference, listed);
  const { capabilities } = options.source;
  const request: PlanRequest = {
    symbols,
    timeframe: options.timeframe,
    calendar,
    startDate: options.startDate,
    explicitStart: options.explicitStart,
    endInstant,
    covered,
    // Versioned sessions need no correction window: a corrected file has a new version.
    lookbackSessions: listed ? 0 : options.lookbackSessions,
    refetch: options.refetch,
    refetchSymbols: readjust,
    threads: options.threads,
    pageRows: capabilities.pageRows,
    countedPerSession: capabilities.countedRowsPerSession?.(options.timeframe),
    windowFitsOnePage: capabilities.windowFitsOnePage,
    maxSymbolsPerRequest: capabilities.maxSymbolsPerRequest,
  };
  const sessionRequests = capabilities.sessionRequests?.supportsTimeframe(options.timeframe) ? capabilities.sessionRequests : undefined;
  const sessionOptions = { scheme, versions: listed?.versions, refresh, maxSessionsPerUnit: sessionRequests?.maxSessionsPerUnit };
  const work = !sessionRequests ? plan(request) : sessionRequests.only ? planSessions(request, sessionOptions) : fewestRequests(request, sessionOptions);
  const report = planReport(options, work, notListed, planRequests(work), {
    kind: 'bars',
    timeframe: options.timeframe.api,
    estimatedBars: work.units.reduce((n, u) => n + u.estimatedBars, 0),
    readjust: [...readjust].filter((s) => !notListed.has(s)),
  });
  return { work, report, notListed, inactive };
}

/**
 * Announce a plan, run its units through the executor, and summarize. Whatever was committed is in
 * the ledger however the run ends; `close` releases the executor's writer first.
 */
export async function runPlan(
  options: RunOptionsBase,
  session: Pick<RunSession, 'source' | 'breaker' | 'staging'>,
  ledger: Ledger,
  reference: ReferenceData,
  planned: PlannedRun,
  execute: UnitExecutor,
  /** What progress is measured against (zero: by units only). */
  estimates: { estimatedRequests: number; estimatedBars: number },
  close: () => void,
): Promise<ReturnType<UnitRunner['summarize']>> {
  const { source } = session;
  for (const symbol of options.symbols) {
    if (!reference.listings?.has(symbol)) continue;
    ledger.markInactive(symbol, planned.inactive.has(symbol));
  }
  for (const symbol of planned.notListed) options.events.emit('warning', { message: `${symbol}: not listed by ${source.name}; skipped without a request` });
  options.events.emit('planned', planned.report);
  const runner = new UnitRunner(
    {
      source,
      execute,
      threads: options.threads,
      breaker: session.breaker,
      signal: options.signal,
      events: options.events,
      staging: session.staging,
      ledger,
      estimatedRequests: estimates.estimatedRequests,
      estimatedBars: estimates.estimatedBars,
      requested: new Set(options.symbols),
      symbolsDone: planned.report.upToDate.length + planned.notListed.size,
    },
    planned.work.units,
  );
  try {
    await runner.execute();
  } finally {
    close();
    // Whatever was committed is recorded, however the run ended.
    await ledger.save();
  }
  return runner.summarize({ requested: options.symbols, upToDate: planned.work.upToDate, notListed: planned.notListed, inactive: planned.inactive });
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

/** Bars adjusted by the provider, as of the request. */
function isProviderAdjusted(options: Pick<IngestRunOptions, 'adjustment'>): boolean {
  return options.adjustment !== undefined && options.adjustment !== 'raw';
}

/**
 * A dataset whose provenance this run recorded and that holds nothing afterwards — no window or
 * session version in the ledger, no file in its directory (the run could not proceed: keys rejected,
 * say) — is removed again, so it claims no source, feed or adjustment for the next run. The
 * provenance goes first: a crash in between leaves a ledger of nothing, which the next run reuses.
 */
export async function releaseIfEmpty(ledger: Ledger): Promise<void> {
  if (!ledger.holdsNothing() || (await hasFileBelow(datasetDir(ledger.storage, ledger.dataset)))) return;
  await removeDatasetMeta(ledger.storage, ledger.dataset);
  await ledger.discard();
}

/** The plan a run would make now, from the ledger and cached reference data: no request, no write, no lock. */
export async function planIngest(options: IngestRunOptions): Promise<PlanReport> {
  checkAgainstCapabilities(options.source.capabilities, options.source.name, options);
  // The same refusals as a real run, read-only.
  const existing = await readDatasetMeta(options.storage, options.dataset);
  if (existing) checkProvenance(existing, wantedDataset(options, options.source.capabilities.synthetic), options.partition !== undefined);
  const ledger = await Ledger.load(options.storage, options.dataset);
  const reference = await cachedReferenceData(options.storage, options.source.name);
  // Without a request, a versioned source's sessions are the rule calendar's.
  const scheme = existing?.partition ?? wantedDataset(options, options.source.capabilities.synthetic).partition;
  // Re-adjustments from the actions the lake already holds (a run refreshes them first).
  let readjust: string[] = [];
  if (isProviderAdjusted(options) && options.corporateActions) {
    const duck = await openDuckDB();
    try {
      readjust = await readjustments(duck, options.storage, options.source.name, ledger, options.symbols, options.adjustment!);
    } finally {
      duck.closeSync();
    }
  }
  return (await planAgainst(options, ledger, reference, scheme, undefined, new Set(readjust))).report;
}

/**
 * A bar run's DuckDB works in many small statements at once (a COPY per partition, several running):
 * each runs on its calling thread, as a worker pool per statement only added thread wake-ups
 * (~0.8 ms of a ~3 ms COPY here).
 */
const BAR_WRITER_THREADS = 1;

export async function ingest(options: IngestRunOptions): Promise<IngestResult> {
  checkAgainstCapabilities(options.source.capabilities, options.source.name, options);
  return withRunSession(options, { threads: BAR_WRITER_THREADS }, async ({ started, source, breaker, duck, staging: runStaging }) => {
    const { storage, dataset, events, signal } = options;
    const wanted = wantedDataset(options, source.capabilities.synthetic);
    // A dataset this run must not write to is refused before any request.
    const existing = await readDatasetMeta(storage, dataset);
    if (existing) checkProvenance(existing, wanted, options.partition !== undefined);
    // Reference data and listings next: rejected credentials stop the run before the dataset is claimed.
    const ledger = await Ledger.load(storage, dataset);
    const sessionRequests = source.capabilities.sessionRequests;
    const versioned = sessionRequests?.versioned && sessionRequests.supportsTimeframe(options.timeframe);
    const listing = versioned ? listSessions(source, { kind: 'bars', timeframe: options.timeframe }, options, ledger) : Promise.resolve(undefined);
    const [reference, listed] = await Promise.all([loadReferenceData(source, storage, signal, events), listing]).catch((error: unknown) => {
      throw signal.aborted ? new InterruptedError('interrupted while loading the calendar, symbol list or file list; nothing was fetched') : error;
    });
    const { meta, created } = await claimDataset(storage, wanted, options.partition !== undefined);
    // A provider-adjusted dataset: actions first, so the history fetched now is on their basis, and
    // symbols whose stored history predates a new one are fetched whole again.
    const providerAdjusted = isProviderAdjusted(options);
    const refreshActions = (wanted?: { from: IsoDate; to: IsoDate }): Promise<void> =>
      refreshCorporateActions({ source, storage, duck, ledger, symbols: options.symbols, staging: runStaging, signal, events, wanted });
    // Where each held symbol's history starts, before this run.
    const heldFrom = new Map<string, number>();
    for (const s of options.symbols) {
      const covered = ledger.get(s)?.covered;
      if (covered?.length) heldFrom.set(s, covered[0].start);
    }
    let readjust: string[] = [];
    if (providerAdjusted && options.corporateActions) {
      await refreshActions({ from: options.startDate, to: nyDateOf(options.endInstant - 1) });
      readjust = await readjustments(duck, storage, source.name, ledger, options.symbols, options.adjustment!).catch((error: unknown) => {
        events.emit('warning', { message: `could not read the corporate actions (${error instanceof Error ? error.message : String(error)}); no symbol is re-adjusted in this run` });
        return [];
      });

    }
    const historyAt = Date.now();
    const planned = await planAgainst(options, ledger, reference, meta.partition, listed, new Set(readjust));
    for (const symbol of planned.report.readjust) events.emit('info', { message: `${symbol}: a corporate action postdates its stored ${options.adjustment}-adjusted history; fetching it whole again` });
    const writer = await PartitionWriter.open(duck, BARS_SCHEMA, meta.partition, storage, dataset);
    const execute = barUnits({ source, timeframe: options.timeframe, feed: options.feed, adjustment: options.adjustment, writer });
    const outcome = await runPlan(options, { source, breaker, staging: runStaging }, ledger, reference, planned, execute, planned.report, () => writer.close());
    if (providerAdjusted) {
      // Whose whole history this run fetched, on one basis: symbols new to the dataset, and those re-adjusted.
      for (const r of outcome.symbols) {
        // A re-fetch that returned nothing replaced nothing: its old bars are still on the old basis.
        const from = heldFrom.get(r.symbol);
        const refetchedWhole = options.refetch && (!options.explicitStart || (from !== undefined && nyMidnightUtc(options.startDate) <= from));
        const fetchedWhole = from === undefined ? r.outcome === 'ok' || r.outcome === 'no_data' : (readjust.includes(r.symbol) || refetchedWhole) && r.outcome === 'ok';
        if (fetchedWhole) ledger.recordHistoryFetched(r.symbol, historyAt);
      }
      await ledger.save();
    } else if (options.corporateActions && !outcome.stopped) await refreshActions();
    if (created) await releaseIfEmpty(ledger);
    return {
      dataset,
      kind: 'bars',
      source: source.name,
      feed: options.feed,
      adjustment: options.adjustment,
      timeframe: options.timeframe.api,
      storage,
      durationMs: Date.now() - started,
      ...outcome,
      bars: outcome.rows,
      readjusted: readjust.filter((s) => outcome.symbols.some((r) => r.symbol === s && r.outcome === 'ok')),
    };
  });
}
