/** Where Massive keeps its stock flat files: one object per dataset and trading day. Pure functions. */
import type { IsoDate } from '../../shared/time.js';
import type { Timeframe } from '../../shared/timeframe.js';

const ROOT = 'us_stocks_sip';
const DATASETS: Readonly<Record<string, string>> = { '1Min': 'minute_aggs_v1', '1Day': 'day_aggs_v1' };

/** The timeframes flat files hold. */
export const FLAT_FILE_TIMEFRAMES: readonly string[] = Object.keys(DATASETS);

export function flatFileDataset(tf: Timeframe): string {
  const dataset = DATASETS[tf.api];
  if (!dataset) throw new Error(`no flat files of ${tf.api} bars`);
  return dataset;
}

/** `us_stocks_sip/minute_aggs_v1/2024/03/2024-03-07.csv.gz` */
export function flatFileKey(tf: Timeframe, date: IsoDate): string {
  return `${ROOT}/${flatFileDataset(tf)}/${date.slice(0, 4)}/${date.slice(5, 7)}/${date}.csv.gz`;
}

/** The date of a day file's key, or undefined for any other object. */
export function flatFileDate(key: string, tf: Timeframe): IsoDate | undefined {
  const m = new RegExp(`^${ROOT}/${flatFileDataset(tf)}/\\d{4}/\\d{2}/(\\d{4}-\\d{2}-\\d{2})\\.csv\\.gz$`).exec(key);
  return m ? m[1] : undefined;
}

/** Listing prefixes covering [from, to]: one per year (a year holds ~252 keys, one listing page). */
export function flatFilePrefixes(tf: Timeframe, from: IsoDate, to: IsoDate): string[] {
  const out: string[] = [];
  for (let year = +from.slice(0, 4); year <= +to.slice(0, 4); year++) out.push(`${ROOT}/${flatFileDataset(tf)}/${year}/`);
  return out;
}
