/**
 * What a run reports as it goes, and what it returns. The CLI renders these; a library user
 * subscribes to the same events. Nothing below the CLI prints.
 */
import type { DataKind } from '../lake/schema.js';
import type { RequestEvent } from '../net/request-event.js';
import type { WorkUnit } from '../plan/planner.js';

export type { RequestEvent } from '../net/request-event.js';
export type { WorkUnit } from '../plan/planner.js';

export type SymbolOutcome = 'ok' | 'no_data' | 'failed' | 'not_attempted' | 'up_to_date' | 'not_listed';

/** The plan of a run, before any data request: what it will cost. */
export interface PlanReport {
  dataset: string;
  /** What the run fetches: bars, trades or quotes. */
  kind: DataKind;
  source: string;
  /** The bars' timeframe; `tick` for trades and quotes. */
  timeframe: string;
  symbols: number;
  /** Symbols with nothing to fetch. */
  upToDate: string[];
  /** Symbols the source does not list (skipped without a request). */
  notListed: string[];
  units: number;
  /** Upper bounds: the planner counts every session's full extended hours (0 for ticks: their count is unknown in advance). */
  estimatedBars: number;
  /** For bars an upper bound; for ticks a lower bound (one per unit: a liquid symbol-day takes hundreds), exact with `dayFiles`. */
  estimatedRequests: number;
  /** Ticks from day files: each unit is one file holding every symbol's day, one download. */
  dayFiles?: boolean;
  /** Requests at the configured rate limit, ms; 0 for a source that makes no requests. */
  estimatedRequestTimeMs: number;
  rateLimitPerMinute: number | undefined;
  /** The units themselves, in the order they are started. */
  work: WorkUnit[];
  /** Provider-adjusted datasets: symbols fetched whole again because of a corporate action (from the actions the lake holds). */
  readjust: string[];
}

export interface UnitEvent {
  phase: 'started' | 'finished' | 'failed';
  /** Worker slot, for log tags like `[w3]`. */
  worker: number;
  unit: WorkUnit;
  /** Rows and partitions the unit committed (finished, and failed units that committed some). */
  rows: number;
  partitions: number;
  durationMs: number;
  reason?: string;
}

export interface SymbolEvent {
  worker: number;
  symbol: string;
  outcome: SymbolOutcome;
  rows: number;
  reason?: string;
}

/** Emitted as batches arrive and partitions commit: counts so far against the plan. */
export interface ProgressEvent {
  elapsedMs: number;
  /** Rows received from the source so far, and committed to the lake so far. */
  rowsReceived: number;
  rowsCommitted: number;
  partitionsCommitted: number;
  requests: number;
  estimatedRequests: number;
  estimatedBars: number;
  unitsDone: number;
  unitsTotal: number;
  symbolsDone: number;
  symbolsTotal: number;
}

export interface MessageEvent {
  message: string;
}

export interface PipelineEvents {
  planned: PlanReport;
  unit: UnitEvent;
  symbol: SymbolEvent;
  progress: ProgressEvent;
  request: RequestEvent;
  warning: MessageEvent;
  info: MessageEvent;
}

export type PipelineEventName = keyof PipelineEvents;
export type PipelineListener<K extends PipelineEventName> = (event: PipelineEvents[K]) => void;

export interface SymbolResult {
  symbol: string;
  outcome: SymbolOutcome;
  rows: number;
  reason?: string;
}

export type StopReason = { kind: 'credentials' | 'plan' | 'circuit' | 'interrupted'; message: string; hint?: string };

export interface IngestResult {
  dataset: string;
  kind: DataKind;
  source: string;
  feed: string | undefined;
  adjustment: string | undefined;
  timeframe: string;
  storage: string;
  symbols: SymbolResult[];
  succeeded: number;
  failed: number;
  noData: number;
  notListed: number;
  /** Requested symbols the source lists as inactive (delisted): fetched all the same. */
  inactive: string[];
  /** Symbols of a provider-adjusted dataset whose whole history was fetched again because of a new corporate action. */
  readjusted: string[];
  notAttempted: number;
  upToDate: number;
  /** Rows written: bars, trades or quotes. */
  rows: number;
  /** Bars written by a bars run (0 for ticks). */
  bars: number;
  /** Files published (for ticks, symbol-days). */
  partitions: number;
  requests: number;
  retries: number;
  units: number;
  durationMs: number;
  /** Every planned unit succeeded. */
  complete: boolean;
  /** Why the run stopped early, if it did. */
  stopped?: StopReason;
}

/** A typed event hub: the run emits, renderers and library users listen. */
export class EventBus {
  private readonly listeners = new Map<PipelineEventName, Set<(event: never) => void>>();

  on<K extends PipelineEventName>(name: K, listener: PipelineListener<K>): () => void {
    let set = this.listeners.get(name);
    if (!set) this.listeners.set(name, (set = new Set()));
    set.add(listener as (event: never) => void);
    return () => set.delete(listener as (event: never) => void);
  }

  /** A listener that throws must not break the run it listens to: its error is dropped. */
  emit<K extends PipelineEventName>(name: K, event: PipelineEvents[K]): void {
    const set = this.listeners.get(name);
    if (!set) return;
    for (const listener of set) {
      try {
        (listener as PipelineListener<K>)(event);
      } catch {
        // the listener's own failure; the run goes on
      }
    }
  }
}
