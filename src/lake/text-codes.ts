/**
 * Text columns travel from a source to the writer as dictionary codes, not strings: a tick's
 * exchange, tape, condition list and correction flag come from small sets, and a string per value
 * would be millions of allocations a day of quotes. Codes are interned for the life of the process
 * (so they stay valid in any batch) and 0 is NULL; the writer turns codes back into text in SQL.
 */
import { sqlString } from './duck.js';

export class TextCodes {
  private readonly codes = new Map<string, number>();
  /** values[code]; values[0] is NULL. */
  readonly values: (string | null)[] = [null];

  code(text: string): number {
    let code = this.codes.get(text);
    if (code === undefined) {
      code = this.values.length;
      this.values.push(text);
      this.codes.set(text, code);
    }
    return code;
  }

  /** A SQL list literal indexed by code (DuckDB lists are 1-based, and index 0 gives NULL). */
  sql(): string {
    return `[${this.values.slice(1).map((v) => sqlString(v!)).join(', ')}]::VARCHAR[]`;
  }
}

export class TextListCodes {
  private readonly codes = new Map<string, number>();
  readonly values: (readonly string[] | null)[] = [null];

  code(list: readonly string[]): number {
    // The length first: [] and [''] are different lists.
    const key = `${list.length}\u0000${list.join('\u0000')}`;
    let code = this.codes.get(key);
    if (code === undefined) {
      code = this.values.length;
      this.values.push([...list]);
      this.codes.set(key, code);
    }
    return code;
  }

  sql(): string {
    return `[${this.values.slice(1).map((v) => `[${v!.map(sqlString).join(', ')}]::VARCHAR[]`).join(', ')}]::VARCHAR[][]`;
  }
}

/** The process's dictionaries, shared by every source and writer. */
export const TEXT_CODES = new TextCodes();
export const TEXT_LIST_CODES = new TextListCodes();
