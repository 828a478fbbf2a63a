/**
 * Massive's integer codes in ticks (exchanges, conditions, tapes, corrections) as the lake's text
 * dictionary codes: one mapping for REST pages and flat files, so both store the same rows. Codes
 * are cached by value, so a day of ticks allocates a string per distinct value, not per row.
 */
import { TEXT_CODES, TEXT_LIST_CODES } from '../../lake/text-codes.js';

/** TEXT_CODES of small integers' decimal text by value, 0 until first seen. */
const SMALL_INTEGER_TEXT = new Float64Array(1024);

/** An integer code as its decimal text. */
export function integerText(n: number): number {
  if (n >= 0 && n < SMALL_INTEGER_TEXT.length) return SMALL_INTEGER_TEXT[n] || (SMALL_INTEGER_TEXT[n] = TEXT_CODES.code(String(n)));
  return TEXT_CODES.code(String(n));
}

/** An optional integer code (a quote side's exchange, a correction): 0 is none (NULL). */
export function nonZeroText(n: number): number {
  return n === 0 ? 0 : integerText(n);
}

/** Massive numbers the tapes 1, 2, 3 for A, B, C, the letters the lake stores (as Alpaca sends them). */
const TAPE_LETTERS = ['A', 'B', 'C'].map((letter) => TEXT_CODES.code(letter));

export function tapeText(n: number): number {
  // An undocumented tape keeps its number rather than being lost.
  return n >= 1 && n <= 3 ? TAPE_LETTERS[n - 1] : n === 0 ? 0 : integerText(n);
}

/**
 * TEXT_LIST_CODES of lists of up to 5 integers in 0..1023 (every condition list seen in practice) by
 * a packed key: each value in 10 bits, then the length in 3, exact below 2^53.
 */
const PACKED_LISTS = new Map<number, number>();

/** A list of integer codes (read, not kept) as a list of their decimal texts. */
export function integerListCode(values: readonly number[]): number {
  let key = 0;
  for (const n of values) {
    if (values.length > 5 || !(n >= 0 && n < 1024)) return TEXT_LIST_CODES.code(values.map(String));
    key = key * 1024 + n;
  }
  key = key * 8 + values.length;
  let code = PACKED_LISTS.get(key);
  if (code === undefined) {
    code = TEXT_LIST_CODES.code(values.map(String));
    PACKED_LISTS.set(key, code);
  }
  return code;
}
