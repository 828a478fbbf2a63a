/** Bar timeframes as the tool names them (`5Min`, `1Day`), and what the planner needs to know about each. */

export type TimeframeUnit = 'Min' | 'Hour' | 'Day' | 'Week' | 'Month';

export interface Timeframe {
  amount: number;
  unit: TimeframeUnit;
  /** Canonical API spelling, e.g. "5Min", "1Day". */
  api: string;
  /** Lower-case label used in dataset names, e.g. "5min", "1day". */
  label: string;
}

const ALIASES: Record<string, TimeframeUnit> = {
  min: 'Min', t: 'Min', hour: 'Hour', h: 'Hour', day: 'Day', d: 'Day', week: 'Week', w: 'Week', month: 'Month', m: 'Month',
};

export const TIMEFRAME_HELP = '1Min…59Min, 1Hour…23Hour, 1Day, 1Week, 1Month, 2Month, 3Month, 4Month, 6Month or 12Month';

export function parseTimeframe(value: string): Timeframe | undefined {
  const m = /^(\d{1,2})([A-Za-z]+)$/.exec(value.trim());
  if (!m) return undefined;
  const amount = Number(m[1]);
  const unit = ALIASES[m[2].toLowerCase()];
  if (!unit || amount < 1) return undefined;
  const valid =
    (unit === 'Min' && amount <= 59) ||
    (unit === 'Hour' && amount <= 23) ||
    ((unit === 'Day' || unit === 'Week') && amount === 1) ||
    (unit === 'Month' && [1, 2, 3, 4, 6, 12].includes(amount));
  if (!valid) return undefined;
  const api = `${amount}${unit}`;
  return { amount, unit, api, label: api.toLowerCase() };
}

export function isIntraday(tf: Timeframe): boolean {
  return tf.unit === 'Min' || tf.unit === 'Hour';
}

/** Bar length in minutes for intraday timeframes. */
export function intradayMinutes(tf: Timeframe): number {
  return tf.unit === 'Min' ? tf.amount : tf.amount * 60;
}

/** Minutes of an extended session, 04:00–20:00 New York. */
export const EXTENDED_SESSION_MINUTES = 16 * 60;

/**
 * Upper bound on bars one symbol can have in one session: extended hours (04:00–20:00 New York)
 * for intraday, one for daily. Weekly and monthly bars are fewer than one per session.
 */
export function maxBarsPerSession(tf: Timeframe): number {
  if (isIntraday(tf)) return Math.ceil(EXTENDED_SESSION_MINUTES / intradayMinutes(tf));
  if (tf.unit === 'Day') return 1;
  if (tf.unit === 'Week') return 1 / 4;
  return 1 / (19 * tf.amount);
}

export function defaultDatasetName(tf: Timeframe): string {
  return `equities_${tf.label}`;
}
