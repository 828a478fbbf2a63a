/**
 * One ingest run: lock the lake, clean leftovers, plan against the ledger, fan units over the worker
 * pool, parse pages into columns as they arrive, merge partitions, record coverage, and summarize. Every unit is isolated: its
 * failure is recorded and the run goes on, except for failures no other unit can survive (rejected
 * credentials, a plan restriction) and a provider that looks down (the circuit breaker).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import pLimit, { type LimitFunction } from 'p-limit';
import { CannotProceedError, ExitCode } from '../errors.js';
import { openDuckDB } from '../lake/duck.js';
import { claimDataset } from '../lake/dataset-meta.js';
import { stagingRoot } from '../lake/layout.js';
import { Ledger } from '../lake/ledger.js';
import { PartitionWriter, type UnitWriteResult } from '../lake/partition-writer.js';
import { PageFormatError, parseBarsPage } from '../sources/page-parser.js';
import type { CircuitBreaker } from '../net/circuit-breaker.js';
import { CancelledError, CircuitOpenError } from '../net/errors.js';
import type { TradingCalendar } from '../plan/calendar.js';
import type { Interval } from '../plan/intervals.js';
import { plan, type WorkUnit } from '../plan/planner.js';
import type { Timeframe } from '../plan/timeframe.js';
import { CredentialsError, InvalidSymbolError, PlanRestrictionError } from '../sources/errors.js';
import type { Adjustment, BarSource, Feed } from '../sources/types.js';
import { PAGE_LIMIT } from '../sources/alpaca/pages.js';
import type { EventBus, RunSummary, SymbolResult } from './events.js';
import { RunLock } from './lock.js';

export interface IngestOptions {
  storage: string;
  dataset: string;
  timeframe: Timeframe;
  source: BarSource;
  feed: Feed;
  adjustment: Adjustment;
  symbols: readonly string[];
  startDate: string;
  explicitStart: boolean;
  endInstant: number;
  lookbackSessions: number;
  refetch: boolean;
  threads: number;
  calendar: TradingCalendar;
  breaker: CircuitBreaker;
  /** Aborted on SIGINT/SIGTERM: no new units start, in-flight requests stop, commits in flight finish. */
  signal: AbortSignal;
  events: EventBus;
  /** Runs once the lock is held, before planning: provider calendar and asset checks. */
  prepare?: () => Promise<RunPreparation>;
  maxSymbolsPerRequest?: number;
}

export interface RunPreparation {
  /** Replaces the options' calendar (e.g. the provider's). */
  calendar?: TradingCalendar;
  /** Symbols the provider does not know: skipped without a request. */
  notAssets?: readonly string[];
  /** Delisted symbols: fetched all the same, and marked inactive. */
  inactive?: readonly string[];
  active?: readonly string[];
}

/**
 * Units that may be merging into the lake while `threads` others fetch (the writer limits its own
 * DuckDB writes): this bounds the units, and so the buffers, in flight.
 */
const COMMIT_CONCURRENCY = 2;

/** A page that passed the transport's checks but does not parse gets the unit re-fetched this many times. */
const UNIT_PARSE_RETRIES = 2;
const LEDGER_SAVE_INTERVAL_MS = 2_000;

export async function prepareStorage(storage: string): Promise<void> {
  try {
    const stat = await fs.stat(storage).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    if (stat && !stat.isDirectory()) throw new CannotProceedError(`storage path ${storage} is a file, not a directory; choose another with --out`);
    await fs.mkdir(storage, { recursive: true });
    const probe = path.join(storage, `.write-probe.${process.pid}`);
    await fs.writeFile(probe, '');
    await fs.rm(probe);
  } catch (error) {
    if (error instanceof CannotProceedError) throw error;
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new CannotProceedError(`storage path ${storage} is not writable (${code}); fix its permissions or choose another with --out`);
  }
}

export async function ingest(options: IngestOptions): Promise<RunSummary> {
  const started = Date.now();
  const { storage, dataset } = options;
  await prepareStorage(storage);
  const lock = await RunLock.acquire(storage);
  const duck = await openDuckDB();
  const runStaging = path.join(stagingRoot(storage), `run-${process.pid}-${started}`);
  try {
    // Leftovers of a crashed run: safe to delete, we hold the lock.
    await fs.rm(stagingRoot(storage), { recursive: true, force: true });
    await fs.mkdir(runStaging, { recursive: true });
    await claimDataset(storage, {
      dataset,
      timeframe: options.timeframe.api,
      source: options.source.name,
      synthetic: options.source.synthetic,
      feed: options.feed,
      adjustment: options.adjustment,
    });
    const ledger = await Ledger.load(storage, dataset);
    const prep = (await options.prepare?.()) ?? {};
    for (const s of prep.inactive ?? []) ledger.markInactive(s, true);
    for (const s of prep.active ?? []) ledger.markInactive(s, false);
    const notAssets = new Set(prep.notAssets ?? []);
    for (const s of notAssets) options.events.emit({ type: 'notice', level: 'warning', message: `${s}: not an Alpaca asset; skipped without a request` });
    const symbols = options.symbols.filter((s) => !notAssets.has(s));
    const covered = new Map<string, Interval[]>();
    for (const symbol of symbols) covered.set(symbol, await ledger.trustedCoverage(symbol));
    const work = plan({
      symbols,
      timeframe: options.timeframe,
      calendar: prep.calendar ?? options.calendar,
      startDate: options.startDate,
      explicitStart: options.explicitStart,
      endInstant: options.endInstant,
      covered,
      lookbackSessions: options.lookbackSessions,
      refetch: options.refetch,
      threads: options.threads,
      pageLimit: PAGE_LIMIT,
      maxSymbolsPerRequest: options.maxSymbolsPerRequest ?? 200,
    });
    options.events.emit({
      type: 'planned',
      units: work.units.length,
      symbols: options.symbols.length,
      upToDate: work.upToDate.length,
      estimatedBars: work.units.reduce((n, u) => n + u.estimatedBars, 0),
    });
    const writer = await PartitionWriter.open(duck, storage, dataset);
    const run = new UnitRunner(options, ledger, writer, runStaging, work.units);
    try {
      await run.execute();
    } finally {
      writer.close();
    }
    await ledger.save();
    return run.summarize(work.upToDate, notAssets, new Set(prep.inactive ?? []), Date.now() - started);
  } finally {
    await fs.rm(runStaging, { recursive: true, force: true }).catch(() => undefined);
    // A finished run leaves no staging area behind (rmdir fails harmlessly if anything is left).
    await fs.rmdir(stagingRoot(storage)).catch(() => undefined);
    duck.closeSync();
    await lock.release();
  }
}

interface SymbolState {
  pendingUnits: number;
  rows: number;
  failures: string[];
  attempted: boolean;
}

class UnitRunner {
  private readonly symbols = new Map<string, SymbolState>();
  private readonly freeWorkers: number[] = [];
  private readonly fetchSlots: LimitFunction;
  private readonly internal = new AbortController();
  private aborted: RunSummary['aborted'];
  private bars = 0;
  private partitions = 0;
  private requests = 0;
  private retries = 0;
  private lastLedgerSave = 0;
  private unitSeq = 0;

  constructor(
    private readonly options: IngestOptions,
    private readonly ledger: Ledger,
    private readonly writer: PartitionWriter,
    private readonly staging: string,
    private readonly units: WorkUnit[],
  ) {
    for (const unit of units) {
      for (const s of unit.symbols) {
        const state = this.symbols.get(s) ?? { pendingUnits: 0, rows: 0, failures: [], attempted: false };
        state.pendingUnits += 1;
        this.symbols.set(s, state);
      }
    }
    this.fetchSlots = pLimit(options.threads);
    for (let w = options.threads + COMMIT_CONCURRENCY; w >= 1; w--) this.freeWorkers.push(w);
    this.unitSeq = units.length;
    options.signal.addEventListener('abort', () => this.internal.abort(), { once: true });
  }

  private get stopping(): boolean {
    return this.internal.signal.aborted || this.options.breaker.isOpen;
  }

  async execute(): Promise<void> {
    const unsubscribe = this.options.events.on((event) => {
      if (event.type !== 'request') return;
      this.requests += 1;
      if (event.request.failure?.willRetry) this.retries += 1;
    });
    // Units in flight: the fetch slots plus those committing, so fetching never waits for commits
    // and memory stays bounded.
    const limit = pLimit(this.options.threads + COMMIT_CONCURRENCY);
    const tasks: Promise<void>[] = [];
    const schedule = (unit: WorkUnit): void => {
      tasks.push(limit(() => this.runUnit(unit, schedule)));
    };
    for (const unit of this.units) schedule(unit);
    // Units may schedule split batches while running, so wait until the task list stops growing.
    for (let done = 0; done < tasks.length; ) {
      const upTo = tasks.length;
      await Promise.all(tasks.slice(done, upTo));
      done = upTo;
    }
    unsubscribe();
  }

  private async runUnit(unit: WorkUnit, schedule: (unit: WorkUnit) => void): Promise<void> {
    if (this.stopping) return; // left "not attempted"
    const worker = this.freeWorkers.pop() ?? 0;
    const unitStarted = Date.now();
    for (const s of unit.symbols) this.state(s).attempted = true;
    this.options.events.emit({ type: 'unit-started', worker, unit });
    const unitStaging = path.join(this.staging, `u${unit.id}`);
    try {
      let result;
      for (let attempt = 0; ; attempt++) {
        try {
          result = await this.fetchAndWrite(unit, unitStaging);
          break;
        } catch (error) {
          if (!(error instanceof PageFormatError) || attempt >= UNIT_PARSE_RETRIES) throw error;
          this.notice('warning', `[w${worker}] ${unit.symbols.join(',')}: ${error.message}; fetching the unit again`);
        }
      }
      this.bars += result.rows;
      this.partitions += result.partitionsWritten;
      for (const symbol of unit.symbols) {
        const stats = result.perSymbol.get(symbol);
        this.ledger.recordCommitted(symbol, { start: unit.start, end: unit.end }, stats?.rows ?? 0, stats?.firstBar, stats?.lastBar, stats?.partitions ?? []);
        this.state(symbol).rows += stats?.rows ?? 0;
      }
      this.options.events.emit({ type: 'unit-finished', worker, unit, rows: result.rows, partitions: result.partitionsWritten, durationMs: Date.now() - unitStarted });
      for (const symbol of unit.symbols) this.finishSymbolUnit(symbol, worker, undefined);
    } catch (error) {
      this.handleUnitError(error, unit, worker, schedule);
    } finally {
      await fs.rm(unitStaging, { recursive: true, force: true }).catch(() => undefined);
      this.freeWorkers.push(worker);
      await this.maybeSaveLedger();
    }
  }

  /** Fetch a unit's pages, parse each into columns as it arrives, append them, and commit. */
  private async fetchAndWrite(unit: WorkUnit, stagingDir: string): Promise<UnitWriteResult> {
    const request = {
      symbols: unit.symbols,
      timeframe: this.options.timeframe,
      start: unit.start,
      end: unit.end,
      feed: this.options.feed,
      adjustment: this.options.adjustment,
    };
    const symbolIndex = new Map(unit.symbols.map((s, i) => [s, i]));
    await fs.mkdir(stagingDir, { recursive: true });
    const write = this.writer.beginUnit(unit.symbols);
    try {
      await this.fetchSlots(async () => {
        for await (const page of this.options.source.pages(request, this.internal.signal)) {
          write.append(parseBarsPage(page, symbolIndex, write.pageColumns).columns);
          if (write.wantsFlush) await write.flushCompleted(stagingDir);
        }
      });
      return await write.commit(stagingDir);
    } finally {
      write.release();
    }
  }

  private handleUnitError(error: unknown, unit: WorkUnit, worker: number, schedule: (unit: WorkUnit) => void): void {
    if (error instanceof InvalidSymbolError && unit.symbols.length > 1) {
      // Isolate the bad symbol: drop it if the provider named it, otherwise bisect the batch.
      const parts = error.symbol
        ? [[error.symbol], unit.symbols.filter((s) => s !== error.symbol)]
        : [unit.symbols.slice(0, Math.ceil(unit.symbols.length / 2)), unit.symbols.slice(Math.ceil(unit.symbols.length / 2))];
      for (const symbols of parts) {
        for (const s of symbols) this.state(s).pendingUnits += 1;
        schedule({ ...unit, id: ++this.unitSeq, symbols, estimatedBars: Math.ceil((unit.estimatedBars * symbols.length) / unit.symbols.length) });
      }
      for (const s of unit.symbols) this.state(s).pendingUnits -= 1;
      this.notice('info', `[w${worker}] ${error.message}; splitting the batch of ${unit.symbols.length} symbols`);
      return;
    }
    let reason = error instanceof Error ? error.message : String(error);
    if (error instanceof CredentialsError) this.abort({ kind: 'credentials', message: error.message });
    else if (error instanceof PlanRestrictionError) this.abort({ kind: 'plan', message: error.message, hint: error.hint });
    else if (error instanceof CircuitOpenError) this.abort({ kind: 'circuit', message: `${error.message}; stopped starting new work` });
    else if (error instanceof CancelledError) reason = 'cancelled before it finished';
    this.options.events.emit({ type: 'unit-failed', worker, unit, symbols: unit.symbols, reason });
    for (const symbol of unit.symbols) this.finishSymbolUnit(symbol, worker, reason);
  }

  private abort(reason: NonNullable<RunSummary['aborted']>): void {
    if (this.aborted) return;
    this.aborted = reason;
    if (reason.kind !== 'circuit') this.internal.abort();
  }

  private state(symbol: string): SymbolState {
    const s = this.symbols.get(symbol);
    if (!s) throw new Error(`unplanned symbol ${symbol}`);
    return s;
  }

  private finishSymbolUnit(symbol: string, worker: number, failure: string | undefined): void {
    const state = this.state(symbol);
    if (failure !== undefined && !state.failures.includes(failure)) state.failures.push(failure);
    state.pendingUnits -= 1;
    if (state.pendingUnits > 0) return;
    const outcome = state.failures.length > 0 ? 'failed' : state.rows === 0 ? 'no_data' : 'ok';
    const reason = state.failures.length > 0 ? state.failures.join('; ') : undefined;
    this.ledger.recordOutcome(symbol, outcome, reason);
    this.options.events.emit({ type: 'symbol-finished', worker, symbol, outcome, rows: state.rows, reason });
  }

  private async maybeSaveLedger(): Promise<void> {
    const now = Date.now();
    if (now - this.lastLedgerSave < LEDGER_SAVE_INTERVAL_MS) return;
    this.lastLedgerSave = now;
    await this.ledger.save();
  }

  private notice(level: 'info' | 'warning', message: string): void {
    this.options.events.emit({ type: 'notice', level, message });
  }

  summarize(upToDate: readonly string[], notAssets: ReadonlySet<string>, inactive: ReadonlySet<string>, durationMs: number): RunSummary {
    const results: SymbolResult[] = [];
    const upToDateSet = new Set(upToDate);
    for (const symbol of this.options.symbols) {
      if (notAssets.has(symbol)) {
        results.push({ symbol, outcome: 'not_asset', rows: 0, reason: 'not an Alpaca asset' });
        continue;
      }
      if (upToDateSet.has(symbol)) {
        results.push({ symbol, outcome: 'up_to_date', rows: 0 });
        continue;
      }
      const state = this.symbols.get(symbol);
      if (!state) continue;
      if (state.failures.length > 0) results.push({ symbol, outcome: 'failed', rows: state.rows, reason: state.failures.join('; ') });
      else if (state.pendingUnits > 0) results.push({ symbol, outcome: 'not_attempted', rows: state.rows, reason: state.attempted ? 'run stopped before all its windows were fetched' : 'run stopped before it started' });
      else results.push({ symbol, outcome: state.rows === 0 ? 'no_data' : 'ok', rows: state.rows });
    }
    const count = (o: SymbolResult['outcome']): number => results.filter((r) => r.outcome === o).length;
    const cancelled = this.options.signal.aborted;
    let exitCode: number = ExitCode.ok;
    if (this.aborted?.kind === 'credentials' || this.aborted?.kind === 'plan') exitCode = ExitCode.cannotProceed;
    else if (count('failed') > 0 || count('not_attempted') > 0) exitCode = ExitCode.partialFailure;
    return {
      dataset: this.options.dataset,
      source: this.options.source.name,
      feed: this.options.feed,
      adjustment: this.options.adjustment,
      timeframe: this.options.timeframe.api,
      storage: this.options.storage,
      symbols: results,
      succeeded: count('ok'),
      failed: count('failed'),
      noData: count('no_data'),
      notAssets: count('not_asset'),
      inactive: [...inactive].filter((s) => this.options.symbols.includes(s)),
      notAttempted: count('not_attempted'),
      upToDate: count('up_to_date'),
      bars: this.bars,
      partitions: this.partitions,
      requests: this.requests,
      retries: this.retries,
      units: this.unitSeq,
      durationMs,
      aborted: cancelled && !this.aborted ? { kind: 'signal', message: 'interrupted by a signal' } : this.aborted,
      exitCode,
    };
  }
}
