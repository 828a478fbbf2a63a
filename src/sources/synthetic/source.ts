/**
 * The offline source: deterministic bars on the NYSE rule calendar, handed over as columns in
 * batches of a page's size, in the same symbol-then-time order a provider pages in.
 */
import { allocateBarColumns, type BarColumns } from '../../lake/schema.js';
import { isIntraday, type Timeframe } from '../../shared/timeframe.js';
import type { BarRequest, Source, SourceCapabilities, SourceDefinition } from '../types.js';
import { SyntheticMarket } from './generator.js';

/** Rows per batch, as a provider's page. */
const BATCH_ROWS = 10_000;

const SYNTHETIC_CAPABILITIES: SourceCapabilities = {
  kinds: ['bars'],
  supportsTimeframe: (tf: Timeframe) => isIntraday(tf) || tf.unit === 'Day' || tf.unit === 'Week' || tf.unit === 'Month',
  maxSymbolsPerRequest: 200,
  pageRows: BATCH_ROWS,
  windowFitsOnePage: false,
  // It answers for any feed and adjustment (the same bars), so datasets written offline have the
  // same provenance choices as real ones.
  feeds: ['sip', 'iex', 'otc', 'boats'],
  adjustments: ['raw', 'split', 'dividend', 'spin-off', 'all'],
  corporateActions: false,
  calendar: false,
  listings: false,
  defaultRateLimitPerMinute: undefined,
  recentDataDelayMs: 16 * 60_000,
  synthetic: true,
  environment: [],
};

class SyntheticSource implements Source {
  readonly name = 'synthetic';
  readonly capabilities = SYNTHETIC_CAPABILITIES;
  private readonly market = new SyntheticMarket();

  async *fetchBars(request: BarRequest, signal: AbortSignal, reuse: () => BarColumns | undefined): AsyncIterable<BarColumns> {
    const symbols = request.symbols.map((symbol, index) => ({ symbol, index })).sort((a, b) => (a.symbol < b.symbol ? -1 : 1));
    let batch = reuse() ?? allocateBarColumns(BATCH_ROWS);
    batch.length = 0;
    for (const { symbol, index } of symbols) {
      for (const [t, o, h, l, c, v, n, vw] of this.market.bars(symbol, request.timeframe, request.start, request.end - 1)) {
        if (batch.length === BATCH_ROWS) {
          signal.throwIfAborted();
          yield batch;
          // Let other units and the event loop run between batches, as a network source would.
          await new Promise((resolve) => setImmediate(resolve));
          batch = reuse() ?? allocateBarColumns(BATCH_ROWS);
          batch.length = 0;
        }
        const i = batch.length++;
        batch.symbol[i] = index;
        batch.time[i] = t * 1000;
        batch.open[i] = o;
        batch.high[i] = h;
        batch.low[i] = l;
        batch.close[i] = c;
        batch.volume[i] = v;
        batch.tradeCount[i] = n;
        batch.vwap[i] = vw;
      }
    }
    signal.throwIfAborted();
    if (batch.length > 0) yield batch;
  }
}

export const syntheticSource: SourceDefinition = {
  name: 'synthetic',
  description: 'generated bars on the NYSE calendar, offline and without keys',
  capabilities: SYNTHETIC_CAPABILITIES,
  create: () => new SyntheticSource(),
};
