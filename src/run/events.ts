/** What a run reports as it goes. The CLI renders these; nothing below the CLI prints. */
import type { RequestEvent } from '../net/http.js';
import type { WorkUnit } from '../plan/planner.js';

export type SymbolOutcome = 'ok' | 'no_data' | 'failed' | 'not_attempted' | 'up_to_date' | 'not_asset';

export type RunEvent =
  | { type: 'planned'; units: number; symbols: number; upToDate: number; estimatedBars: number }
  | { type: 'unit-started'; worker: number; unit: WorkUnit }
  | { type: 'unit-finished'; worker: number; unit: WorkUnit; rows: number; partitions: number; durationMs: number }
  | { type: 'unit-failed'; worker: number; unit: WorkUnit; symbols: string[]; reason: string }
  | { type: 'symbol-finished'; worker: number; symbol: string; outcome: SymbolOutcome; rows: number; reason?: string }
  | { type: 'request'; request: RequestEvent }
  | { type: 'notice'; level: 'info' | 'warning'; message: string };

export type RunEventListener = (event: RunEvent) => void;

export interface SymbolResult {
  symbol: string;
  outcome: SymbolOutcome;
  rows: number;
  reason?: string;
}

export interface RunSummary {
  dataset: string;
  source: string;
  feed: string;
  adjustment: string;
  timeframe: string;
  storage: string;
  symbols: SymbolResult[];
  succeeded: number;
  failed: number;
  noData: number;
  notAssets: number;
  /** Requested symbols the provider lists as inactive (delisted). */
  inactive: string[];
  notAttempted: number;
  upToDate: number;
  bars: number;
  partitions: number;
  requests: number;
  retries: number;
  units: number;
  durationMs: number;
  /** Why the run stopped early, if it did. */
  aborted?: { kind: 'credentials' | 'plan' | 'circuit' | 'signal'; message: string; hint?: string };
  exitCode: number;
}

/** The run's event stream: the pipeline, the HTTP hook and the renderers all meet here. */
export class EventBus {
  private readonly listeners: RunEventListener[] = [];

  on(listener: RunEventListener): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  emit(event: RunEvent): void {
    for (const listener of this.listeners) listener(event);
  }
}
