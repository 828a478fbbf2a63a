/**
 * What a source's reference services returned (trading calendar, listed symbols), kept in the
 * lake's metadata so later runs, `status` and `verify` need no request: `metadata/cache/<source>/`.
 */
import fs from 'node:fs/promises';
import { writeFileAtomic } from '../shared/atomic-file.js';
import { metadataDir } from '../shared/lake-paths.js';

export type CacheName = 'calendar' | 'listings';

interface Cached<T> {
  fetched_at: string;
  data: T;
}

function cacheFile(storage: string, source: string, name: CacheName): string {
  if (!/^[a-z0-9-]+$/.test(source)) throw new Error(`invalid source name ${JSON.stringify(source)}`);
  return metadataDir(storage, 'cache', source, `${name}.json`);
}

/** The cached value if it is younger than `maxAgeMs`; anything unreadable counts as absent. */
export async function readCache<T>(storage: string, source: string, name: CacheName, maxAgeMs: number): Promise<T | undefined> {
  try {
    const cached = JSON.parse(await fs.readFile(cacheFile(storage, source, name), 'utf8')) as Cached<T>;
    return Date.now() - Date.parse(cached.fetched_at) < maxAgeMs ? cached.data : undefined;
  } catch {
    return undefined;
  }
}

export async function writeCache<T>(storage: string, source: string, name: CacheName, data: T): Promise<void> {
  const cached: Cached<T> = { fetched_at: new Date().toISOString(), data };
  await writeFileAtomic(cacheFile(storage, source, name), `${JSON.stringify(cached)}\n`);
}
