/**
 * Massive's REST wire format for bars: the aggregates and grouped-daily URLs, `next_url` moved onto
 * our configured host, and pages parsed into the lake's columns. Pure functions, no I/O.
 */
import { type BarColumns, BARS_SCHEMA, batchFor } from '../../lake/schema.js';
import { nyDateOf, nyMidnightUtc, type IsoDate } from '../../shared/time.js';
import type { Timeframe } from '../../shared/timeframe.js';

/** Base aggregates one request may scan (`limit`'s maximum): minute bars for intraday, daily bars otherwise. */
export const MAX_BASE_AGGREGATES = 50_000;

/** The `{multiplier}/{timespan}` of a timeframe. */
export function aggregateSpan(tf: Timeframe): { multiplier: number; timespan: 'minute' | 'hour' | 'day' | 'week' | 'month' } {
  const timespan = ({ Min: 'minute', Hour: 'hour', Day: 'day', Week: 'week', Month: 'month' } as const)[tf.unit];
  return { multiplier: tf.amount, timespan };
}

/** `adjusted` is true for split-adjusted bars; Massive's own default is true, so raw must be asked for. */
export function adjustedParam(adjustment: string | undefined): 'true' | 'false' {
  return adjustment === 'split' ? 'true' : 'false';
}

/** The configured base URL without trailing slashes, for appending paths. */
export function trimBase(baseUrl: string): string {
  return baseUrl.replace(/\/+$/, '');
}

/** Bars of one ticker starting in [start, end) (UTC ms; Massive's `to` is inclusive, so end − 1 is sent). */
export function aggregatesUrl(baseUrl: string, ticker: string, tf: Timeframe, start: number, end: number, adjustment: string | undefined): string {
  const { multiplier, timespan } = aggregateSpan(tf);
  const params = new URLSearchParams({ adjusted: adjustedParam(adjustment), sort: 'asc', limit: String(MAX_BASE_AGGREGATES) });
  return `${trimBase(baseUrl)}/v2/aggs/ticker/${encodeURIComponent(ticker)}/range/${multiplier}/${timespan}/${start}/${end - 1}?${params.toString()}`;
}

/** Every ticker's daily bar of one session. */
export function groupedDailyUrl(baseUrl: string, date: IsoDate, adjustment: string | undefined): string {
  // OTC tickers are left out unless asked for; the per-ticker endpoint serves them, so both paths must.
  return `${trimBase(baseUrl)}/v2/aggs/grouped/locale/us/market/stocks/${date}?adjusted=${adjustedParam(adjustment)}&include_otc=true`;
}

/**
 * The next page: `next_url`'s path and query on our configured host. The provider's host in it may
 * differ from ours (a proxy, a test server), and it never carries the key, which travels in a header.
 */
export function followNextUrl(baseUrl: string, nextUrl: string): string {
  const next = new URL(nextUrl, 'https://placeholder.invalid');
  const base = new URL(trimBase(baseUrl));
  next.searchParams.delete('apiKey');
  const basePath = base.pathname.replace(/\/+$/, '');
  return `${base.origin}${basePath}${next.pathname}${next.search}`;
}

interface AggregateRow {
  T?: unknown;
  t?: unknown;
  o?: unknown;
  h?: unknown;
  l?: unknown;
  c?: unknown;
  v?: unknown;
  vw?: unknown;
  n?: unknown;
}

export interface AggregatesPage {
  results: AggregateRow[];
  nextUrl: string | undefined;
}

/** Read a 200 body: a reason when it is not a usable page (it is then retried), else the page. */
export function readAggregatesPage(body: Uint8Array): { page: AggregatesPage } | { reason: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
  } catch {
    return { reason: 'body is not complete JSON (truncated?)' };
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return { reason: 'body is not a JSON object' };
  const envelope = parsed as { status?: unknown; results?: unknown; next_url?: unknown };
  if (envelope.status !== 'OK' && envelope.status !== 'DELAYED') return { reason: `status ${JSON.stringify(envelope.status)} is not OK` };
  // No `results` key (or null) is how Massive says "no bars".
  if (envelope.results !== undefined && envelope.results !== null && !Array.isArray(envelope.results)) return { reason: 'results is not a list' };
  const nextUrl = typeof envelope.next_url === 'string' && envelope.next_url !== '' ? envelope.next_url : undefined;
  return { page: { results: (envelope.results as AggregateRow[] | undefined) ?? [], nextUrl } };
}

function num(value: unknown): number {
  return typeof value === 'number' ? value : Number.NaN;
}

/** A bar every lake column can hold: a time and four positive prices. */
function usable(row: AggregateRow): boolean {
  return typeof row.t === 'number' && [row.o, row.h, row.l, row.c, row.v].every((x) => typeof x === 'number' && Number.isFinite(x));
}

function put(batch: BarColumns, symbolIndex: number, timeMs: number, row: AggregateRow): void {
  const i = batch.length++;
  batch.symbol[i] = symbolIndex;
  batch.time[i] = timeMs * 1000;
  batch.open[i] = num(row.o);
  batch.high[i] = num(row.h);
  batch.low[i] = num(row.l);
  batch.close[i] = num(row.c);
  batch.volume[i] = num(row.v);
  batch.vwap[i] = num(row.vw);
  batch.tradeCount[i] = typeof row.n === 'number' ? row.n : 0;
}

/**
 * How far before a window's start a bar of the window may be stamped: a weekly or monthly bar is
 * stamped where Massive's period starts, which need not be where ours does (a week from Sunday, say).
 */
export function periodSlackMs(tf: Timeframe): number {
  return tf.unit === 'Week' || tf.unit === 'Month' ? 7 * 86_400_000 : 0;
}

/** One ticker's page as columns: bars of the window [start, end) only (see periodSlackMs). */
export function aggregatesToColumns(page: AggregatesPage, symbolIndex: number, start: number, end: number, reuse: BarColumns | undefined): { columns: BarColumns; unusable: number } {
  const batch = batchFor(BARS_SCHEMA, reuse, page.results.length);
  let unusable = 0;
  for (const row of page.results) {
    if (!usable(row)) {
      unusable++;
      continue;
    }
    const t = row.t as number;
    if (t >= start && t < end) put(batch, symbolIndex, t, row);
  }
  return { columns: batch, unusable };
}

/** Grouped-daily rows of the wanted tickers, restamped at New York midnight like every daily bar (Massive stamps them at the close). */
export class GroupedDailyRows {
  private readonly rows: { symbol: number; time: number; row: AggregateRow }[] = [];
  unusable = 0;

  constructor(private readonly symbolIndex: ReadonlyMap<string, number>) {}

  add(date: IsoDate, page: AggregatesPage): void {
    const midnight = nyMidnightUtc(date);
    for (const row of page.results) {
      const index = typeof row.T === 'string' ? this.symbolIndex.get(row.T) : undefined;
      if (index === undefined) continue;
      if (!usable(row) || nyDateOf(row.t as number) !== date) {
        this.unusable++;
        continue;
      }
      this.rows.push({ symbol: index, time: midnight, row });
    }
  }

  /** Everything added, in symbol-then-time order, in batches of at most `batchRows`. */
  *batches(batchRows: number, reuse: () => BarColumns | undefined): Generator<BarColumns> {
    this.rows.sort((a, b) => a.symbol - b.symbol || a.time - b.time);
    for (let from = 0; from < this.rows.length; from += batchRows) {
      const slice = this.rows.slice(from, from + batchRows);
      const batch = batchFor(BARS_SCHEMA, reuse(), slice.length, batchRows);
      for (const r of slice) put(batch, r.symbol, r.time, r.row);
      yield batch;
    }
  }
}
