/**
 * After the bars, a run refreshes the corporate actions of its symbols over the range the lake
 * holds for them: a few paged requests under the run's budget. Bars do not depend on it, so a
 * failure is a warning and the next run tries again.
 */
import type { DuckDBInstance } from '@duckdb/node-api';
import { knownActions, storeActions, symbolsToReadjust } from '../lake/corporate-actions.js';
import { connectUtc } from '../lake/duck.js';
import type { Ledger } from '../lake/ledger.js';
import { type IsoDate, nyDateOf } from '../shared/time.js';
import type { Source } from '../sources/types.js';
import type { EventBus } from './events.js';

export interface ActionsRefresh {
  source: Source;
  storage: string;
  duck: DuckDBInstance;
  ledger: Ledger;
  symbols: readonly string[];
  staging: string;
  signal: AbortSignal;
  events: EventBus;
  /** Also this range, for every symbol (before a run: the range it is about to fetch). */
  wanted?: { from: IsoDate; to: IsoDate };
}

/** Symbols of a provider-adjusted dataset whose stored history predates a relevant action the lake knows. */
export async function readjustments(duck: DuckDBInstance, storage: string, source: string, ledger: Ledger, symbols: readonly string[], adjustment: string): Promise<string[]> {
  const connection = await connectUtc(duck);
  try {
    const actions = await knownActions(connection, storage, source, symbols);
    return symbolsToReadjust(adjustment, actions, (s) => ledger.historyBasis(s), nyDateOf(Date.now()));
  } finally {
    connection.closeSync();
  }
}

export async function refreshCorporateActions(r: ActionsRefresh): Promise<void> {
  const { source, ledger, signal, events } = r;
  if (!source.capabilities.corporateActions || !source.fetchCorporateActions) return;
  const held = r.wanted ? [...r.symbols] : r.symbols.filter((s) => (ledger.get(s)?.covered.length ?? 0) > 0);
  if (held.length === 0) return;
  const covered = held.flatMap((s) => ledger.get(s)?.covered ?? []);
  const dates = [...covered.map((c) => nyDateOf(c.start)), ...covered.map((c) => nyDateOf(c.end - 1)), ...(r.wanted ? [r.wanted.from, r.wanted.to] : [])].sort();
  const from = dates[0];
  const to = dates[dates.length - 1];
  try {
    const actions = await source.fetchCorporateActions(held, from, to, signal);
    const stored = await storeActions(r.duck, r.storage, source.name, held, from, to, actions, r.staging);
    events.emit('info', { message: `corporate actions: ${actions.length} listed for ${held.length} symbol(s) from ${from} to ${to}; ${stored} held for ${source.name}` });
  } catch (error) {
    if (signal.aborted) return;
    events.emit('warning', { message: `could not refresh corporate actions (${error instanceof Error ? error.message : String(error)}); the bars are unaffected, the next run tries again` });
  }
}
