/**
 * Ticker normalization. A symbol becomes a directory name in the lake, so anything that is not a
 * plausible US ticker is rejected here, before a single request is made.
 */

/** A root of 1–5 letters, then either digits/letters (rare tickers like "BF.B", "GOOGL") or a class. */
const CLASS_SEPARATED = /^([A-Z]{1,5})[-/.]([A-Z]{1,2})$/;
/** Plain tickers: letters and digits, starting with a letter; up to 10 characters covers OTC names. */
const PLAIN = /^[A-Z][A-Z0-9]{0,9}$/;

export type SymbolVerdict = { ok: true; symbol: string } | { ok: false; reason: string };

export function normalizeSymbol(raw: string): SymbolVerdict {
  const trimmed = raw.trim();
  if (trimmed === '') return { ok: false, reason: 'empty symbol' };
  // Control characters and inner whitespace can never be part of a ticker.
  if (/[\s\p{Cc}]/u.test(trimmed)) return { ok: false, reason: 'contains whitespace or a control character' };
  const upper = trimmed.toUpperCase();
  const classed = CLASS_SEPARATED.exec(upper);
  if (classed) return { ok: true, symbol: `${classed[1]}.${classed[2]}` };
  if (PLAIN.test(upper)) return { ok: true, symbol: upper };
  if (upper.includes('/')) return { ok: false, reason: "contains '/' that is not a share-class separator" };
  if (upper.includes('..')) return { ok: false, reason: "contains '..'" };
  return { ok: false, reason: 'not a plausible US ticker (letters, digits and one class suffix like BRK.B)' };
}
