/** Where Massive keeps its stock flat files: one object per dataset and trading day. Pure functions. */
import type { IsoDate } from '../../shared/time.js';
import type { Timeframe } from '../../shared/timeframe.js';
import type { SessionData } from '../types.js';

const ROOT = 'us_stocks_sip';
const BAR_DATASETS: Readonly<Record<string, string>> = { '1Min': 'minute_aggs_v1', '1Day': 'day_aggs_v1' };
const TICK_DATASETS = { trades: 'trades_v1', quotes: 'quotes_v1' } as const;

/** The timeframes flat files hold. */
export const FLAT_FILE_TIMEFRAMES: readonly string[] = Object.keys(BAR_DATASETS);

export function isFlatFileTimeframe(tf: Timeframe): boolean {
  return Object.hasOwn(BAR_DATASETS, tf.api);
}

/** The dataset (a key's second segment) holding this data. */
export function flatFileDataset(data: SessionData): string {
  if (data.kind !== 'bars') return TICK_DATASETS[data.kind];
  const dataset = BAR_DATASETS[data.timeframe.api];
  if (!dataset) throw new Error(`no flat files of ${data.timeframe.api} bars`);
  return dataset;
}

/** `us_stocks_sip/minute_aggs_v1/2024/03/2024-03-07.csv.gz` */
export function flatFileKey(data: SessionData, date: IsoDate): string {
  return `${ROOT}/${flatFileDataset(data)}/${date.slice(0, 4)}/${date.slice(5, 7)}/${date}.csv.gz`;
}

/** The date of a day file's key, or undefined for any other object. */
export function flatFileDate(key: string, data: SessionData): IsoDate | undefined {
  const m = new RegExp(`^${ROOT}/${flatFileDataset(data)}/\\d{4}/\\d{2}/(\\d{4}-\\d{2}-\\d{2})\\.csv\\.gz$`).exec(key);
  return m ? m[1] : undefined;
}

/** Listing prefixes covering [from, to]: one per year (a year holds ~252 keys, one listing page). */
export function flatFilePrefixes(data: SessionData, from: IsoDate, to: IsoDate): string[] {
  const out: string[] = [];
  for (let year = +from.slice(0, 4); year <= +to.slice(0, 4); year++) out.push(`${ROOT}/${flatFileDataset(data)}/${year}/`);
  return out;
}
