/**
 * Corporate actions as the lake keeps them: one Parquet file per source
 * (`metadata/corporate_actions/<source>.parquet`), one row per action, readable by any Parquet
 * reader, replaced atomically. A refresh replaces the rows of the symbols and dates it asked for,
 * so reruns leave the file as it was. Read-time adjustment (the `_split_adjusted` views) builds on it.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { DuckDBInstance } from '@duckdb/node-api';
import { publishFiles } from '../shared/atomic-file.js';
import { metadataDir } from '../shared/lake-paths.js';
import type { IsoDate } from '../shared/time.js';
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
/** Types whose old → new rate changes the share count, and so every earlier price. */
export const SPLIT_TYPES = ['forward_split', 'reverse_split', 'unit_split'] as const;

export function actionsFile(storage: string, source: string): string {
  return metadataDir(storage, 'corporate_actions', `${source}.parquet`);
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
  const exists = await fs.stat(target).then(() => true, () => false);
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
 * A dataset's bars with prices × the split factor and volume ÷ it, for bars before each ex-date:
 * the factor of a bar is the product of old ÷ new rate over the symbol's splits after its New York
 * date — exact ratios (4-for-1: 0.25), as of the newest action the lake knows.
 */
export function splitAdjustedSql(barsView: string, storage: string, source: string): string {
  const splits = `SELECT symbol, ex_date, old_rate / new_rate AS ratio FROM read_parquet(${sqlString(actionsFile(storage, source))})
                  WHERE "type" IN (${SPLIT_TYPES.map(sqlString).join(', ')}) AND old_rate > 0 AND new_rate > 0`;
  const factors = `SELECT symbol, ex_date,
                          coalesce(lag(ex_date) OVER (PARTITION BY symbol ORDER BY ex_date), DATE '0001-01-01') AS valid_from,
                          product(ratio) OVER (PARTITION BY symbol ORDER BY ex_date DESC ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS factor
                   FROM (SELECT symbol, ex_date, product(ratio) AS ratio FROM (${splits}) GROUP BY symbol, ex_date)`;
  return `SELECT * EXCLUDE (split_factor) REPLACE (
            "open" * split_factor AS "open", high * split_factor AS high, low * split_factor AS low, "close" * split_factor AS "close",
            vwap * split_factor AS vwap, CAST(round(volume / split_factor) AS BIGINT) AS volume)
          FROM (SELECT b.*, coalesce(f.factor, 1.0) AS split_factor
                FROM ${barsView} b LEFT JOIN (${factors}) f
                  ON b.symbol = f.symbol AND CAST(timezone('America/New_York', b."timestamp") AS DATE) >= f.valid_from
                 AND CAST(timezone('America/New_York', b."timestamp") AS DATE) < f.ex_date)`;
}
