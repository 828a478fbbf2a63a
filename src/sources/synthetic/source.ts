/**
 * The offline source: deterministic bars on the NYSE rule calendar, handed over as columns in
 * batches of a page's size, in the same symbol-then-time order a provider pages in.
 */
import { allocateBarColumns, allocateBatch, type BarColumns, SCHEMAS, type TickColumns } from '../../lake/schema.js';
import { nyseRuleCalendar } from '../../shared/calendar.js';
import { nyDateOf } from '../../shared/time.js';
import { isIntraday, type Timeframe } from '../../shared/timeframe.js';
import type { BarRequest, Source, SourceCapabilities, SourceDefinition, TickRequest } from '../types.js';
import { SyntheticMarket } from './generator.js';
import { SyntheticTicks } from './ticks.js';

/** Rows per batch, as a provider's page. */
const BATCH_ROWS = 10_000;

const SYNTHETIC_CAPABILITIES: SourceCapabilities = {
  kinds: ['bars', 'trades', 'quotes'],
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
  private readonly ticks = new SyntheticTicks(this.market);

  async *fetchTicks(request: TickRequest, signal: AbortSignal, reuse: () => TickColumns | undefined): AsyncIterable<TickColumns> {
    const symbols = request.symbols.map((symbol, index) => ({ symbol, index })).sort((a, b) => (a.symbol < b.symbol ? -1 : 1));
    const sessions = nyseRuleCalendar.sessions(nyDateOf(request.start), nyDateOf(request.end - 1));
    const fresh = (): TickColumns => {
      const batch = reuse() ?? (allocateBatch(SCHEMAS[request.kind], BATCH_ROWS) as TickColumns);
      batch.length = 0;
      return batch;
    };
    let batch = fresh();
    for (const { symbol, index } of symbols) {
      for (const session of sessions) {
        const n = this.ticks.count(symbol, request.kind, session.date);
        for (let i = 0; i < n; ) {
          const take = Math.min(n - i, BATCH_ROWS - batch.length);
          const written = this.ticks.fill(request.kind, symbol, index, session, i, i + take, request.end, batch, batch.length) - batch.length;
          batch.length += written;
          i += written;
          if (batch.length === BATCH_ROWS) {
            signal.throwIfAborted();
            yield batch;
            await new Promise((resolve) => setImmediate(resolve));
            batch = fresh();
          }
          if (written < take) break;
        }
      }
    }
    signal.throwIfAborted();
    if (batch.length > 0) yield batch;
  }

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
  description: 'generated bars, trades and quotes on the NYSE calendar, offline and without keys',
  capabilities: SYNTHETIC_CAPABILITIES,
  create: () => new SyntheticSource(),
};
