/**
 * Massive flat files over S3: one gzipped CSV per trading day holding every US ticker's minute or
 * daily aggregates, trades or quotes. A unit of work is a run of days (bars) or one day (ticks):
 * each day file is streamed, decompressed, and only the requested tickers' records go to disk
 * (never the whole file, on disk or in memory); DuckDB reads those into typed columns, and once the
 * unit's days are in they are read back in symbol-then-time order, a bounded group of symbols at a
 * time, so the writer publishes each partition once. Files carry ETags, which the run keeps in the ledger.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { DuckDBConnection, DuckDBInstance, DuckDBResult } from '@duckdb/node-api';
import type { S3Client } from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import { connectUtc, duckMessage, openDuckDB, sqlString } from '../../lake/duck.js';
import type { BarColumns, ColumnBatch, TickColumns } from '../../lake/schema.js';
import { type AttemptFailure, withAttempts } from '../../net/attempts.js';
import { CancelledError, CircuitOpenError } from '../../net/errors.js';
import { RateBudget } from '../../net/rate-budget.js';
import { nsOfMs } from '../../shared/nanos.js';
import { addDays, type IsoDate, nyDateOf, nyMidnightUtc } from '../../shared/time.js';
import { CredentialsError, PlanRestrictionError, SourceUnavailableError } from '../errors.js';
import type { SessionBarRequest, SessionData, Source, SourceCapabilities, SourceContext, SourceDefinition, TickRequest } from '../types.js';
import { barFormat, type DayFileFormat, symbolGroups, tickFormat } from './flat-file-formats.js';
import { flatFileDate, flatFileKey, flatFilePrefixes, FLAT_FILE_TIMEFRAMES, isFlatFileTimeframe } from './flat-file-keys.js';
import { DayFileContentError, type WantedLinesStream, wantedRecordStages } from './wanted-lines.js';

const DEFAULT_ENDPOINT = 'https://files.massive.com';
const DEFAULT_BUCKET = 'flatfiles';
/** Massive asks paid users to stay under 100 requests a second. */
const REQUESTS_PER_MINUTE = 6_000;
/** Day files streamed at once: one per core (at least two), as a gzip stream is inflated on one thread. */
const FILES_AT_ONCE = Math.max(2, os.availableParallelism());
const CONNECT_TIMEOUT_MS = 10_000;
/**
 * The source's own DuckDB: its filters stream and its sorts spill, so it needs little; the lake's
 * instance holds a tick run's open days beside it, and the two stay near 1 GB with a day of 20 M quotes.
 */
const DUCKDB_MEMORY_LIMIT = '256MB';
/**
 * Its statements run side by side (a day file per lane), each on its calling thread: a worker pool
 * per statement only added thread wake-ups (measured: ~8 % less CPU for a month of minute files).
 */
const DUCKDB_THREADS = 1;
/** The SDK's logger: failures reach the run as errors, and nothing below the CLI prints. */
const SILENT = { trace: () => undefined, debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const KEY_VARIABLES = 'MASSIVE_S3_ACCESS_KEY_ID and MASSIVE_S3_SECRET_ACCESS_KEY';
const PLAN_HINT = 'flat files need a paid Massive plan (Stocks Starter or above), and their own S3 keys from the dashboard, not the REST API key';

export const FLAT_FILES_CAPABILITIES: SourceCapabilities = {
  kinds: ['bars', 'trades', 'quotes'],
  supportsTimeframe: isFlatFileTimeframe,
  timeframeChoices: FLAT_FILE_TIMEFRAMES,
  maxSymbolsPerRequest: Number.MAX_SAFE_INTEGER,
  pageRows: 1,
  windowFitsOnePage: false,
  sessionRequests: { supportsTimeframe: isFlatFileTimeframe, only: true, versioned: true },
  marketWideTicks: { versioned: true },
  feeds: [],
  // Flat files hold unadjusted aggregates only.
  adjustments: ['raw'],
  corporateActions: false,
  calendar: false,
  listings: false,
  defaultRateLimitPerMinute: REQUESTS_PER_MINUTE,
  recentDataDelayMs: 0,
  synthetic: false,
  environment: [
    { name: 'MASSIVE_S3_ACCESS_KEY_ID', secret: true, required: true },
    { name: 'MASSIVE_S3_SECRET_ACCESS_KEY', secret: true, required: true },
    { name: 'MASSIVE_S3_ENDPOINT', secret: false, required: false },
    { name: 'MASSIVE_S3_BUCKET', secret: false, required: false },
  ],
};

interface S3Settings {
  endpoint: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
}

function settingsFrom(env: SourceContext['env']): S3Settings {
  const accessKeyId = env.MASSIVE_S3_ACCESS_KEY_ID?.trim();
  const secretAccessKey = env.MASSIVE_S3_SECRET_ACCESS_KEY?.trim();
  if (!accessKeyId || !secretAccessKey) throw new CredentialsError(`Massive flat-file keys missing: set ${KEY_VARIABLES} (${PLAN_HINT})`);
  return { endpoint: env.MASSIVE_S3_ENDPOINT?.trim() || DEFAULT_ENDPOINT, bucket: env.MASSIVE_S3_BUCKET?.trim() || DEFAULT_BUCKET, accessKeyId, secretAccessKey };
}

/** An S3 SDK error, or a transfer cut off midway: what it says, and whether another attempt may succeed. */
function classifyS3(error: unknown, retryStatuses: readonly number[]): AttemptFailure {
  const e = error as { name?: string; Code?: string; message?: string; $metadata?: { httpStatusCode?: number; requestId?: string } };
  const status = e?.$metadata?.httpStatusCode;
  const requestId = e?.$metadata?.requestId;
  const reason = status === undefined ? `${e?.name ?? 'Error'}: ${e?.message ?? String(error)}` : `HTTP ${status} ${e?.Code ?? e?.name ?? ''}`.trim();
  return { retryable: status === undefined || retryStatuses.includes(status), reason: requestId ? `${reason} (request id ${requestId})` : reason, status, requestId };
}

/**
 * A day file's transfer, decompression and record filter as one attempt: a file that is not gzip or
 * not the expected CSV fails at once; a transfer cut off midway (the inflater then finds the stream
 * ends early) is retried as an S3 failure is.
 */
function classifyDayFile(error: unknown, retryStatuses: readonly number[]): AttemptFailure {
  const content = contentFailure(error);
  return content === undefined ? classifyS3(error, retryStatuses) : { retryable: false, reason: content, status: undefined, requestId: undefined };
}

/** What is wrong with a day file's content, if that is why it could not be read. */
function contentFailure(error: unknown): string | undefined {
  if (error instanceof DayFileContentError) return error.message;
  const code = (error as { code?: unknown })?.code;
  if (code === 'Z_DATA_ERROR' || code === 'Z_NEED_DICT' || code === 'Z_STREAM_ERROR') return `not a valid gzip file (${(error as Error).message})`;
  return undefined;
}

/** The request id S3 gave a response. */
function s3RequestId(response: unknown): string | undefined {
  return (response as { $metadata?: { requestId?: string } } | undefined)?.$metadata?.requestId;
}

/** The HTTP status of a final S3 failure, if it had one. */
function statusOf(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

/**
 * The S3 SDK, loaded only by runs that use this source, with `require`: it is CommonJS, and an ES
 * import makes Node lex its files for named exports (~75 ms of a run's start, measured). It would
 * warn on stderr (through process.emitWarning, in a library caller's process too) that its releases
 * after January 2027 need Node 22; the version pinned here supports Node 20, and nothing below the
 * CLI prints. A value the user set wins.
 */
function s3Sdk(): typeof import('@aws-sdk/client-s3') {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  return createRequire(import.meta.url)('@aws-sdk/client-s3') as typeof import('@aws-sdk/client-s3');
}

export const massiveFilesSource: SourceDefinition = {
  name: 'massive-files',
  description: `Massive flat files over S3 (1Min and 1Day bars, trades, quotes; whole market per day); keys in ${KEY_VARIABLES}`,
  capabilities: FLAT_FILES_CAPABILITIES,
  create(context: SourceContext): Source {
    return new MassiveFilesSource(settingsFrom(context.env), context);
  },
};

class MassiveFilesSource implements Source {
  readonly name = 'massive-files';
  readonly capabilities = FLAT_FILES_CAPABILITIES;
  private readonly budget: RateBudget;
  private client: S3Client | undefined;
  private duck: Promise<DuckDBInstance> | undefined;
  /**
   * Day files on disk or being filtered, across the units running at once (a trades file is over a
   * gigabyte): one more than are filtered, so DuckDB never waits on the network.
   */
  private readonly filesInFlight = pLimit(FILES_AT_ONCE + 1);
  /** Fewer downloads than files in flight: the first file arrives sooner, and DuckDB starts on it. */
  private readonly downloading = pLimit(FILES_AT_ONCE);

  constructor(
    private readonly settings: S3Settings,
    private readonly context: SourceContext,
  ) {
    this.budget = new RateBudget(context.rateLimitPerMinute);
  }

  private s3(): S3Client {
    const { S3Client } = s3Sdk();
    this.client ??= new S3Client({
      endpoint: this.settings.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: this.settings.accessKeyId, secretAccessKey: this.settings.secretAccessKey },
      // Non-AWS endpoints reject the SDK's default checksums.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      // Retries are the run's (shared budget, backoff, breaker, counts), not the SDK's.
      maxAttempts: 1,
      // A connection that stops sending (the body included: the socket's idle timeout) fails the
      // attempt instead of hanging the run; the handler reports through the error, never the console.
      requestHandler: {
        connectionTimeout: CONNECT_TIMEOUT_MS,
        requestTimeout: this.context.retry.timeoutMs,
        throwOnRequestTimeout: true,
        socketTimeout: this.context.retry.timeoutMs,
        logger: SILENT,
      },
      logger: SILENT,
    });
    return this.client;
  }

  /** An S3 request under the run's retry policy and rate budget; `what` names it without a secret. */
  private async attempts<T>(what: string, signal: AbortSignal, attempt: (client: S3Client) => Promise<T>, classify = classifyS3): Promise<T> {
    const { retry, breaker, onRequest } = this.context;
    const client = this.s3();
    return withAttempts({ what, policy: retry, budget: this.budget, breaker, signal, onRequest, classify: (error) => classify(error, retry.retryStatuses), requestIdOf: s3RequestId }, () => attempt(client));
  }

  async listSessionVersions(from: IsoDate, to: IsoDate, data: SessionData, signal: AbortSignal): Promise<Map<IsoDate, string>> {
    const { ListObjectsV2Command } = s3Sdk();
    const versions = new Map<IsoDate, string>();
    let first = true;
    for (const prefix of flatFilePrefixes(data, from, to)) {
      let token: string | undefined;
      do {
        const what = `s3://${this.settings.bucket}/${prefix}`;
        const page = await this.attempts(what, signal, (client) =>
          client.send(new ListObjectsV2Command({ Bucket: this.settings.bucket, Prefix: prefix, ContinuationToken: token }), { abortSignal: signal }),
        ).catch((error: unknown) => {
          if (error instanceof CancelledError || error instanceof CircuitOpenError) throw error;
          // An outage, as on REST, leaves the whole run for a later one (exit 1), not the keys to fix.
          if (statusOf(error) !== 403) throw new SourceUnavailableError(`could not list Massive flat files at ${what} (${classifyS3(error, []).reason}); nothing was fetched, rerun later`);
          // Refused at once: keys or plan. Refused later: the plan's history depth.
          if (first) throw new CredentialsError(`Massive flat files refused the listing of ${prefix} (HTTP 403 AccessDenied). Check ${KEY_VARIABLES}; ${PLAN_HINT}`);
          throw new PlanRestrictionError(`Massive flat files refused the listing of ${prefix} (HTTP 403 AccessDenied)`, `the plan may not cover files that old; choose a later --start`);
        });
        first = false;
        for (const object of page.Contents ?? []) {
          const date = object.Key ? flatFileDate(object.Key, data) : undefined;
          if (date !== undefined && date >= from && date <= to) versions.set(date, object.ETag ?? `${object.Size}-${object.LastModified?.toISOString()}`);
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token !== undefined);
    }
    return versions;
  }

  fetchSessionBars(request: SessionBarRequest, signal: AbortSignal, reuse: () => BarColumns | undefined): AsyncIterable<BarColumns> {
    const data = { kind: 'bars', timeframe: request.timeframe } as const;
    return this.fetchDays(barFormat(request.timeframe), data, request.symbols, request.sessions, request.scratch, signal, reuse);
  }

  /** The request's window is whole New York days the listing had: one file each. */
  fetchTicks(request: TickRequest, signal: AbortSignal, reuse: () => TickColumns | undefined): AsyncIterable<TickColumns> {
    const days: IsoDate[] = [];
    for (let date = nyDateOf(request.start); nyMidnightUtc(date) < request.end; date = addDays(date, 1)) days.push(date);
    // A day file holds a whole day: part of one cannot be asked for.
    if (nyMidnightUtc(days[0]) !== request.start || nyMidnightUtc(addDays(days[days.length - 1], 1)) !== request.end) throw new Error('flat files serve whole New York days only');
    return this.fetchDays(tickFormat(request.kind), { kind: request.kind }, request.symbols, days, request.scratch, signal, reuse);
  }

  /** Every requested symbol's rows of the day files, in symbol-then-time order. */
  private async *fetchDays<B extends ColumnBatch>(
    format: DayFileFormat<B>,
    data: SessionData,
    symbols: readonly string[],
    days: readonly IsoDate[],
    scratch: string,
    signal: AbortSignal,
    reuse: () => B | undefined,
  ): AsyncIterable<B> {
    await fsp.mkdir(scratch, { recursive: true });
    // Beside the lake's own instance: its sorts spill to the run's staging area rather than grow past this.
    this.duck ??= fsp.mkdir(this.context.scratch, { recursive: true }).then(() => openDuckDB(DUCKDB_THREADS, DUCKDB_MEMORY_LIMIT, path.join(this.context.scratch, 'duckdb')));
    const wanted = `VALUES ${symbols.map((s, i) => `(${sqlString(s)}, ${i})`).join(', ')}`;
    const tickers = new Set(symbols);
    // Symbols are read back and sorted a group at a time; each day's kept rows are stored by group.
    const groups = symbolGroups(symbols.length, format.symbolsPerGroup(days.length, symbols.length));
    // A connection per file in flight: one connection runs one query at a time.
    const connections: DuckDBConnection[] = [];
    // The first file that fails stops the others: the unit fails with its reason. A stop interrupts
    // DuckDB too, which would otherwise finish filtering a day file first.
    const failed = new AbortController();
    const unitSignal = AbortSignal.any([signal, failed.signal]);
    const interrupt = (): void => connections.forEach((c) => c.interrupt());
    unitSignal.addEventListener('abort', interrupt, { once: true });
    const lanes = Math.min(FILES_AT_ONCE, days.length);
    const idle: DuckDBConnection[] = [];
    let ready: Promise<void> = Promise.resolve();
    try {
      // The downloads start at once; the lanes are opened meanwhile.
      ready = (async () => {
        const duck = await this.duck!;
        while (connections.length < lanes) connections.push(await connectUtc(duck));
        for (const c of connections) {
          await c.run(`CREATE TEMP TABLE wanted AS SELECT * FROM (${wanted}) v(symbol, idx)`).catch((error: unknown) => {
            throw unitSignal.aborted ? new CancelledError() : error;
          });
        }
        idle.push(...connections);
      })();
      // Each day awaits it: a failure reaches the unit through the first day that does.
      ready.catch(() => undefined);
      const filtering = pLimit(lanes);
      const settled = await Promise.allSettled(
        days.map((date) =>
          this.filesInFlight(async () => {
            const key = flatFileKey(data, date);
            const csv = path.join(scratch, `${date}.csv`);
            const records = await this.downloading(() => this.fetchWanted(key, csv, tickers, unitSignal));
            await ready;
            return filtering(async () => {
              const connection = idle.pop()!;
              try {
                return await this.keepWanted(format, connection, key, csv, records, date, groups.groupOf('w.idx'), unitSignal);
              } finally {
                idle.push(connection);
              }
            });
          }).catch((error: unknown) => {
            failed.abort();
            throw error;
          }),
        ),
      );
      const firstFailure = settled.find((r) => r.status === 'rejected' && !(r.reason instanceof CancelledError && !signal.aborted));
      if (firstFailure?.status === 'rejected') throw firstFailure.reason;
      const kept = settled.map((r) => (r as PromiseFulfilledResult<string>).value);
      yield* this.readBack(format, connections, groups.count, kept, unitSignal, reuse);
    } finally {
      // Lanes still opening would outlive the unit.
      await ready.catch(() => undefined);
      unitSignal.removeEventListener('abort', interrupt);
      for (const c of connections) c.closeSync();
    }
  }

  /**
   * The typed columns of a day file's wanted records (`csv`, `records` of them), as Parquet files
   * beside it, one per group of symbols (`<day>/g=<n>/…`, `groupOf` the SQL giving a row's group), so
   * reading a group back reads only its rows; returns the day's directory, which a day without any
   * of the symbols leaves absent.
   */
  private async keepWanted<B extends ColumnBatch>(
    format: DayFileFormat<B>,
    connection: DuckDBConnection,
    key: string,
    csvFile: string,
    records: number,
    date: IsoDate,
    groupOf: string,
    signal: AbortSignal,
  ): Promise<string> {
    if (signal.aborted) throw new CancelledError();
    const out = csvFile.replace(/\.csv$/, '');
    if (records === 0) {
      await fsp.rm(csvFile, { force: true });
      return out;
    }
    // A row stamped on another New York day than its file's is a provider defect: drop it, and say so.
    // The rows are sorted when read back, so the copy need not keep the file's order (a third faster);
    // where ties keep the file's order, the rows are numbered first.
    const from = nsOfMs(nyMidnightUtc(date));
    const to = nsOfMs(nyMidnightUtc(addDays(date, 1)));
    const types = Object.entries(format.csvTypes).map(([name, type]) => `${sqlString(name)}: ${sqlString(type)}`).join(', ');
    // The dialect is fixed, not sniffed: a sample without a quoted field (a `conditions` list) would
    // otherwise read a later one as several columns.
    const csv = `read_csv(${sqlString(csvFile)}, header = true, compression = 'none', delim = ',', quote = '"', escape = '"', types = {${types}})`;
    try {
      const time = format.timeColumn;
      await connection.run(
        `COPY (SELECT *, ${time} >= ${from} AND ${time} < ${to} AS in_day FROM (
                 SELECT ${groupOf} AS g, w.idx, ${format.kept}, ${format.complete} AS complete
                 FROM ${format.fileOrder ? `(SELECT row_number() OVER () AS rn, * FROM ${csv})` : csv} c
                 JOIN wanted w ON c.ticker = w.symbol))
         TO ${sqlString(out)} (FORMAT parquet, PARTITION_BY (g), PRESERVE_ORDER false)`,
      );
      // An interrupt that reached DuckDB before the query began is lost: the file was read whole, for nothing.
      if (signal.aborted) throw new CancelledError();
      // A day without any of the symbols writes no file.
      const written = await fsp.readdir(out).catch(() => [] as string[]);
      if (written.length > 0) {
        const reader = await connection.runAndReadAll(
          `SELECT count(*) FILTER (WHERE complete AND NOT in_day)::INTEGER, count(*) FILTER (WHERE NOT complete)::INTEGER FROM read_parquet(${sqlString(path.join(out, '*', '*.parquet'))})`,
        );
        const [outside, incomplete] = reader.getRows()[0].map(Number);
        if (outside > 0) this.context.onWarning(`${key}: dropped ${outside} row(s) of the requested symbols stamped outside ${date} (New York), a provider defect`);
        if (incomplete > 0) this.context.onWarning(`${key}: dropped ${incomplete} row(s) of the requested symbols without ${format.required}`);
      }
    } catch (error) {
      if (signal.aborted) throw new CancelledError();
      throw new Error(`reading ${key} failed: ${duckMessage(error)}`);
    } finally {
      await fsp.rm(csvFile, { force: true });
    }
    return out;
  }

  /**
   * Stream a day file through the inflater and the record filter into a file of its header and the
   * wanted tickers' records; returns how many records it kept. Each attempt starts the file afresh.
   */
  private async fetchWanted(key: string, file: string, tickers: ReadonlySet<string>, signal: AbortSignal): Promise<number> {
    const { GetObjectCommand } = s3Sdk();
    let filter: WantedLinesStream | undefined;
    await this.attempts(
      `s3://${this.settings.bucket}/${key}`,
      signal,
      async (client) => {
        const object = await client.send(new GetObjectCommand({ Bucket: this.settings.bucket, Key: key }), { abortSignal: signal });
        const stages = wantedRecordStages(tickers);
        filter = stages.filter;
        await pipeline(object.Body as Readable, ...stages.stages, fs.createWriteStream(file), { signal });
        return object;
      },
      classifyDayFile,
    ).catch(async (error: unknown) => {
      await fsp.rm(file, { force: true });
      if (error instanceof CancelledError || error instanceof CircuitOpenError) throw error;
      const content = contentFailure(error);
      if (content !== undefined) throw new Error(`reading ${key} failed: ${content}`);
      const status = statusOf(error);
      if (status === 403) throw new Error(`Massive flat files refused ${key} (HTTP 403): the plan may not cover this date, or the file is not published yet`);
      if (status === 404) throw new Error(`Massive flat file ${key} is listed but could not be found (HTTP 404); rerun later`);
      throw new Error(`downloading ${key} failed: ${classifyS3(error, []).reason}`);
    });
    return filter!.records.kept;
  }

  /**
   * The kept rows of every day, in symbol-then-time order, one group of symbols at a time; with more
   * than one lane, the next group is counted and sorted on another while this one is handed over. A
   * result interrupted between chunks just ends: each group's rows are counted first, and a stream
   * that ends short fails the unit instead of handing over part of its days.
   */
  private async *readBack<B extends ColumnBatch>(
    format: DayFileFormat<B>,
    lanes: readonly DuckDBConnection[],
    groupCount: number,
    days: string[],
    signal: AbortSignal,
    reuse: () => B | undefined,
  ): AsyncIterable<B> {
    const groups: string[][] = [];
    for (let g = 0; g < groupCount; g++) {
      const files: string[] = [];
      for (const day of days) {
        const dir = path.join(day, `g=${g}`);
        for (const name of await fsp.readdir(dir).catch(() => [] as string[])) files.push(path.join(dir, name));
      }
      if (files.length > 0) groups.push(files);
    }
    const open = async (files: string[], connection: DuckDBConnection): Promise<{ expected: number; result: DuckDBResult }> => {
      const from = `read_parquet([${files.map(sqlString).join(', ')}], hive_partitioning = false)`;
      const expected = Number((await connection.runAndReadAll(`SELECT count(*) FROM ${from} WHERE in_day AND complete`)).getRows()[0][0]);
      // A streamed sort is done before its first chunk: started early, it runs beside the group before.
      return { expected, result: await connection.stream(await format.readBackSql(connection, from)) };
    };
    // With a second lane, the next group is sorted while this one is handed over; with one, after it.
    const ahead = lanes.length > 1;
    const openGroup = (i: number): Promise<{ expected: number; result: DuckDBResult }> | undefined => (i < groups.length ? open(groups[i], lanes[i % lanes.length]) : undefined);
    let next = openGroup(0);
    try {
      for (let i = 0; i < groups.length; i++) {
        let streamed = 0;
        let expected: number;
        try {
          const current = await next!;
          next = ahead ? openGroup(i + 1) : undefined;
          // Awaited with the next group; a failure meanwhile must not go unhandled.
          next?.catch(() => undefined);
          expected = current.expected;
          for (let chunk = await current.result.fetchChunk(); chunk !== null && chunk.rowCount > 0; chunk = await current.result.fetchChunk()) {
            streamed += chunk.rowCount;
            yield format.toBatch(chunk, reuse());
          }
          if (!ahead) next = openGroup(i + 1);
        } catch (error) {
          if (signal.aborted) throw new CancelledError();
          throw error;
        }
        if (signal.aborted) throw new CancelledError();
        if (streamed !== expected) throw new Error(`reading back the kept rows ended after ${streamed} of ${expected}`);
      }
    } finally {
      // Stopped early: a sort started for the next group ends before its lane is closed.
      const pending = next;
      next = undefined;
      if (pending) {
        for (const lane of lanes) lane.interrupt();
        await pending.catch(() => undefined);
      }
    }
  }

  close(): void {
    void this.duck?.then((d) => d.closeSync()).catch(() => undefined);
    this.client?.destroy();
  }
}
