/** The interface every data source implements: pages of bars in Alpaca's multi-symbol envelope. */
import type { Timeframe } from '../plan/timeframe.js';

export type Feed = 'sip' | 'iex' | 'otc' | 'boats';
export const FEEDS: readonly Feed[] = ['sip', 'iex', 'otc', 'boats'];
export type Adjustment = 'raw' | 'split' | 'dividend' | 'spin-off' | 'all';
export const ADJUSTMENTS: readonly Adjustment[] = ['raw', 'split', 'dividend', 'spin-off', 'all'];
export type SourceName = 'alpaca' | 'synthetic';
export const SOURCES: readonly SourceName[] = ['alpaca', 'synthetic'];

export interface BarRequest {
  symbols: readonly string[];
  timeframe: Timeframe;
  /** Inclusive start and exclusive end, UTC ms. */
  start: number;
  end: number;
  feed: Feed;
  adjustment: Adjustment;
}

/**
 * A source yields the raw JSON bytes of each page, `{"bars": {SYM: [{t,o,h,l,c,v,n,vw}…]} | null, …}`.
 * Bytes, not objects: the pipeline's page parser reads them straight into columns, so no string or
 * JS object is built per page or per bar on the hot path.
 */
export interface BarSource {
  readonly name: SourceName;
  readonly synthetic: boolean;
  pages(request: BarRequest, signal: AbortSignal): AsyncIterable<Uint8Array>;
}
