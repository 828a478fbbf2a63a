/** Symbol lists: trimmed, upper-cased, validated and de-duplicated in order. */
import { normalizeSymbol } from '../shared/symbol.js';

export interface SymbolEntry {
  raw: string;
  /** 1-based line number in the source file, or argument position. */
  line: number;
}

export interface InvalidSymbol extends SymbolEntry {
  reason: string;
}

export interface NormalizedList {
  symbols: string[];
  invalid: InvalidSymbol[];
  /** Symbols that appeared more than once (kept at their first position). */
  duplicates: string[];
}

/** Trim, upper-case, validate and de-duplicate in order. */
export function normalizeList(entries: readonly SymbolEntry[]): NormalizedList {
  const seen = new Set<string>();
  const symbols: string[] = [];
  const invalid: InvalidSymbol[] = [];
  const duplicates: string[] = [];
  for (const entry of entries) {
    const verdict = normalizeSymbol(entry.raw);
    if (!verdict.ok) {
      invalid.push({ ...entry, reason: verdict.reason });
      continue;
    }
    if (seen.has(verdict.symbol)) {
      if (!duplicates.includes(verdict.symbol)) duplicates.push(verdict.symbol);
      continue;
    }
    seen.add(verdict.symbol);
    symbols.push(verdict.symbol);
  }
  return { symbols, invalid, duplicates };
}
