/**
 * The ledger: per dataset and symbol, the time ranges fetched successfully (empty ones included, so
 * holidays and pre-IPO years are never asked for again), the partitions known to hold data, and the
 * last outcome. It is updated only after the data it describes is committed, so a crash can cause a
 * re-fetch but never a false "covered". Stored as JSON lines (one symbol per line) that DuckDB reads
 * with read_json, and replaced atomically.
 */
import fs from 'node:fs/promises';
import { fileExists, writeFileAtomic } from '../shared/atomic-file.js';
import { type Interval, normalize, subtract, union } from '../shared/intervals.js';
import { metadataDir, type PartitionKey, partitionBounds, partitionFile, partitionId, partitionKeyOf } from '../shared/lake-paths.js';

export type Outcome = 'ok' | 'no_data' | 'failed';

export interface LedgerEntry {
  symbol: string;
  covered: Interval[];
  /** Partitions ("YYYY-MM") this ledger has written data to. */
  partitions: string[];
  rows_written: number;
  first_bar: number | undefined;
  last_bar: number | undefined;
  last_outcome: Outcome | undefined;
  last_reason: string | undefined;
  last_run_at: string | undefined;
  inactive: boolean;
  /** Provider-adjusted datasets: when the symbol's whole history was last fetched (its adjustment basis). */
  history_fetched_at: number | undefined;
}

interface StoredEntry {
  symbol: string;
  covered: { start: string; end: string }[];
  partitions: string[];
  rows_written: number;
  first_bar: string | null;
  last_bar: string | null;
  last_outcome: Outcome | null;
  last_reason: string | null;
  last_run_at: string | null;
  inactive: boolean;
  history_fetched_at?: string | null;
}

export function ledgerFile(storage: string, dataset: string): string {
  return metadataDir(storage, 'ledger', `${dataset}.jsonl`);
}

/** The version (ETag) of each session file ingested into a dataset, by New York date. */
export function versionsFile(storage: string, dataset: string): string {
  return metadataDir(storage, 'ledger', `${dataset}.versions.json`);
}

async function readOptional(file: string): Promise<string> {
  return fs.readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return '';
    throw error;
  });
}

const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());
const ms = (value: string | null): number | undefined => (value === null ? undefined : Date.parse(value));

export class Ledger {
  private readonly entries = new Map<string, LedgerEntry>();
  private readonly versions = new Map<string, string>();
  private saving: Promise<void> = Promise.resolve();
  private dirty = false;

  private constructor(readonly storage: string, readonly dataset: string) {}

  /** Nothing is recorded as held: no symbol has a covered window or a partition, and no session version is kept. */
  holdsNothing(): boolean {
    return this.versions.size === 0 && [...this.entries.values()].every((e) => e.covered.length === 0 && e.partitions.length === 0);
  }

  /** The first instant any symbol of the dataset is covered from (UTC ms), if any is. */
  earliestCovered(): number | undefined {
    let first: number | undefined;
    for (const e of this.entries.values()) if (e.covered.length > 0 && (first === undefined || e.covered[0].start < first)) first = e.covered[0].start;
    return first;
  }

  /** Remove the dataset's ledger files, once any save in flight is done (a dataset that holds nothing). */
  async discard(): Promise<void> {
    await this.saving.catch(() => undefined);
    this.entries.clear();
    this.versions.clear();
    this.dirty = false;
    await Promise.all([fs.rm(ledgerFile(this.storage, this.dataset), { force: true }), fs.rm(versionsFile(this.storage, this.dataset), { force: true })]);
  }

  static async load(storage: string, dataset: string): Promise<Ledger> {
    const ledger = new Ledger(storage, dataset);
    const versions = await readOptional(versionsFile(storage, dataset));
    if (versions.trim() !== '') for (const [date, version] of Object.entries(JSON.parse(versions) as Record<string, string>)) ledger.versions.set(date, version);
    const text = await readOptional(ledgerFile(storage, dataset));
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      const e = JSON.parse(line) as StoredEntry;
      ledger.entries.set(e.symbol, {
        symbol: e.symbol,
        covered: normalize(e.covered.map((c) => ({ start: Date.parse(c.start), end: Date.parse(c.end) }))),
        partitions: e.partitions ?? [],
        rows_written: e.rows_written ?? 0,
        first_bar: ms(e.first_bar),
        last_bar: ms(e.last_bar),
        last_outcome: e.last_outcome ?? undefined,
        last_reason: e.last_reason ?? undefined,
        last_run_at: e.last_run_at ?? undefined,
        inactive: e.inactive ?? false,
        history_fetched_at: ms(e.history_fetched_at ?? null),
      });
    }
    return ledger;
  }

  get(symbol: string): LedgerEntry | undefined {
    return this.entries.get(symbol);
  }

  all(): LedgerEntry[] {
    return [...this.entries.values()].sort((a, b) => (a.symbol < b.symbol ? -1 : 1));
  }

  private entry(symbol: string): LedgerEntry {
    let e = this.entries.get(symbol);
    if (!e) {
      e = { symbol, covered: [], partitions: [], rows_written: 0, first_bar: undefined, last_bar: undefined, last_outcome: undefined, last_reason: undefined, last_run_at: undefined, inactive: false, history_fetched_at: undefined };
      this.entries.set(symbol, e);
    }
    return e;
  }

  /**
   * Coverage that can be trusted: the recorded intervals minus the months of partitions the ledger
   * wrote but that are no longer on disk (deleted by hand, say) — those are fetched again.
   */
  async trustedCoverage(symbol: string): Promise<Interval[]> {
    const e = this.entries.get(symbol);
    if (!e || e.covered.length === 0) return [];
    const missing: Interval[] = [];
    for (const id of e.partitions) {
      const key = partitionKeyOf(symbol, id);
      const file = partitionFile(this.storage, this.dataset, key);
      const present = await fs.stat(file).then(() => true, () => false);
      if (!present) missing.push(partitionBounds(key));
    }
    return subtract(e.covered, missing);
  }

  /**
   * Whether the symbol has any trusted coverage: usually told by its first partition still on disk
   * (the coverage recorded with a present partition is never subtracted), without a stat per partition.
   */
  async hasTrustedCoverage(symbol: string): Promise<boolean> {
    const e = this.entries.get(symbol);
    if (!e || e.covered.length === 0) return false;
    for (const id of e.partitions) {
      if (await fileExists(partitionFile(this.storage, this.dataset, partitionKeyOf(symbol, id)))) return true;
    }
    return (await this.trustedCoverage(symbol)).length > 0;
  }

  /** A partition was published: its rows are on disk, and its share of the unit's window is covered. */
  recordPartition(key: PartitionKey, covered: readonly Interval[], rows: number, firstBar: number, lastBar: number): void {
    const e = this.entry(key.symbol);
    e.covered = union(e.covered, covered);
    if (!e.partitions.includes(partitionId(key))) e.partitions = [...e.partitions, partitionId(key)].sort();
    e.rows_written += rows;
    e.first_bar = Math.min(e.first_bar ?? Infinity, firstBar);
    e.last_bar = Math.max(e.last_bar ?? -Infinity, lastBar);
    this.dirty = true;
  }

  /** A partition's file was removed (its period has no rows any more). */
  removePartition(key: PartitionKey): void {
    const e = this.entries.get(key.symbol);
    const id = partitionId(key);
    if (!e?.partitions.includes(id)) return;
    e.partitions = e.partitions.filter((p) => p !== id);
    this.dirty = true;
  }

  /** A unit finished for this symbol: its whole window is covered, stretches without data included. */
  recordCovered(symbol: string, interval: Interval): void {
    const e = this.entry(symbol);
    e.covered = union(e.covered, [interval]);
    this.dirty = true;
  }

  /** The version of a session's data the dataset holds, if it came from a versioned source. */
  sessionVersion(date: string): string | undefined {
    return this.versions.get(date);
  }

  /** Sessions ingested from these versions (recorded with their unit's coverage). */
  recordVersions(versions: Readonly<Record<string, string>>): void {
    for (const [date, version] of Object.entries(versions)) this.versions.set(date, version);
    this.dirty = true;
  }

  /** Symbols whose coverage includes the instant. */
  symbolsCovering(instant: number): string[] {
    return this.all()
      .filter((e) => e.covered.some((c) => c.start <= instant && instant < c.end))
      .map((e) => e.symbol);
  }

  /** The partitions holding the symbol's data, renamed after the dataset was repartitioned. */
  replacePartitions(symbol: string, ids: readonly string[]): void {
    const e = this.entry(symbol);
    e.partitions = [...new Set(ids)].sort();
    this.dirty = true;
  }

  recordOutcome(symbol: string, outcome: Outcome, reason?: string): void {
    const e = this.entry(symbol);
    e.last_outcome = outcome;
    e.last_reason = reason;
    e.last_run_at = new Date().toISOString();
    this.dirty = true;
  }

  /**
   * When a symbol's stored history was fetched whole (provider-adjusted datasets: its basis): as
   * recorded, or for a symbol held since before that was recorded, the beginning of time (any
   * relevant action puts it on an unknown basis); undefined for a symbol the dataset does not hold.
   */
  historyBasis(symbol: string): number | undefined {
    const e = this.entries.get(symbol);
    if (!e || e.covered.length === 0) return undefined;
    return e.history_fetched_at ?? 0;
  }

  /** The symbol's whole history was fetched at `at` (provider-adjusted datasets: its basis). */
  recordHistoryFetched(symbol: string, at: number): void {
    this.entry(symbol).history_fetched_at = at;
    this.dirty = true;
  }

  markInactive(symbol: string, inactive: boolean): void {
    const e = this.entry(symbol);
    if (e.inactive !== inactive) {
      e.inactive = inactive;
      this.dirty = true;
    }
  }

  /** Persist atomically; concurrent calls are serialized and coalesced. */
  save(): Promise<void> {
    // A failed save must not fail every later one, nor lose what it was to write.
    this.saving = this.saving.catch(() => undefined).then(async () => {
      if (!this.dirty) return;
      this.dirty = false;
      const lines = this.all().map((e) => {
        const stored: StoredEntry = {
          symbol: e.symbol,
          covered: e.covered.map((c) => ({ start: new Date(c.start).toISOString(), end: new Date(c.end).toISOString() })),
          partitions: e.partitions,
          rows_written: e.rows_written,
          first_bar: iso(e.first_bar),
          last_bar: iso(e.last_bar),
          last_outcome: e.last_outcome ?? null,
          last_reason: e.last_reason ?? null,
          last_run_at: e.last_run_at ?? null,
          inactive: e.inactive,
          history_fetched_at: iso(e.history_fetched_at),
        };
        return JSON.stringify(stored);
      });
      try {
        // Versions first: a crash between the two writes re-fetches a session, never skips one.
        if (this.versions.size > 0) {
          const versions = Object.fromEntries([...this.versions.entries()].sort(([a], [b]) => (a < b ? -1 : 1)));
          await writeFileAtomic(versionsFile(this.storage, this.dataset), `${JSON.stringify(versions, null, 1)}\n`);
        }
        await writeFileAtomic(ledgerFile(this.storage, this.dataset), lines.length ? `${lines.join('\n')}\n` : '');
      } catch (error) {
        this.dirty = true;
        throw error;
      }
    });
    return this.saving;
  }
}
