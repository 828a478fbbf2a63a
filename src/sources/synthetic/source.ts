/** The offline source: synthetic bars paged exactly like Alpaca's multi-symbol endpoint. */
import { PAGE_LIMIT } from '../alpaca/pages.js';
import type { BarRequest, BarSource } from '../types.js';
import { pageSlices, renderBarsPage, SyntheticMarket } from './generator.js';

export class SyntheticSource implements BarSource {
  readonly name = 'synthetic' as const;
  readonly synthetic = true;
  private readonly market = new SyntheticMarket();

  async *pages(request: BarRequest, signal: AbortSignal): AsyncIterable<Uint8Array> {
    const series = [...request.symbols]
      .sort()
      .map((symbol) => [symbol, this.market.bars(symbol, request.timeframe, request.start, request.end - 1)] as const);
    for (const page of pageSlices(series, PAGE_LIMIT)) {
      signal.throwIfAborted();
      yield Buffer.from(renderBarsPage(page.entries, page.nextOffset === null ? null : String(page.nextOffset)));
      // Let other units and the event loop run between pages, as a network source would.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
}
