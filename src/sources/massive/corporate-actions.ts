/** Massive's splits and dividends (`/stocks/v1/splits`, `/stocks/v1/dividends`): requests, paging and records as the lake keeps them. */
import type { HttpClient } from '../../net/http.js';
import type { IsoDate } from '../../shared/time.js';
import type { CorporateAction } from '../types.js';
import { followNextUrl } from './rest-wire.js';

/** Records a page holds at most. */
const PAGE_LIMIT = 5000;
/** Tickers a request names (`ticker.any_of`). */
const TICKERS_PER_REQUEST = 100;

type MassiveRecord = Record<string, unknown>;
interface MassivePage {
  status?: unknown;
  results?: MassiveRecord[];
  next_url?: string;
}

const text = (value: unknown): string | null => (typeof value === 'string' && value !== '' ? value : null);
const num = (value: unknown): number | null => (typeof value === 'number' && Number.isFinite(value) ? value : null);

export function splitOf(record: MassiveRecord): CorporateAction | undefined {
  const symbol = text(record.ticker);
  const exDate = text(record.execution_date);
  if (!symbol || !exDate) return undefined;
  const oldRate = num(record.split_from);
  const newRate = num(record.split_to);
  const type = text(record.adjustment_type) ?? (oldRate !== null && newRate !== null && newRate < oldRate ? 'reverse_split' : 'forward_split');
  return { symbol, type, exDate, oldRate, newRate, cash: null, otherSymbol: null, id: text(record.id) ?? '' };
}

export function dividendOf(record: MassiveRecord): CorporateAction | undefined {
  const symbol = text(record.ticker);
  const exDate = text(record.ex_dividend_date);
  if (!symbol || !exDate) return undefined;
  return { symbol, type: 'cash_dividend', exDate, oldRate: null, newRate: null, cash: num(record.cash_amount), otherSymbol: null, id: text(record.id) ?? '' };
}

async function paged(http: HttpClient, baseUrl: string, firstUrl: string, signal: AbortSignal, each: (record: MassiveRecord) => void): Promise<void> {
  let url: string | undefined = firstUrl;
  const seen = new Set<string>();
  while (url !== undefined) {
    const page: MassivePage = await http.getJson<MassivePage>(url, signal, (value) =>
      value && typeof value === 'object' && (value as { status?: unknown }).status === 'OK' ? undefined : 'status is not OK',
    );
    for (const record of Array.isArray(page?.results) ? page.results : []) each(record);
    url = page?.next_url ? followNextUrl(baseUrl, page.next_url) : undefined;
    if (url !== undefined) {
      if (seen.has(url)) throw new Error(`Massive repeated the page ${page?.next_url}`);
      seen.add(url);
    }
  }
}

export async function loadMassiveCorporateActions(http: HttpClient, baseUrl: string, symbols: readonly string[], from: IsoDate, to: IsoDate, signal: AbortSignal): Promise<CorporateAction[]> {
  const out: CorporateAction[] = [];
  const base = baseUrl.replace(/\/+$/, '');
  for (let i = 0; i < symbols.length; i += TICKERS_PER_REQUEST) {
    const tickers = symbols.slice(i, i + TICKERS_PER_REQUEST).join(',');
    const splits = new URLSearchParams({ 'ticker.any_of': tickers, 'execution_date.gte': from, 'execution_date.lte': to, limit: String(PAGE_LIMIT), sort: 'execution_date.asc' });
    await paged(http, baseUrl, `${base}/stocks/v1/splits?${splits.toString()}`, signal, (r) => {
      const a = splitOf(r);
      if (a) out.push(a);
    });
    const dividends = new URLSearchParams({ 'ticker.any_of': tickers, 'ex_dividend_date.gte': from, 'ex_dividend_date.lte': to, limit: String(PAGE_LIMIT), sort: 'ex_dividend_date.asc' });
    await paged(http, baseUrl, `${base}/stocks/v1/dividends?${dividends.toString()}`, signal, (r) => {
      const a = dividendOf(r);
      if (a) out.push(a);
    });
  }
  return out;
}
