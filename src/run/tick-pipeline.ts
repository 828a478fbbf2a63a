/**
 * A trades or quotes run: whole New York days per symbol, each replacing the stored day whole.
 * The scaffolding (credentials, lock, staging), the ledger, the listings and the unit runner are the
 * bars run's; the plan, the writer and what is recorded differ.
 */
import { checkProvenance, claimDataset, type DatasetMeta, readDatasetMeta } from '../lake/dataset-meta.js';
import { Ledger } from '../lake/ledger.js';
import { SCHEMAS, type TickKind } from '../lake/schema.js';
import { TickWriter } from '../lake/tick-writer.js';
import { planMarketWideTickDays, planTickDays } from '../plan/tick-days.js';
import { InterruptedError, UsageError } from '../shared/errors.js';
import { SOURCE_DEFINITIONS } from '../sources/registry.js';
import type { SourceCapabilities } from '../sources/types.js';
import type { IngestResult, PlanReport } from './events.js';
import { checkChoice, type ListedSessions, listSessions, type PlannedRun, planInputs, planReport, releaseIfEmpty, runPlan, type RunOptionsBase } from './pipeline.js';
import { cachedReferenceData, loadReferenceData, type ReferenceData } from './reference-data.js';
import { withRunSession } from './run-session.js';
import { tickUnits } from './tick-units.js';

export interface TickRunOptions extends RunOptionsBase {
  kind: TickKind;
}

/** What datasets of ticks record as their timeframe. */
export const TICK_TIMEFRAME = 'tick';
/**
 * DuckDB's share of a tick run's memory: the open days' tables (a liquid symbol's day of quotes is
 * millions of rows) spill to the staging area beyond it instead of growing the process.
 */
const TICK_DUCKDB_MEMORY = '512MB';

export function checkTickCapabilities(capabilities: SourceCapabilities, sourceName: string, options: Pick<TickRunOptions, 'kind' | 'feed'>): void {
  if (!capabilities.kinds.includes(options.kind)) {
    const offering = SOURCE_DEFINITIONS.filter((d) => d.capabilities.kinds.includes(options.kind)).map((d) => d.name);
    throw new UsageError(`source ${sourceName} has no ${options.kind}; use --source ${offering.join(', ').replace(/, ([^,]*)$/, ' or $1')} for ${options.kind}, or --data bars`);
  }
  checkChoice(sourceName, 'feed', options.feed, capabilities.feeds);
}

function wantedTickDataset(options: TickRunOptions, synthetic: boolean): Omit<DatasetMeta, 'created_at'> {
  return {
    dataset: options.dataset,
    kind: options.kind,
    timeframe: TICK_TIMEFRAME,
    source: options.source.name,
    synthetic,
    feed: options.feed ?? null,
    adjustment: null,
    partition: 'day',
  };
}

async function planTicksAgainst(options: TickRunOptions, ledger: Ledger, reference: ReferenceData, listed: ListedSessions | undefined): Promise<PlannedRun> {
  const { notListed, inactive, symbols, covered, calendar, endInstant, refresh } = await planInputs(options, ledger, reference, listed);
  const request = {
    symbols,
    calendar,
    startDate: options.startDate,
    explicitStart: options.explicitStart,
    endInstant,
    covered,
    // A finished day is final: a provider's correction is a new file version, or is fetched with --refetch over its days.
    lookbackSessions: 0,
    refetch: options.refetch,
    maxSymbolsPerRequest: options.source.capabilities.maxSymbolsPerRequest,
    threads: options.threads,
  };
  const work = options.source.capabilities.marketWideTicks ? planMarketWideTickDays(request, { versions: listed?.versions, refresh }) : planTickDays(request);
  // One request per unit at least: a liquid symbol-day takes hundreds (exactly one for a day file).
  const report = planReport(options, work, notListed, work.units.length, {
    kind: options.kind,
    timeframe: TICK_TIMEFRAME,
    estimatedBars: 0,
    readjust: [],
    ...(options.source.capabilities.marketWideTicks ? { dayFiles: true } : {}),
  });
  return { work, report, notListed, inactive };
}

/** The plan a tick run would make now: no request, no write, no lock. */
export async function planTicks(options: TickRunOptions): Promise<PlanReport> {
  checkTickCapabilities(options.source.capabilities, options.source.name, options);
  const existing = await readDatasetMeta(options.storage, options.dataset);
  if (existing) checkProvenance(existing, wantedTickDataset(options, options.source.capabilities.synthetic), false);
  const ledger = await Ledger.load(options.storage, options.dataset);
  // Without a request, a versioned source's days are the rule calendar's.
  return (await planTicksAgainst(options, ledger, await cachedReferenceData(options.storage, options.source.name), undefined)).report;
}

export async function ingestTicks(options: TickRunOptions): Promise<IngestResult> {
  checkTickCapabilities(options.source.capabilities, options.source.name, options);
  return withRunSession(options, { memoryLimit: TICK_DUCKDB_MEMORY }, async ({ started, source, breaker, duck, staging }) => {
    const { storage, dataset, events, signal } = options;
    const wanted = wantedTickDataset(options, source.capabilities.synthetic);
    const existing = await readDatasetMeta(storage, dataset);
    if (existing) checkProvenance(existing, wanted, false);
    const ledger = await Ledger.load(storage, dataset);
    const listing = source.capabilities.marketWideTicks?.versioned ? listSessions(source, { kind: options.kind }, options, ledger) : Promise.resolve(undefined);
    const [reference, listed] = await Promise.all([loadReferenceData(source, storage, signal, events), listing]).catch((error: unknown) => {
      throw signal.aborted ? new InterruptedError('interrupted while loading the calendar, symbol list or file list; nothing was fetched') : error;
    });
    const { created } = await claimDataset(storage, wanted, false);
    const planned = await planTicksAgainst(options, ledger, reference, listed);
    const writer = await TickWriter.open(duck, SCHEMAS[options.kind], storage, dataset);
    const execute = tickUnits({ source, kind: options.kind, feed: options.feed, writer });
    // The plan's request count is a lower bound here: progress goes by units instead.
    const outcome = await runPlan(options, { source, breaker, staging }, ledger, reference, planned, execute, { estimatedRequests: 0, estimatedBars: 0 }, () => writer.close());
    if (created) await releaseIfEmpty(ledger);
    return {
      dataset,
      kind: options.kind,
      source: source.name,
      feed: options.feed,
      adjustment: undefined,
      timeframe: TICK_TIMEFRAME,
      storage,
      durationMs: Date.now() - started,
      ...outcome,
      bars: 0,
      readjusted: [],
    };
  });
}
