/** Reading symbol lists: CSV files (column found by header), plain text files, and arguments. */
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { UsageError } from '../shared/errors.js';
import type { SymbolEntry } from './symbols.js';

function readText(file: string): string {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(code === 'ENOENT' ? `list file ${file} does not exist; check the path` : `cannot read list file ${file} (${code}); check its permissions`);
  }
  if (stat.isDirectory()) throw new UsageError(`list file ${file} is a directory; pass a file`);
  try {
    return fs.readFileSync(file, 'utf8').replace(/^\uFEFF/, '');
  } catch (error) {
    throw new UsageError(`cannot read list file ${file} (${(error as NodeJS.ErrnoException).code}); check its permissions`);
  }
}

const SYMBOL_HEADERS = ['symbol', 'ticker', 'symbols', 'tickers'];

/** Symbols from a CSV file's symbol column (by header, or `column` by name). Line numbers are the file's. */
export function readCsvList(file: string, column?: string): SymbolEntry[] {
  const text = readText(file);
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(text, { relax_column_count: true, skip_empty_lines: true, info: true, trim: false }) as unknown as { record: string[]; info: { lines: number } }[];
  } catch (error) {
    const detail = (error as Error).message.split('\n')[0];
    throw new UsageError(`${file} is not valid CSV: ${detail}; fix the file (quote fields that contain commas)`);
  }
  if (records.length === 0) throw new UsageError(`${file} is empty; it needs a header row with a Symbol or Ticker column and one row per symbol`);
  const header = records[0].record.map((h) => h.trim());
  const wanted = column?.trim().toLowerCase();
  const index = wanted !== undefined ? header.findIndex((h) => h.toLowerCase() === wanted) : header.findIndex((h) => SYMBOL_HEADERS.includes(h.toLowerCase()));
  if (index < 0) {
    const found = header.map((h) => JSON.stringify(h)).join(', ');
    throw new UsageError(
      wanted !== undefined
        ? `${file} has no column named ${JSON.stringify(column)} (columns: ${found}); pass an existing column with --column`
        : `${file} has no Symbol or Ticker column (columns: ${found}); name the column with --column NAME`,
    );
  }
  const entries: SymbolEntry[] = [];
  for (const { record, info } of records.slice(1)) {
    const cell = record[index];
    // Rows that are entirely blank are not symbols; a row with an empty symbol cell is reported.
    if (record.every((c) => c.trim() === '')) continue;
    entries.push({ raw: cell ?? '', line: info.lines });
  }
  return entries;
}

/** One symbol per line; `#` starts a comment; blank lines are skipped. */
export function readTextList(file: string): SymbolEntry[] {
  const text = readText(file);
  const entries: SymbolEntry[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    const content = line.replace(/#.*$/, '');
    if (content.trim() === '') return;
    entries.push({ raw: content, line: i + 1 });
  });
  return entries;
}

/** Default index name for a list file: its base name, lower-case, with non-alphanumerics as "_". */
export function indexNameFromFile(file: string): string {
  return path
    .basename(file, path.extname(file))
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
}
