/**
 * Runs the planned units over the worker pool. Every unit is isolated: its failure is recorded and
 * the run goes on, except for failures no other unit can survive (rejected credentials, a plan
 * restriction) and a provider that looks down (the circuit breaker). What a unit commits is counted
 * and recorded in the ledger partition by partition, so a stopped run reports and keeps exactly
 * what is on disk.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import pLimit, { type LimitFunction } from 'p-limit';
import type { Ledger } from '../lake/ledger.js';
import type { CommittedPartition } from '../lake/unit-write.js';
import type { CircuitBreaker } from '../net/circuit-breaker.js';
import { CancelledError, CircuitOpenError } from '../net/errors.js';
import type { WorkUnit } from '../plan/planner.js';
import { intersect } from '../shared/intervals.js';
import { type PartitionKey, partitionBounds } from '../shared/lake-paths.js';
import { CredentialsError, InvalidSymbolError, PageFormatError, PlanRestrictionError } from '../sources/errors.js';
import type { Source } from '../sources/types.js';
import type { EventBus, IngestResult, StopReason, SymbolResult } from './events.js';

/**
 * Units that may be merging into the lake while `threads` others fetch (the writer limits its own
 * DuckDB writes): this bounds the units, and so the buffers, in flight.
 */
const COMMIT_CONCURRENCY = 2;
/** A page that passed the transport's checks but does not parse gets the unit re-fetched this many times. */
const UNIT_PARSE_RETRIES = 2;
const LEDGER_SAVE_INTERVAL_MS = 2_000;

/** What a unit's executor gets from the runner. */
export interface UnitContext {
  /** The unit's own staging directory (removed after it). */
  staging: string;
  /** The source's temporary files for this unit: a directory inside `staging`. */
  scratch: string;
  signal: AbortSignal;
  /** Run the fetching part of the unit in one of the run's fetch slots. */
  fetching<T>(task: () => Promise<T>): Promise<T>;
  /** Rows received from the source. */
  received(rows: number): void;
  /** Partitions published. */
  committed(partitions: readonly CommittedPartition[]): void;
  /** A partition's file removed (its period has no rows any more). */
  removed(key: PartitionKey): void;
}

/** Fetches one unit and writes it into the lake (bars and ticks are written differently). */
export type UnitExecutor = (unit: WorkUnit, context: UnitContext) => Promise<void>;

export interface UnitRunnerOptions {
  source: Source;
  execute: UnitExecutor;
  threads: number;
  breaker: CircuitBreaker;
  signal: AbortSignal;
  events: EventBus;
  staging: string;
  ledger: Ledger;
  estimatedRequests: number;
  estimatedBars: number;
  /** Symbols the run was asked for, for the progress count (those already up to date count as done). */
  requested: ReadonlySet<string>;
  symbolsDone: number;
}

interface SymbolState {
  pendingUnits: number;
  rows: number;
  failures: string[];
  attempted: boolean;
}

export class UnitRunner {
  private readonly symbols = new Map<string, SymbolState>();
  private readonly freeWorkers: number[] = [];
  private readonly fetchSlots: LimitFunction;
  private readonly internal = new AbortController();
  private readonly started = Date.now();
  private stoppedBy: StopReason | undefined;
  private rowsReceived = 0;
  private rowsCommitted = 0;
  private partitions = 0;
  private requests = 0;
  private retries = 0;
  private unitsDone = 0;
  /** Units that failed, whoever their symbols are (a refresh of symbols the run was not asked for included). */
  private unitsFailed = 0;
  private symbolsDone: number;
  private lastLedgerSave = 0;
  private unitSeq: number;

  constructor(private readonly options: UnitRunnerOptions, private readonly units: WorkUnit[]) {
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
    this.symbolsDone = options.symbolsDone;
    options.signal.addEventListener('abort', () => this.internal.abort(), { once: true });
  }

  private get stopping(): boolean {
    return this.internal.signal.aborted || this.options.breaker.isOpen;
  }

  async execute(): Promise<void> {
    const unsubscribe = this.options.events.on('request', (event) => {
      this.requests += 1;
      if (event.failure?.willRetry) this.retries += 1;
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
    this.options.events.emit('unit', { phase: 'started', worker, unit, rows: 0, partitions: 0, durationMs: 0 });
    const staging = path.join(this.options.staging, `u${unit.id}`);
    const committed = { rows: 0, partitions: 0 };
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          await this.fetchAndWrite(unit, staging, committed);
          break;
        } catch (error) {
          if (!(error instanceof PageFormatError) || attempt >= UNIT_PARSE_RETRIES) throw error;
          this.options.events.emit('warning', { message: `[w${worker}] ${unit.symbols.join(',')}: ${error.message}; fetching the unit again` });
        }
      }
      // The whole window is covered for every symbol, the stretches without data included.
      for (const symbol of unit.symbols) for (const cover of unit.covers) this.options.ledger.recordCovered(symbol, cover);
      if (unit.versions) this.options.ledger.recordVersions(unit.versions);
      this.unitsDone += 1;
      this.options.events.emit('unit', { phase: 'finished', worker, unit, rows: committed.rows, partitions: committed.partitions, durationMs: Date.now() - unitStarted });
      for (const symbol of unit.symbols) this.finishSymbolUnit(symbol, worker, undefined);
    } catch (error) {
      this.handleUnitError(error, unit, worker, committed, Date.now() - unitStarted, schedule);
    } finally {
      await fs.rm(staging, { recursive: true, force: true }).catch(() => undefined);
      this.freeWorkers.push(worker);
      await this.maybeSaveLedger();
      this.progress();
    }
  }

  /** Fetch and write a unit through the executor, counting what it receives and commits. */
  private async fetchAndWrite(unit: WorkUnit, staging: string, committed: { rows: number; partitions: number }): Promise<void> {
    await fs.mkdir(staging, { recursive: true });
    await this.options.execute(unit, {
      staging,
      scratch: path.join(staging, 'source'),
      signal: this.internal.signal,
      fetching: (task) => this.fetchSlots(task),
      received: (rows) => {
        this.rowsReceived += rows;
        this.progress();
      },
      committed: (partitions) => {
        for (const p of partitions) committed.rows += p.rows;
        committed.partitions += partitions.length;
        this.recordCommitted(unit, partitions);
      },
      removed: (key) => this.options.ledger.removePartition(key),
    });
  }

  /** Partitions are on disk: count them, and record them (and their share of the window) in the ledger. */
  private recordCommitted(unit: WorkUnit, partitions: readonly CommittedPartition[]): void {
    for (const p of partitions) {
      const bounds = partitionBounds(p.key);
      const covered = intersect(unit.covers, [bounds]);
      this.options.ledger.recordPartition(p.key, covered, p.rows, p.firstBar, p.lastBar);
      this.state(p.key.symbol).rows += p.rows;
      this.rowsCommitted += p.rows;
      this.partitions += 1;
    }
    this.progress();
  }

  private progress(): void {
    this.options.events.emit('progress', {
      elapsedMs: Date.now() - this.started,
      rowsReceived: this.rowsReceived,
      rowsCommitted: this.rowsCommitted,
      partitionsCommitted: this.partitions,
      requests: this.requests,
      estimatedRequests: this.options.estimatedRequests,
      estimatedBars: this.options.estimatedBars,
      unitsDone: this.unitsDone,
      unitsTotal: this.unitSeq,
      symbolsDone: this.symbolsDone,
      symbolsTotal: this.options.requested.size,
    });
  }

  private handleUnitError(error: unknown, unit: WorkUnit, worker: number, committed: { rows: number; partitions: number }, durationMs: number, schedule: (unit: WorkUnit) => void): void {
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
      this.unitsDone += 1;
      this.options.events.emit('info', { message: `[w${worker}] ${error.message}; splitting the batch of ${unit.symbols.length} symbols` });
      return;
    }
    let reason = error instanceof Error ? error.message : String(error);
    if (error instanceof CredentialsError) this.stop({ kind: 'credentials', message: error.message });
    else if (error instanceof PlanRestrictionError) this.stop({ kind: 'plan', message: error.message, hint: error.hint });
    else if (error instanceof CircuitOpenError) this.stop({ kind: 'circuit', message: `${error.message}; stopped starting new work` });
    const cancelled = error instanceof CancelledError || (this.internal.signal.aborted && !this.stoppedBy);
    if (cancelled) reason = 'cancelled before it finished';
    this.unitsDone += 1;
    this.unitsFailed += 1;
    this.options.events.emit('unit', { phase: 'failed', worker, unit, rows: committed.rows, partitions: committed.partitions, durationMs, reason });
    // Stopped with the run rather than failed on its own: its symbols stay pending, and the summary
    // counts them not attempted ("run stopped before all its windows were fetched") — unless another
    // of their units failed, which the ledger records as it would have.
    if (cancelled) {
      for (const symbol of unit.symbols) {
        const { failures } = this.state(symbol);
        if (failures.length > 0) this.options.ledger.recordOutcome(symbol, 'failed', failures.join('; '));
      }
      return;
    }
    for (const symbol of unit.symbols) this.finishSymbolUnit(symbol, worker, reason);
  }

  private stop(reason: StopReason): void {
    if (this.stoppedBy) return;
    this.stoppedBy = reason;
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
    if (this.options.requested.has(symbol)) this.symbolsDone += 1;
    const outcome = state.failures.length > 0 ? 'failed' : state.rows === 0 ? 'no_data' : 'ok';
    const reason = state.failures.length > 0 ? state.failures.join('; ') : undefined;
    this.options.ledger.recordOutcome(symbol, outcome, reason);
    this.options.events.emit('symbol', { worker, symbol, outcome, rows: state.rows, reason });
  }

  private async maybeSaveLedger(): Promise<void> {
    const now = Date.now();
    if (now - this.lastLedgerSave < LEDGER_SAVE_INTERVAL_MS) return;
    this.lastLedgerSave = now;
    await this.options.ledger.save();
  }

  /** The outcome per requested symbol, in request order, and the run's totals. */
  summarize(base: { requested: readonly string[]; upToDate: readonly string[]; notListed: ReadonlySet<string>; inactive: ReadonlySet<string> }): Omit<IngestResult, 'dataset' | 'kind' | 'source' | 'feed' | 'adjustment' | 'timeframe' | 'storage' | 'durationMs' | 'readjusted' | 'bars'> {
    const results: SymbolResult[] = [];
    const upToDate = new Set(base.upToDate);
    for (const symbol of base.requested) {
      if (base.notListed.has(symbol)) {
        results.push({ symbol, outcome: 'not_listed', rows: 0, reason: `not listed by ${this.options.source.name}` });
        continue;
      }
      if (upToDate.has(symbol)) {
        results.push({ symbol, outcome: 'up_to_date', rows: 0 });
        continue;
      }
      const state = this.symbols.get(symbol);
      if (!state) continue;
      if (state.failures.length > 0) results.push({ symbol, outcome: 'failed', rows: state.rows, reason: state.failures.join('; ') });
      else if (state.pendingUnits > 0) {
        const reason = state.attempted ? 'run stopped before all its windows were fetched' : 'run stopped before it started';
        results.push({ symbol, outcome: 'not_attempted', rows: state.rows, reason });
      } else results.push({ symbol, outcome: state.rows === 0 ? 'no_data' : 'ok', rows: state.rows });
    }
    const count = (o: SymbolResult['outcome']): number => results.filter((r) => r.outcome === o).length;
    const interrupted = this.options.signal.aborted && !this.stoppedBy;
    return {
      symbols: results,
      succeeded: count('ok'),
      failed: count('failed'),
      noData: count('no_data'),
      notListed: count('not_listed'),
      inactive: base.requested.filter((s) => base.inactive.has(s)),
      notAttempted: count('not_attempted'),
      upToDate: count('up_to_date'),
      rows: this.rowsCommitted,
      partitions: this.partitions,
      requests: this.requests,
      retries: this.retries,
      units: this.unitSeq,
      complete: count('failed') === 0 && count('not_attempted') === 0 && this.unitsFailed === 0 && !interrupted && !this.stoppedBy,
      stopped: interrupted ? { kind: 'interrupted', message: 'interrupted: commits in flight finished, the rest was not attempted' } : this.stoppedBy,
    };
  }
}
