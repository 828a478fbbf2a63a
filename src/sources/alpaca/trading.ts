/**
 * Alpaca's trading endpoints an ingester needs: the market calendar and the asset list. These are a
 * request or two per run, so the official SDK is used for them, with its fetch routed through our
 * HTTP client so they share the rate budget, retries and error classification. Results are cached in
 * the lake's metadata (calendar for a week, assets for a day).
 */
import fs from 'node:fs/promises';
import { trading } from '@alpacahq/alpaca-trade-api';
import { writeFileAtomic } from '../../lake/atomic.js';
import { metadataDir } from '../../lake/layout.js';
import type { HttpClient } from '../../net/http.js';
import { fromSessionList, makeSession, parseClock, type TradingCalendar } from '../../plan/calendar.js';
import { classifyAlpacaError, type AlpacaCredentials } from './source.js';

const CALENDAR_MAX_AGE_MS = 7 * 86_400_000;
const ASSETS_MAX_AGE_MS = 86_400_000;

export type AssetStatus = 'active' | 'inactive';

interface CalendarCache {
  fetched_at: string;
  days: { date: string; open: string; close: string; session_open: string; session_close: string }[];
}

interface AssetsCache {
  fetched_at: string;
  assets: Record<string, AssetStatus>;
}

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

function configuration(http: HttpClient, tradingUrl: string, credentials: AlpacaCredentials, signal: AbortSignal): trading.Configuration {
  return new trading.Configuration({
    basePath: tradingUrl.replace(/\/+$/, ''),
    keyId: credentials.keyId,
    secret: credentials.secretKey,
    fetchApi: routedFetch(http, signal),
  });
}

async function readCache<T extends { fetched_at: string }>(file: string, maxAgeMs: number): Promise<T | undefined> {
  try {
    const cached = JSON.parse(await fs.readFile(file, 'utf8')) as T;
    return Date.now() - Date.parse(cached.fetched_at) < maxAgeMs ? cached : undefined;
  } catch {
    return undefined;
  }
}

export async function loadAlpacaCalendar(http: HttpClient, tradingUrl: string, credentials: AlpacaCredentials, storage: string, signal: AbortSignal): Promise<TradingCalendar> {
  const file = metadataDir(storage, 'calendar.json');
  let cache = await readCache<CalendarCache>(file, CALENDAR_MAX_AGE_MS);
  if (!cache) {
    const api = new trading.CalendarApi(configuration(http, tradingUrl, credentials, signal));
    let days: trading.LegacyCalendarDay[];
    try {
      days = await api.legacyCalendar({ start: new Date('2000-01-01T00:00:00Z'), end: new Date(Date.now() + 400 * 86_400_000) });
    } catch (error) {
      throw classifyAlpacaError(unwrap(error), []);
    }
    cache = {
      fetched_at: new Date().toISOString(),
      days: days.map((d) => ({ date: d.date.toISOString().slice(0, 10), open: d.open, close: d.close, session_open: d.sessionOpen, session_close: d.sessionClose })),
    };
    await writeFileAtomic(file, `${JSON.stringify(cache)}\n`);
  }
  return fromSessionList(cache.days.map((d) => makeSession(d.date, parseClock(d.open), parseClock(d.close), parseClock(d.session_open), parseClock(d.session_close))));
}

export async function loadAlpacaAssets(http: HttpClient, tradingUrl: string, credentials: AlpacaCredentials, storage: string, signal: AbortSignal): Promise<Map<string, AssetStatus>> {
  const file = metadataDir(storage, 'assets.json');
  let cache = await readCache<AssetsCache>(file, ASSETS_MAX_AGE_MS);
  if (!cache) {
    const api = new trading.AssetsApi(configuration(http, tradingUrl, credentials, signal));
    const assets: Record<string, AssetStatus> = {};
    try {
      const statuses = ['inactive', 'active'] as const;
      const lists = await Promise.all(statuses.map((status) => api.getV2Assets({ status, assetClass: 'us_equity' })));
      // Active last: a symbol listed under both (a ticker reused by a new listing) is active.
      statuses.forEach((status, i) => {
        for (const a of lists[i]) assets[a.symbol] = status;
      });
    } catch (error) {
      throw classifyAlpacaError(unwrap(error), []);
    }
    // Alpaca lists thousands of assets; an empty list is a broken answer, not "nothing is tradable".
    if (Object.keys(assets).length === 0) throw new Error('the asset list is empty');
    cache = { fetched_at: new Date().toISOString(), assets };
    await writeFileAtomic(file, `${JSON.stringify(cache)}\n`);
  }
  return new Map(Object.entries(cache.assets));
}
