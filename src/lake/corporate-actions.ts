/**
 * Corporate actions as the lake keeps them: one Parquet file per source
 * (`metadata/corporate_actions/<source>.parquet`), one row per action, readable by any Parquet
 * reader, replaced atomically. A refresh replaces the rows of the symbols and dates it asked for,
 * so reruns leave the file as it was. Read-time adjustment (the `_split_adjusted` views) builds on it.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { fileExists, publishFiles } from '../shared/atomic-file.js';
import { metadataDir } from '../shared/lake-paths.js';
import { type IsoDate, nyDateOf } from '../shared/time.js';
import { connectUtc, sqlString } from './duck.js';

/** One corporate action as a provider lists it: the numbers as given, nothing derived. */
export interface CorporateAction {
  /** For a name change, the old symbol. */
  symbol: string;
  /** The provider's kind: forward_split, reverse_split, stock_dividend, cash_dividend, spin_off, name_change, … */
  type: string;
  exDate: IsoDate;
  /** Splits and spin-offs: old shares → new shares. */
  oldRate: number | null;
  newRate: number | null;
  /** Cash dividends: cash per share. */
  cash: number | null;
  /** Name changes and spin-offs: the other symbol. */
  otherSymbol: string | null;
  /** The provider's id of the record. */
  id: string;
}

/** `first_seen`: when the lake first listed the action as it stands (a corrected record is seen anew). */
const COLUMNS = `symbol VARCHAR, "type" VARCHAR, ex_date DATE, old_rate DOUBLE, new_rate DOUBLE, cash_amount DOUBLE, other_symbol VARCHAR, id VARCHAR, first_seen TIMESTAMPTZ`;
const SAME_RECORD = ['symbol', '"type"', 'ex_date', 'id'];
const SAME_NUMBERS = ['old_rate', 'new_rate', 'cash_amount', 'other_symbol'];
/**
 * Types whose old → new rate changes the share count, and so every earlier price (a stock dividend
 * counts where the source gives it as old → new shares).
 */
export const SPLIT_TYPES = ['forward_split', 'reverse_split', 'stock_dividend'] as const;

export function actionsFile(storage: string, source: string): string {
  return metadataDir(storage, 'corporate_actions', `${source}.parquet`);
}

/** An action as `status` lists it. */
export interface ListedAction {
  symbol: string;
  type: string;
  ex_date: string;
  old_rate: number | null;
  new_rate: number | null;
  cash_amount: number | null;
  other_symbol: string | null;
}

/** The actions the lake holds for a symbol (under its name, or naming it as the new one), by ex-date. */
export async function actionsOf(connection: DuckDBConnection, storage: string, source: string, symbol: string): Promise<ListedAction[]> {
  const file = actionsFile(storage, source);
  if (!(await fileExists(file))) return [];
  const reader = await connection.runAndReadAll(
    `SELECT symbol, "type", CAST(ex_date AS VARCHAR), old_rate, new_rate, cash_amount, other_symbol FROM read_parquet(${sqlString(file)})
     WHERE symbol = ${sqlString(symbol)} OR other_symbol = ${sqlString(symbol)} ORDER BY ex_date, "type"`,
  );
  return (reader.getRows() as [string, string, string, number | null, number | null, number | null, string | null][]).map(([s, type, exDate, oldRate, newRate, cash, other]) => ({
    symbol: s,
    type,
    ex_date: exDate,
    old_rate: oldRate,
    new_rate: newRate,
    cash_amount: cash,
    other_symbol: other,
  }));
}

export interface KnownAction {
  symbol: string;
  type: string;
  exDate: IsoDate;
  /** When the lake first listed it, UTC ms. */
  firstSeen: number;
}

/** Every action the lake holds for the symbols, with when it was first listed. */
export async function knownActions(connection: DuckDBConnection, storage: string, source: string, symbols: readonly string[]): Promise<KnownAction[]> {
  const file = actionsFile(storage, source);
  if (symbols.length === 0 || !(await fileExists(file))) return [];
  const reader = await connection.runAndReadAll(
    `SELECT symbol, "type", CAST(ex_date AS VARCHAR), epoch_ms(first_seen)::DOUBLE FROM read_parquet(${sqlString(file)}) WHERE symbol IN (${symbols.map(sqlString).join(', ')})`,
  );
  return (reader.getRows() as [string, string, string, number][]).map(([symbol, type, exDate, firstSeen]) => ({ symbol, type, exDate, firstSeen }));
}

export function actionsGlob(storage: string): string {
  return metadataDir(storage, 'corporate_actions', '*.parquet');
}

const sqlNumber = (n: number | null): string => (n === null || !Number.isFinite(n) ? 'NULL' : String(n));
const sqlText = (t: string | null): string => (t === null ? 'NULL' : sqlString(t));

/**
 * Replace the source's actions of `symbols` with ex-dates in [from, to] by `actions`; an action
 * listed again unchanged keeps its `first_seen`, and a file that would not change is not rewritten.
 * Returns the rows held in all.
 */
export async function storeActions(duck: DuckDBInstance, storage: string, source: string, symbols: readonly string[], from: IsoDate, to: IsoDate, actions: readonly CorporateAction[], stagingDir: string): Promise<number> {
  const target = actionsFile(storage, source);
  const temp = path.join(stagingDir, `corporate-actions-${source}.parquet.tmp`);
  await fs.mkdir(path.dirname(target), { recursive: true });
  const exists = await fileExists(target);
  const connection = await connectUtc(duck);
  try {
    await connection.run(`CREATE OR REPLACE TEMP TABLE fresh_actions (${COLUMNS})`);
    if (actions.length > 0) {
      const rows = actions.map((a) => `(${[sqlString(a.symbol), sqlString(a.type), `DATE ${sqlString(a.exDate)}`, sqlNumber(a.oldRate), sqlNumber(a.newRate), sqlNumber(a.cash), sqlText(a.otherSymbol), sqlString(a.id), 'now()'].join(', ')})`);
      await connection.run(`INSERT INTO fresh_actions VALUES ${rows.join(', ')}`);
    }
    if (exists) {
      const same = [...SAME_RECORD, ...SAME_NUMBERS].map((c) => `f.${c} IS NOT DISTINCT FROM s.${c}`).join(' AND ');
      await connection.run(`UPDATE fresh_actions f SET first_seen = s.first_seen FROM read_parquet(${sqlString(target)}) s WHERE ${same}`);
    }
    const asked = symbols.map(sqlString).join(', ');
    const kept = exists
      ? `SELECT *, 1 AS age FROM read_parquet(${sqlString(target)}) WHERE NOT (symbol IN (${asked}) AND ex_date BETWEEN DATE ${sqlString(from)} AND DATE ${sqlString(to)})`
      : `SELECT *, 1 AS age FROM fresh_actions WHERE false`;
    // A record also listed under another symbol (a name change found by its new symbol) is kept once, the newest copy.
    await connection.run(
      `COPY (SELECT * EXCLUDE (age, rn) FROM (
               SELECT *, row_number() OVER (PARTITION BY ${SAME_RECORD.join(', ')} ORDER BY age) AS rn
               FROM (SELECT *, 0 AS age FROM fresh_actions UNION ALL ${kept}))
             WHERE rn = 1 ORDER BY symbol, ex_date, "type", id)
       TO ${sqlString(temp)} (FORMAT parquet, COMPRESSION zstd)`,
    );
    const count = await connection.runAndReadAll(`SELECT count(*)::INTEGER FROM read_parquet(${sqlString(temp)})`);
    const changed = !exists || Number((await connection.runAndReadAll(
      `SELECT count(*)::INTEGER FROM ((FROM read_parquet(${sqlString(temp)}) EXCEPT ALL FROM read_parquet(${sqlString(target)})) UNION ALL (FROM read_parquet(${sqlString(target)}) EXCEPT ALL FROM read_parquet(${sqlString(temp)})))`,
    )).getRows()[0][0]) > 0;
    if (changed) await publishFiles([{ temp, target }]);
    else await fs.rm(temp, { force: true });
    return Number(count.getRows()[0][0]);
  } finally {
    connection.closeSync();
  }
}

/**
 * A dataset's bars adjusted at read time, as of the newest action the lake knows, for bars before
 * each ex-date (by the bar's New York date): splits multiply prices by old ÷ new rate and divide
 * volume by it — exact ratios (4-for-1: 0.25); with dividends, a cash dividend also multiplies
 * prices by 1 − cash ÷ the close of the dataset's last bar before its ex-date.
 */
export function adjustedSql(barsView: string, storage: string, source: string, withDividends: boolean): string {
  const actions = `read_parquet(${sqlString(actionsFile(storage, source))})`;
  const nyDate = (ts: string): string => `CAST(timezone('America/New_York', ${ts}) AS DATE)`;
  // The same split listed twice (two records, one event) counts once.
  const splits = `SELECT symbol, ex_date, old_rate / new_rate AS price_ratio, old_rate / new_rate AS volume_ratio
                  FROM (SELECT DISTINCT symbol, ex_date, "type", old_rate, new_rate FROM ${actions}
                        WHERE "type" IN (${SPLIT_TYPES.map(sqlString).join(', ')}) AND old_rate > 0 AND new_rate > 0)`;
  const dividends = `SELECT d.symbol, d.ex_date, 1 - d.cash / b."close" AS price_ratio, 1.0 AS volume_ratio
                     FROM (SELECT symbol, ex_date, timezone('America/New_York', CAST(ex_date AS TIMESTAMP)) AS ex_start, sum(cash_amount) AS cash
                           FROM ${actions} WHERE "type" = 'cash_dividend' AND cash_amount > 0 GROUP BY ALL) d
                     ASOF JOIN ${barsView} b ON d.symbol = b.symbol AND d.ex_start > b."timestamp"
                     WHERE d.cash < b."close"`;
  const ratios = withDividends ? `${splits} UNION ALL ${dividends}` : splits;
  const factors = `SELECT symbol, ex_date,
                          coalesce(lag(ex_date) OVER (PARTITION BY symbol ORDER BY ex_date), DATE '0001-01-01') AS valid_from,
                          product(price_ratio) OVER later AS price_factor, product(volume_ratio) OVER later AS volume_factor
                   FROM (SELECT symbol, ex_date, product(price_ratio) AS price_ratio, product(volume_ratio) AS volume_ratio FROM (${ratios}) GROUP BY symbol, ex_date)
                   WINDOW later AS (PARTITION BY symbol ORDER BY ex_date DESC ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)`;
  return `SELECT * EXCLUDE (price_factor, volume_factor) REPLACE (
            "open" * price_factor AS "open", high * price_factor AS high, low * price_factor AS low, "close" * price_factor AS "close",
            vwap * price_factor AS vwap, CAST(round(volume / volume_factor) AS BIGINT) AS volume)
          FROM (SELECT b.*, coalesce(f.price_factor, 1.0) AS price_factor, coalesce(f.volume_factor, 1.0) AS volume_factor
                FROM ${barsView} b LEFT JOIN (${factors}) f
                  ON b.symbol = f.symbol AND ${nyDate('b."timestamp"')} >= f.valid_from AND ${nyDate('b."timestamp"')} < f.ex_date)`;
}

/*
 * Provider-adjusted history is adjusted as of the request: a relevant action the history has not
 * seen yet puts every earlier bar on another basis. Ingest fetches such symbols whole again, and
 * verify reports those it has not.
 */

/** The action types that change a provider's `adjustment` of earlier bars. */
export function relevantActionTypes(adjustment: string): string[] {
  const types = new Set<string>();
  for (const part of adjustment.split(',').map((p) => p.trim())) {
    if (part === 'split' || part === 'all') SPLIT_TYPES.forEach((t) => types.add(t));
    if (part === 'dividend' || part === 'all') types.add('cash_dividend');
    if (part === 'spin-off' || part === 'all') types.add('spin_off');
  }
  return [...types];
}

/**
 * Symbols whose stored history predates a relevant action in effect by `today`: one the lake listed
 * only after the history was fetched, or one whose ex-date came after it. Symbols never fetched
 * whole (undefined) have nothing to re-adjust.
 */
export function symbolsToReadjust(adjustment: string, actions: readonly KnownAction[], historyFetchedAt: (symbol: string) => number | undefined, today: IsoDate): string[] {
  const relevant = new Set(relevantActionTypes(adjustment));
  const out = new Set<string>();
  for (const a of actions) {
    if (!relevant.has(a.type) || a.exDate > today) continue;
    const fetched = historyFetchedAt(a.symbol);
    if (fetched === undefined) continue;
    // An action effective on the fetch day itself may not have been applied yet when the history was fetched.
    if (a.firstSeen > fetched || a.exDate >= nyDateOf(fetched)) out.add(a.symbol);
  }
  return [...out].sort();
}
