/**
 * Alpaca's trading endpoints an ingester needs: the market calendar and the asset list. These are a
 * request or two per run, so the official SDK is used for them, with its fetch routed through our
 * HTTP client so they share the rate budget, retries and error classification. The run caches what
 * they return.
 */
import type { trading } from '@alpacahq/alpaca-trade-api';
import type { HttpClient } from '../../net/http.js';
import { makeSession, parseClock, type Session } from '../../shared/calendar.js';
import type { ListingStatus } from '../types.js';
import { classifyAlpacaError, type AlpacaCredentials } from './source.js';

/** The calendar asked for: from well before any history users fetch to a year ahead. */
const CALENDAR_FIRST_DAY = '2000-01-01T00:00:00Z';
const CALENDAR_DAYS_AHEAD = 400;

/** The SDK's fetch, served by our client: rate budget, retries and typed errors included. */
function routedFetch(http: HttpClient, signal: AbortSignal): typeof fetch {
  return async (input) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.toString() : input.url;
    const response = await http.get(url, { signal });
    return new Response(response.body, { status: response.status, headers: { 'content-type': 'application/json' } });
  };
}

/** The SDK wraps what fetch throws; find our own typed error inside it. */
function unwrap(error: unknown): unknown {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    if (current.name === 'HttpStatusError' || current.name === 'TransportError' || current.name === 'CancelledError' || current.name === 'CircuitOpenError') return current;
    current = (current as Error & { cause?: unknown }).cause;
  }
  return error;
}

/** The SDK, loaded when first needed: it costs ~150 ms of start-up that status, query and offline runs never use. */
async function sdk(): Promise<typeof trading> {
  return (await import('@alpacahq/alpaca-trade-api')).trading;
}

function configuration(api: typeof trading, http: HttpClient, tradingUrl: string, credentials: AlpacaCredentials, signal: AbortSignal): trading.Configuration {
  return new api.Configuration({
    basePath: tradingUrl.replace(/\/+$/, ''),
    keyId: credentials.keyId,
    secret: credentials.secretKey,
    fetchApi: routedFetch(http, signal),
  });
}

export async function loadAlpacaCalendar(http: HttpClient, tradingUrl: string, credentials: AlpacaCredentials, signal: AbortSignal): Promise<Session[]> {
  const sdkTrading = await sdk();
  const api = new sdkTrading.CalendarApi(configuration(sdkTrading, http, tradingUrl, credentials, signal));
  let days: trading.LegacyCalendarDay[];
  try {
    days = await api.legacyCalendar({ start: new Date(CALENDAR_FIRST_DAY), end: new Date(Date.now() + CALENDAR_DAYS_AHEAD * 86_400_000) });
  } catch (error) {
    throw classifyAlpacaError(unwrap(error), []);
  }
  return days.map((d) => makeSession(d.date.toISOString().slice(0, 10), parseClock(d.open), parseClock(d.close), parseClock(d.sessionOpen), parseClock(d.sessionClose)));
}

export async function loadAlpacaAssets(http: HttpClient, tradingUrl: string, credentials: AlpacaCredentials, signal: AbortSignal): Promise<Map<string, ListingStatus>> {
  const sdkTrading = await sdk();
  const api = new sdkTrading.AssetsApi(configuration(sdkTrading, http, tradingUrl, credentials, signal));
  const assets = new Map<string, ListingStatus>();
  try {
    const statuses = ['inactive', 'active'] as const;
    const lists = await Promise.all(statuses.map((status) => api.getV2Assets({ status, assetClass: 'us_equity' })));
    // Active last: a symbol listed under both (a ticker reused by a new listing) is active.
    statuses.forEach((status, i) => {
      for (const a of lists[i]) assets.set(a.symbol, status);
    });
  } catch (error) {
    throw classifyAlpacaError(unwrap(error), []);
  }
  // Alpaca lists thousands of assets; an empty list is a broken answer, not "nothing is tradable".
  if (assets.size === 0) throw new Error('the asset list is empty');
  return assets;
}
