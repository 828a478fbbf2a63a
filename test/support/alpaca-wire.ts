/**
 * Alpaca's bars wire format for the loopback fake and the benchmarks: pages in the multi-symbol
 * envelope, paged the way Alpaca pages (a page limit shared across symbols, symbol by symbol).
 */
import type { BarTuple } from '../../src/sources/synthetic/generator.js';

/** RFC-3339 without a fractional part when it is zero, as Alpaca writes bar times. */
export function formatBarTime(utcMs: number): string {
  const iso = new Date(utcMs).toISOString();
  return iso.endsWith('.000Z') ? `${iso.slice(0, 19)}Z` : iso;
}

/** One page in Alpaca's multi-symbol envelope. Built as text: this is the benchmark's hot path too. */
export function renderBarsPage(entries: readonly (readonly [string, readonly BarTuple[]])[], nextPageToken: string | null): string {
  const parts: string[] = [];
  for (const [symbol, bars] of entries) {
    if (bars.length === 0) continue;
    const rows = bars.map((b) => `{"t":"${formatBarTime(b[0])}","o":${b[1]},"h":${b[2]},"l":${b[3]},"c":${b[4]},"v":${b[5]},"n":${b[6]},"vw":${b[7]}}`);
    parts.push(`${JSON.stringify(symbol)}:[${rows.join(',')}]`);
  }
  return `{"bars":{${parts.join(',')}},"next_page_token":${nextPageToken === null ? 'null' : JSON.stringify(nextPageToken)},"currency":"USD"}`;
}

/**
 * Split per-symbol bars (symbols in order) into pages of at most `limit` bars across symbols, the
 * way Alpaca pages: symbol by symbol, a symbol may continue on the next page.
 */
export function* pageSlices(series: readonly (readonly [string, readonly BarTuple[]])[], limit: number, offset = 0): Generator<{ entries: [string, BarTuple[]][]; nextOffset: number | null }> {
  const total = series.reduce((n, [, bars]) => n + bars.length, 0);
  let position = offset;
  do {
    const entries: [string, BarTuple[]][] = [];
    let remaining = limit;
    let base = 0;
    for (const [symbol, bars] of series) {
      const from = Math.max(0, position - base);
      if (from < bars.length && remaining > 0) {
        const slice = bars.slice(from, from + remaining);
        entries.push([symbol, slice]);
        remaining -= slice.length;
      }
      base += bars.length;
    }
    position += limit - remaining;
    // Like Alpaca, a page that ends exactly at the end still carries a token (to an empty page).
    const nextOffset = remaining === 0 && position <= total ? position : null;
    yield { entries, nextOffset };
    if (nextOffset === null) return;
  } while (true);
}
