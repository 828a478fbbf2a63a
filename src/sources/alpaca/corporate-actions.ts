/** Alpaca's corporate actions (`/v1/corporate-actions`): requests, paging and records as the lake keeps them. */
import type { HttpClient } from '../../net/http.js';
import type { IsoDate } from '../../shared/time.js';
import type { CorporateAction } from '../types.js';

/** Records a page holds at most. */
const PAGE_LIMIT = 1000;
/** Symbols a request names: keeps the URL well below common length limits. */
const SYMBOLS_PER_REQUEST = 100;
const TYPES = ['forward_split', 'reverse_split', 'stock_dividend', 'cash_dividend', 'spin_off', 'name_change'];

type AlpacaRecord = Record<string, unknown>;

function text(value: unknown): string | null {
  return typeof value === 'string' && value !== '' ? value : null;
}

function num(value: unknown): number | null {
  const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : Number.NaN;
  return Number.isFinite(n) ? n : null;
}

/** One record of a group (`forward_splits`, `cash_dividends`, …) as a lake row; undefined when it lacks a symbol or date. */
export function actionOf(group: string, record: AlpacaRecord): CorporateAction | undefined {
  const type = group.replace(/s$/, '');
  const id = text(record.id) ?? '';
  if (type === 'name_change') {
    const symbol = text(record.old_symbol);
    const exDate = text(record.process_date) ?? text(record.ex_date);
    if (!symbol || !exDate) return undefined;
    return { symbol, type, exDate, oldRate: null, newRate: null, cash: null, otherSymbol: text(record.new_symbol), id };
  }
  if (type === 'spin_off') {
    const symbol = text(record.source_symbol);
    const exDate = text(record.ex_date);
    if (!symbol || !exDate) return undefined;
    return { symbol, type, exDate, oldRate: num(record.source_rate), newRate: num(record.new_rate), cash: null, otherSymbol: text(record.new_symbol), id };
  }
  const symbol = text(record.symbol);
  const exDate = text(record.ex_date);
  if (!symbol || !exDate) return undefined;
  if (type === 'cash_dividend') return { symbol, type, exDate, oldRate: null, newRate: null, cash: num(record.rate), otherSymbol: null, id };
  return { symbol, type, exDate, oldRate: num(record.old_rate), newRate: num(record.new_rate) ?? num(record.rate), cash: null, otherSymbol: null, id };
}

export async function loadAlpacaCorporateActions(http: HttpClient, dataUrl: string, symbols: readonly string[], from: IsoDate, to: IsoDate, signal: AbortSignal): Promise<CorporateAction[]> {
  const out: CorporateAction[] = [];
  for (let i = 0; i < symbols.length; i += SYMBOLS_PER_REQUEST) {
    let token: string | null = null;
    const seen = new Set<string>();
    do {
      const params = new URLSearchParams({ symbols: symbols.slice(i, i + SYMBOLS_PER_REQUEST).join(','), types: TYPES.join(','), start: from, end: to, limit: String(PAGE_LIMIT), sort: 'asc' });
      if (token) params.set('page_token', token);
      const page = await http.getJson<{ corporate_actions?: Record<string, AlpacaRecord[]>; next_page_token?: string | null }>(
        `${dataUrl.replace(/\/+$/, '')}/v1/corporate-actions?${params.toString()}`,
        signal,
        (value) => (value && typeof value === 'object' && 'corporate_actions' in value ? undefined : 'body has no corporate_actions'),
      );
      for (const [group, records] of Object.entries(page?.corporate_actions ?? {})) {
        for (const record of Array.isArray(records) ? records : []) {
          const action = actionOf(group, record);
          if (action) out.push(action);
        }
      }
      const next: string | null = page?.next_page_token ?? null;
      // A provider that hands out the same token twice would loop forever.
      if (next !== null && seen.has(next)) throw new Error(`Alpaca repeated the corporate-actions page token ${next}`);
      if (next !== null) seen.add(next);
      token = next;
    } while (token);
  }
  return out;
}
