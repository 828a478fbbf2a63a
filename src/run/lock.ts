/**
 * One ingest per lake. The lock is DuckDB's exclusive OS file lock on a tiny database file: the OS
 * drops it when the holder dies, even on SIGKILL, so there is never a stale lock to clean by hand.
 * A JSON file beside it names the holder for the error message; it is informational only.
 */
import fs from 'node:fs/promises';
import type { DuckDBInstance } from '@duckdb/node-api';
import { duckdb } from '../lake/duck.js';
import { CannotProceedError } from '../shared/errors.js';
import { writeFileAtomic } from '../shared/atomic-file.js';
import { metadataDir } from '../shared/lake-paths.js';

export interface LockHolder {
  pid: number;
  started_at: string;
}

/** Lakes locked by this process: the OS lock is per process, so two runs in one process need this too. */
const heldHere = new Set<string>();

export class RunLock {
  private constructor(private readonly instance: DuckDBInstance, private readonly infoFile: string, private readonly key: string) {}

  static async acquire(storage: string): Promise<RunLock> {
    const lockFile = metadataDir(storage, 'run.lock');
    const infoFile = metadataDir(storage, 'run.lock.json');
    await fs.mkdir(metadataDir(storage), { recursive: true });
    const key = await fs.realpath(storage);
    if (heldHere.has(key)) throw new CannotProceedError(`another ingest is running on ${storage} (in this process, pid ${process.pid}); wait for it to finish`);
    heldHere.add(key);
    try {
      return await RunLock.acquireOs(lockFile, infoFile, storage, key);
    } catch (error) {
      heldHere.delete(key);
      throw error;
    }
  }

  private static async acquireOs(lockFile: string, infoFile: string, storage: string, key: string): Promise<RunLock> {
    let instance: DuckDBInstance;
    try {
      instance = await duckdb.DuckDBInstance.create(lockFile);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (!/lock/i.test(message)) throw new CannotProceedError(`cannot open the run lock ${lockFile}: ${message.split('\n')[0]}`);
      const holder = await readHolder(infoFile);
      const pid = holder?.pid ?? /PID (\d+)/.exec(message)?.[1] ?? 'unknown';
      const since = holder ? `, started ${holder.started_at}` : '';
      throw new CannotProceedError(`another ingest is running on ${storage} (pid ${pid}${since}); wait for it to finish or stop it`);
    }
    const holder: LockHolder = { pid: process.pid, started_at: new Date().toISOString() };
    await writeFileAtomic(infoFile, `${JSON.stringify(holder)}\n`);
    return new RunLock(instance, infoFile, key);
  }

  async release(): Promise<void> {
    try {
      await fs.rm(this.infoFile, { force: true });
      this.instance.closeSync();
    } finally {
      heldHere.delete(this.key);
    }
  }
}

async function readHolder(file: string): Promise<LockHolder | undefined> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as LockHolder;
  } catch {
    return undefined;
  }
}
