/**
 * What every ingest run does around its work, whatever the data kind: check the source's
 * credentials, make sure the storage is writable, hold the run lock, clean a crashed run's staging
 * area, and give back everything (lock, staging, DuckDB, the source's connections) however it ends.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { DuckDBInstance } from '@duckdb/node-api';
import { openDuckDB } from '../lake/duck.js';
import { CircuitBreaker } from '../net/circuit-breaker.js';
import type { RetryPolicy } from '../net/retry.js';
import { CannotProceedError, InterruptedError } from '../shared/errors.js';
import { stagingRoot } from '../shared/lake-paths.js';
import type { Source, SourceDefinition } from '../sources/types.js';
import type { EventBus } from './events.js';
import { RunLock } from './lock.js';

let probeCounter = 0;

export async function prepareStorage(storage: string): Promise<void> {
  try {
    const stat = await fs.stat(storage).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    if (stat && !stat.isDirectory()) throw new CannotProceedError(`storage path ${storage} is a file, not a directory; choose another storage directory`);
    await fs.mkdir(storage, { recursive: true });
    // Unique per call: two runs in one process (the library) must not remove each other's probe.
    const probe = path.join(storage, `.write-probe.${process.pid}.${++probeCounter}`);
    await fs.writeFile(probe, '');
    await fs.rm(probe);
  } catch (error) {
    if (error instanceof CannotProceedError) throw error;
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new CannotProceedError(`storage path ${storage} is not writable (${code}); fix its permissions or choose another storage directory`);
  }
}

export interface RunSessionOptions {
  storage: string;
  source: SourceDefinition;
  env: Readonly<Record<string, string | undefined>>;
  /** Requests per minute; the source's default when undefined. */
  rateLimitPerMinute: number | undefined;
  retry: RetryPolicy;
  circuitBreakerFailures: number;
  signal: AbortSignal;
  events: EventBus;
}

/** The requests per minute the run is held to; undefined for a source that makes no requests. */
export function rateLimitOf(options: Pick<RunSessionOptions, 'source' | 'rateLimitPerMinute'>): number | undefined {
  const sourceDefault = options.source.capabilities.defaultRateLimitPerMinute;
  return sourceDefault === undefined ? undefined : (options.rateLimitPerMinute ?? sourceDefault);
}

export interface RunSession {
  started: number;
  source: Source;
  breaker: CircuitBreaker;
  duck: DuckDBInstance;
  /** This run's staging directory, removed when it ends. */
  staging: string;
}

export interface RunDuckOptions {
  threads?: number;
  /** DuckDB's memory limit (it spills sorts to the run's staging directory beyond it). */
  memoryLimit?: string;
}

export async function withRunSession<T>(options: RunSessionOptions, duckOptions: RunDuckOptions, body: (session: RunSession) => Promise<T>): Promise<T> {
  const started = Date.now();
  const { storage, events, signal } = options;
  if (signal.aborted) throw new InterruptedError();
  const breaker = new CircuitBreaker(options.circuitBreakerFailures);
  const staging = path.join(stagingRoot(storage), `run-${process.pid}-${started}`);
  // Credentials are checked before anything is locked or written.
  const source = options.source.create({
    env: options.env,
    rateLimitPerMinute: rateLimitOf(options) ?? Number.POSITIVE_INFINITY,
    retry: options.retry,
    breaker,
    onRequest: (request) => events.emit('request', request),
    onWarning: (message) => events.emit('warning', { message }),
    scratch: path.join(staging, 'source'),
  });
  await prepareStorage(storage);
  const lock = await RunLock.acquire(storage);
  let duck: DuckDBInstance | undefined;
  try {
    // Leftovers of a crashed run: safe to delete, we hold the lock.
    await fs.rm(stagingRoot(storage), { recursive: true, force: true });
    await fs.mkdir(staging, { recursive: true });
    duck = await openDuckDB(duckOptions.threads, duckOptions.memoryLimit, path.join(staging, 'duckdb'));
    return await body({ started, source, breaker, duck, staging });
  } finally {
    await fs.rm(staging, { recursive: true, force: true }).catch(() => undefined);
    // A finished run leaves no staging area behind (rmdir fails harmlessly if anything is left).
    await fs.rmdir(stagingRoot(storage)).catch(() => undefined);
    duck?.closeSync();
    source.close?.();
    await lock.release();
  }
}
