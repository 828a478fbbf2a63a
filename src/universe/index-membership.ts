/**
 * Point-in-time index membership: `metadata/indices/<NAME>.csv` with symbol, first_seen, last_seen,
 * in_latest. A symbol that leaves the list keeps its row with in_latest=false, so history survives.
 */
import fs from 'node:fs/promises';
import { writeFileAtomic } from '../shared/atomic-file.js';
import { metadataDir } from '../shared/lake-paths.js';
import { UsageError } from '../shared/errors.js';

export interface MembershipRow {
  symbol: string;
  first_seen: string;
  last_seen: string;
  in_latest: boolean;
  /** The provider lists the symbol as inactive (delisted). */
  inactive: boolean;
}

export const INDEX_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

export function indexFile(storage: string, name: string): string {
  if (!INDEX_NAME.test(name)) throw new UsageError(`invalid --index-name ${JSON.stringify(name)}; use letters, digits, "_" and "-"`);
  return metadataDir(storage, 'indices', `${name}.csv`);
}

export function parseMembership(text: string): MembershipRow[] {
  const rows: MembershipRow[] = [];
  for (const line of text.split(/\r?\n/).slice(1)) {
    if (line.trim() === '') continue;
    const [symbol, first_seen, last_seen, in_latest, inactive] = line.split(',');
    rows.push({ symbol, first_seen, last_seen, in_latest: in_latest === 'true', inactive: inactive === 'true' });
  }
  return rows;
}

/** Pure: merge today's list into the stored membership rows. */
export function mergeMembership(existing: readonly MembershipRow[], current: readonly string[], today: string, inactive: ReadonlySet<string> = new Set()): MembershipRow[] {
  const bySymbol = new Map(existing.map((r) => [r.symbol, { ...r, in_latest: false }]));
  for (const symbol of current) {
    const row = bySymbol.get(symbol);
    if (row) {
      row.last_seen = today;
      row.in_latest = true;
      row.inactive = inactive.has(symbol);
    } else {
      bySymbol.set(symbol, { symbol, first_seen: today, last_seen: today, in_latest: true, inactive: inactive.has(symbol) });
    }
  }
  return [...bySymbol.values()].sort((a, b) => (a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : 0));
}

export function renderMembership(rows: readonly MembershipRow[]): string {
  return `symbol,first_seen,last_seen,in_latest,inactive\n${rows.map((r) => `${r.symbol},${r.first_seen},${r.last_seen},${r.in_latest},${r.inactive}`).join('\n')}${rows.length ? '\n' : ''}`;
}

export async function updateIndexMembership(storage: string, name: string, symbols: readonly string[], today: string, inactive: ReadonlySet<string>): Promise<string> {
  const file = indexFile(storage, name);
  await writeFileAtomic(file, renderMembership(mergeMembership(await loadIndexMembership(storage, name), symbols, today, inactive)));
  return file;
}

/** The stored membership rows of an index (empty when it was never recorded). */
export async function loadIndexMembership(storage: string, name: string): Promise<MembershipRow[]> {
  const text = await fs.readFile(indexFile(storage, name), 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return '';
    throw error;
  });
  return parseMembership(text);
}
