/** Request URLs of Alpaca's trades and quotes endpoints (their pages are checked like bars'). */
import type { TickRequest } from '../types.js';
import { PAGE_LIMIT, stocksUrl } from './bars-request.js';

/**
 * Alpaca's end is inclusive and ticks carry nanoseconds: send the last nanosecond before our
 * exclusive end (a whole millisecond), e.g. `2024-03-08T04:59:59.999999999Z`.
 */
function lastNanosecondBefore(end: number): string {
  return new Date(end - 1).toISOString().replace(/Z$/, '999999Z');
}

export function ticksUrl(dataBaseUrl: string, request: TickRequest, pageToken: string | undefined): string {
  return stocksUrl(dataBaseUrl, request.kind, {
    symbols: request.symbols.join(','),
    start: new Date(request.start).toISOString(),
    end: lastNanosecondBefore(request.end),
    limit: String(PAGE_LIMIT),
    sort: 'asc',
    feed: request.feed,
    page_token: pageToken,
  });
}
