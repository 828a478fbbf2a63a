/** Pure helpers for Alpaca's bars endpoint: request URLs and page-token extraction from raw text. */
import type { BarRequest } from '../types.js';

export const PAGE_LIMIT = 10_000;

/** Alpaca's end is inclusive: send the last millisecond before our exclusive end. */
export function barsUrl(dataBaseUrl: string, request: BarRequest, pageToken: string | undefined, limit = PAGE_LIMIT): string {
  const params = new URLSearchParams({
    symbols: request.symbols.join(','),
    timeframe: request.timeframe.api,
    start: new Date(request.start).toISOString(),
    end: new Date(request.end - 1).toISOString(),
    limit: String(limit),
    feed: request.feed,
    adjustment: request.adjustment,
    sort: 'asc',
  });
  if (pageToken !== undefined) params.set('page_token', pageToken);
  return `${dataBaseUrl.replace(/\/+$/, '')}/v2/stocks/bars?${params.toString()}`;
}

const TOKEN_KEY = '"next_page_token"';

export type PageCheck = { ok: true; nextPageToken: string | null } | { ok: false; reason: string };

/**
 * Find `next_page_token` without parsing the page (the page is parsed later, in DuckDB). The body must
 * be one complete JSON object holding a `bars` member; the token is searched from the end, where
 * Alpaca puts it, so this costs microseconds on a megabyte page.
 */
export function checkBarsPage(text: string): PageCheck {
  const body = text.trim();
  if (!body.startsWith('{') || !body.endsWith('}')) return { ok: false, reason: 'body is not a complete JSON object (truncated?)' };
  if (!body.includes('"bars"')) return { ok: false, reason: 'body has no "bars" member' };
  const at = body.lastIndexOf(TOKEN_KEY);
  if (at < 0) return { ok: false, reason: 'body has no next_page_token' };
  const rest = body.slice(at + TOKEN_KEY.length);
  const m = /^\s*:\s*(null|"((?:[^"\\]|\\.)*)")/.exec(rest);
  if (!m) return { ok: false, reason: 'next_page_token is malformed' };
  if (m[1] === 'null') return { ok: true, nextPageToken: null };
  const token = JSON.parse(`"${m[2]}"`) as string;
  return { ok: true, nextPageToken: token === '' ? null : token };
}
