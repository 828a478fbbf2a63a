/**
 * Pure helpers for Alpaca's historical stock endpoints (bars, trades, quotes): request URLs, and the
 * page check and token read from the raw bytes.
 */
import type { BarRequest } from '../types.js';

export const PAGE_LIMIT = 10_000;

/** A multi-symbol historical endpoint's URL: the parameters in order, those undefined left out. */
export function stocksUrl(dataBaseUrl: string, endpoint: string, params: Record<string, string | undefined>): string {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value !== undefined) query.set(name, value);
  return `${dataBaseUrl.replace(/\/+$/, '')}/v2/stocks/${endpoint}?${query.toString()}`;
}

/** Alpaca's end is inclusive: send the last millisecond before our exclusive end. */
export function barsUrl(dataBaseUrl: string, request: BarRequest, pageToken: string | undefined, limit = PAGE_LIMIT): string {
  return stocksUrl(dataBaseUrl, 'bars', {
    symbols: request.symbols.join(','),
    timeframe: request.timeframe.api,
    start: new Date(request.start).toISOString(),
    end: new Date(request.end - 1).toISOString(),
    limit: String(limit),
    sort: 'asc',
    feed: request.feed,
    adjustment: request.adjustment,
    page_token: pageToken,
  });
}

const TOKEN_KEY = '"next_page_token"';

export type PageCheck = { ok: true; nextPageToken: string | null } | { ok: false; reason: string };

function isSpace(byte: number): boolean {
  return byte === 32 || byte === 10 || byte === 13 || byte === 9;
}

/**
 * Find `next_page_token` without parsing the page (the pipeline parses it later). The body must be
 * one complete JSON object holding the `member` that carries the rows (`bars`, `trades`, …); the
 * token is searched from the end, where Alpaca puts it, so this costs microseconds on a megabyte page.
 */
export function checkPage(page: Uint8Array | string, member: string): PageCheck {
  const bytes = typeof page === 'string' ? Buffer.from(page) : Buffer.from(page.buffer, page.byteOffset, page.byteLength);
  let first = 0;
  let last = bytes.length - 1;
  while (first <= last && isSpace(bytes[first])) first++;
  while (last >= first && isSpace(bytes[last])) last--;
  if (first > last || bytes[first] !== 0x7b || bytes[last] !== 0x7d) return { ok: false, reason: 'body is not a complete JSON object (truncated?)' };
  if (bytes.indexOf(`"${member}"`, first) < 0) return { ok: false, reason: `body has no "${member}" member` };
  const at = bytes.lastIndexOf(TOKEN_KEY, last);
  if (at < first) return { ok: false, reason: 'body has no next_page_token' };
  const rest = bytes.toString('utf8', at + TOKEN_KEY.length, last + 1);
  const m = /^\s*:\s*(null|"((?:[^"\\]|\\.)*)")/.exec(rest);
  if (!m) return { ok: false, reason: 'next_page_token is malformed' };
  if (m[1] === 'null') return { ok: true, nextPageToken: null };
  const token = JSON.parse(`"${m[2]}"`) as string;
  return { ok: true, nextPageToken: token === '' ? null : token };
}

/** The bars endpoint's check. */
export function checkBarsPage(page: Uint8Array | string): PageCheck {
  return checkPage(page, 'bars');
}
