/**
 * A source's reference services — the trading calendar and the symbols it lists — improve a plan
 * but are not required: without them the run uses the NYSE rules and requests every symbol.
 * Answers are cached in the lake (calendar a week, listings a day). Rejected credentials or a plan
 * restriction still stop the run: no data request could succeed either.
 */
import { readCache, writeCache } from '../lake/provider-cache.js';
import { fromSessionList, type Session, type TradingCalendar } from '../shared/calendar.js';
import { CannotProceedError } from '../shared/errors.js';
import type { ListingStatus, Source } from '../sources/types.js';
import type { EventBus } from './events.js';

const CALENDAR_MAX_AGE_MS = 7 * 86_400_000;
const LISTINGS_MAX_AGE_MS = 86_400_000;

export interface ReferenceData {
  calendar: TradingCalendar | undefined;
  listings: Map<string, ListingStatus> | undefined;
}

async function optional<T>(what: string, events: EventBus, signal: AbortSignal, load: () => Promise<T>): Promise<T | undefined> {
  try {
    return await load();
  } catch (error) {
    if (error instanceof CannotProceedError || signal.aborted) throw error;
    events.emit('warning', { message: `could not load the ${what} (${error instanceof Error ? error.message : String(error)}); continuing without it` });
    return undefined;
  }
}

async function cachedOrLoaded<T>(storage: string, source: Source, name: 'calendar' | 'listings', maxAgeMs: number, load: () => Promise<T>): Promise<T> {
  const cached = await readCache<T>(storage, source.name, name, maxAgeMs);
  if (cached !== undefined) return cached;
  const fresh = await load();
  await writeCache(storage, source.name, name, fresh);
  return fresh;
}

/** Both are needed before planning, so they are asked for at once. */
export async function loadReferenceData(source: Source, storage: string, signal: AbortSignal, events: EventBus): Promise<ReferenceData> {
  const { loadCalendar, loadListings } = source;
  const [sessions, listings] = await Promise.all([
    loadCalendar
      ? optional(`${source.name} calendar`, events, signal, () => cachedOrLoaded<Session[]>(storage, source, 'calendar', CALENDAR_MAX_AGE_MS, () => loadCalendar.call(source, signal)))
      : undefined,
    loadListings
      ? optional(`${source.name} symbol list`, events, signal, async () =>
          new Map(Object.entries(await cachedOrLoaded(storage, source, 'listings', LISTINGS_MAX_AGE_MS, async () => Object.fromEntries(await loadListings.call(source, signal))))),
        )
      : undefined,
  ]);
  return { calendar: sessions ? fromSessionList(sessions) : undefined, listings };
}

/** What earlier runs cached, whatever its age: for plans and reports that must not make requests. */
export async function cachedReferenceData(storage: string, source: string): Promise<ReferenceData> {
  const sessions = await readCache<Session[]>(storage, source, 'calendar', Infinity);
  const listings = await readCache<Record<string, ListingStatus>>(storage, source, 'listings', Infinity);
  return { calendar: sessions ? fromSessionList(sessions) : undefined, listings: listings ? new Map(Object.entries(listings)) : undefined };
}
