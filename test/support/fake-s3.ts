/**
 * A loopback fake of Massive's (formerly Polygon.io) S3-compatible flat-file store, written from
 * ../shared/reference/massive-market-data.md (section 3 "Flat files", section 5 "S3 from Node"), so the
 * real `@aws-sdk/client-s3` can be pointed at it:
 * - one bucket (`flatfiles`), path-style addressing, read-only; keys
 *   `us_stocks_sip/{minute_aggs_v1,day_aggs_v1,trades_v1,quotes_v1}/YYYY/MM/YYYY-MM-DD.csv.gz`, one per
 *   trading day only (NYSE sessions by the rules calendar), so clients must list rather than compute
 *   dates; the aggs datasets by default, the tick datasets only when a test names them in `datasets`;
 * - every request must carry a valid AWS Signature V4 made with the S3 keys (separate from any REST key);
 *   a bad key, a bad secret or an unsigned request gets a bare 403 AccessDenied that does not say why;
 * - ListObjectsV2 (prefix, delimiter, start-after, max-keys capped by `maxKeys`, opaque continuation
 *   tokens, encoding-type=url), GetObject (with Range and If-Match / If-None-Match), HeadObject, 404 NoSuchKey;
 * - files: gzip of CSV `ticker,volume,open,close,high,low,window_start,transactions`, `window_start` in
 *   Unix nanoseconds of the window start (day rows at 00:00 New York), no VWAP column, unadjusted,
 *   rows in ticker then time order, ETag = quoted md5 of the stored bytes;
 * - tick files: gzip of CSV with the reference's header order (section 3),
 *   trades_v1 `ticker,conditions,correction,exchange,id,participant_timestamp,price,sequence_number,sip_timestamp,size,tape,trf_id,trf_timestamp`,
 *   quotes_v1 `ticker,ask_exchange,ask_price,ask_size,bid_exchange,bid_price,bid_size,conditions,indicators,participant_timestamp,sequence_number,sip_timestamp,tape,trf_timestamp`;
 *   the rows are ./massive-ticks.ts' model (the rows FakeMassive serves over REST for the same ticker,
 *   date, count and seed: `tickSeed` defaults to FakeMassive's seed), `ticksPerDay` rows a day for each
 *   named ticker and `extraTickerTicks` for each extra one (listings are not modelled: every ticker
 *   trades every session). Interpretations, the header order apart (the reference infers it too):
 *   integers in decimal, nanosecond stamps as their exact decimal integers, price and size as JS
 *   `String(number)`; an absent field (correction, trf_id, trf_timestamp, an absent bid side, no
 *   conditions or indicators) is empty, and so is an empty list; a list is its integers joined by ',',
 *   double-quoted when it has more than one (`"12,37"`, `12`); quotes_v1's trf_timestamp is always
 *   empty (the model's quotes have none). Rows come grouped by ticker (sorted) in the model's order, or
 *   with `tickFileOrder: 'time'` merged by sip_timestamp across tickers (ties: ticker order, then the
 *   model's) — a legal file that is not grouped by ticker. The text is compressed as it is generated
 *   (one gzip member of sync-flushed deflate pieces), so a big day never exists whole as text;
 * - the documented hazards: a published file replaced later (new ETag and Last-Modified; `republish`,
 *   and `dropTicker` for a day the provider emptied for one symbol), the 2019-08-12 defect (rows of the
 *   next day inside a day's file), a 403 for one day's file (not in plan / not yet published) or for
 *   everything, and a transfer that stalls midway (`stallBody`).
 * Its data is the synthetic market and the tick model, so tests can compute exactly what a file set
 * holds (`expectedBars`, `expectedTicks`).
 * Big benchmark files are written to disk by `writeMarketMinuteFile` and served streamed (`addFile`).
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { nyseRuleCalendar, type Session } from '../../src/shared/calendar.js';
import { addDays, nyDateOf, nyMidnightUtc, nyWallToUtc } from '../../src/shared/time.js';
import { parseTimeframe, type Timeframe } from '../../src/shared/timeframe.js';
import { type BarTuple, SyntheticMarket } from '../../src/sources/synthetic/generator.js';
import { mulberry32 } from './fake-alpaca.js';
import { DEFAULT_TICKS_PER_DAY, type FakeTickKind, type TickDay } from './fake-ticks.js';
import { LoopbackServer } from './loopback-server.js';
import { DEFAULT_MASSIVE_SEED, type MassiveQuote, massiveTickDay, type MassiveTicks, type MassiveTrade } from './massive-ticks.js';

export type AggsDataset = 'minute_aggs_v1' | 'day_aggs_v1';
export type TickDataset = 'trades_v1' | 'quotes_v1';
export type FlatDataset = AggsDataset | TickDataset;

export interface FakeS3Options {
  accessKeyId?: string;
  secretAccessKey?: string;
  bucket?: string;
  /** Tickers with generated data (`tickers[0]` is the one `republish` edits). */
  tickers?: string[];
  /** Extra generated tickers ('ZZ0001'…) in every file. */
  extraTickers?: number;
  /** New York dates: one file per NYSE session in [from, to], per dataset. */
  from: string;
  to: string;
  /** Default the two aggs datasets; tick files only when named here. */
  datasets?: FlatDataset[];
  /** Rows a day of each named ticker in trades_v1 / quotes_v1; default fake-ticks' DEFAULT_TICKS_PER_DAY. */
  ticksPerDay?: Partial<Record<FakeTickKind, number>>;
  /** Rows a day of each extra ticker ('ZZ0001'…) in trades_v1 and quotes_v1; default 20. */
  extraTickerTicks?: number;
  /** The tick model's seed; default DEFAULT_MASSIVE_SEED (FakeMassive's default seed, so both hold the same rows). */
  tickSeed?: number;
  /** Rows of a tick file: grouped by ticker in sorted order (default), or every ticker's merged by sip_timestamp. */
  tickFileOrder?: 'ticker' | 'time';
  /** Page size cap for ListObjectsV2 (a request's max-keys above it is lowered to it). */
  maxKeys?: number;
}

export interface FakeS3LogEntry {
  method: string;
  /** Decoded path, e.g. /flatfiles/us_stocks_sip/day_aggs_v1/2024/03/2024-03-07.csv.gz */
  path: string;
  query: Record<string, string>;
  /** HTTP status; 0 while unanswered, -3 held and then cut off. */
  status: number;
  at: number;
  /** The S3 error code sent, if any (AccessDenied, NoSuchKey, …). */
  error?: string;
}

export const DEFAULT_FAKE_S3_TICKERS = ['AAPL', 'MSFT', 'NVDA', 'AMZN', 'GOOGL', 'META', 'BRK.B', 'TSLA', 'JPM', 'V'];
export const FLAT_FILE_HEADER = 'ticker,volume,open,close,high,low,window_start,transactions';
export const TRADES_FILE_HEADER = 'ticker,conditions,correction,exchange,id,participant_timestamp,price,sequence_number,sip_timestamp,size,tape,trf_id,trf_timestamp';
export const QUOTES_FILE_HEADER = 'ticker,ask_exchange,ask_price,ask_size,bid_exchange,bid_price,bid_size,conditions,indicators,participant_timestamp,sequence_number,sip_timestamp,tape,trf_timestamp';
export const DEFAULT_EXTRA_TICKER_TICKS = 20;

const EMPTY_SHA256 = createHash('sha256').update('').digest('hex');
const MAX_SKEW_MS = 15 * 60_000;
const XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/';
/** Generated bodies kept in memory; metadata (size, ETag) is kept for every file, bodies are regenerated. */
const BODY_CACHE_BYTES = 256 * 1024 * 1024;
/** Characters of tick-file text compressed at a time (well above deflate's 32 KiB window, so little ratio is lost). */
const GZIP_PIECE_CHARS = 1 << 16;
const TICK_KINDS: Readonly<Record<TickDataset, FakeTickKind>> = { trades_v1: 'trades', quotes_v1: 'quotes' };

interface StoredObject {
  size: number;
  /** Quoted md5 hex. */
  etag: string;
  /** Whole seconds, ms. */
  lastModified: number;
  /** Served from disk (addFile); otherwise generated. */
  filePath?: string;
}

interface FileSpec {
  dataset: FlatDataset;
  session: Session;
}

/** RFC 3986 encoding as SigV4 wants it (encodeURIComponent leaves !'()* alone). */
function awsEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function xml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

function hmac(key: Buffer | string, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

/** Raw query pairs, percent-decoded ('+' is not a space in SigV4 land). Throws on malformed escapes. */
function parseQuery(raw: string): [string, string][] {
  if (raw === '') return [];
  return raw
    .split('&')
    .filter((p) => p !== '')
    .map((p) => {
      const eq = p.indexOf('=');
      return eq < 0 ? [decodeURIComponent(p), ''] : [decodeURIComponent(p.slice(0, eq)), decodeURIComponent(p.slice(eq + 1))];
    });
}

function cents(value: number): string {
  const c = value % 100;
  return `${(value - c) / 100}.${c < 10 ? '0' : ''}${c}`;
}

/** Unix ms → Unix ns as an integer string (ms × 10⁶: six zeros appended, for whole non-negative ms). */
function nanos(ms: number): string {
  return Number.isInteger(ms) && ms >= 0 ? `${ms}000000` : (BigInt(Math.round(ms)) * 1_000_000n).toString();
}

function toRow(ticker: string, b: BarTuple): string {
  return `${ticker},${b[5]},${b[1]},${b[4]},${b[2]},${b[3]},${nanos(b[0])},${b[6]}`;
}

function isTickDataset(dataset: FlatDataset): dataset is TickDataset {
  return Object.hasOwn(TICK_KINDS, dataset);
}

/** An optional number as a CSV field: its decimal text (bigints exactly), empty when absent. */
function field(value: number | bigint | undefined): string {
  return value === undefined ? '' : String(value);
}

/** A list of integers as one CSV field: empty when absent or empty, bare for one, double-quoted "a,b" for more. */
function listField(values: readonly number[] | undefined): string {
  if (values === undefined || values.length === 0) return '';
  return values.length === 1 ? String(values[0]) : `"${values.join(',')}"`;
}

function tradeRow(ticker: string, t: MassiveTrade): string {
  return (
    `${ticker},${listField(t.conditions)},${field(t.correction)},${t.exchange},${t.id},${t.participant_timestamp},${t.price},` +
    `${t.sequence_number},${t.sip_timestamp},${t.size},${t.tape},${field(t.trf_id)},${field(t.trf_timestamp)}`
  );
}

/** quotes_v1's trf_timestamp is always empty: the model's quotes carry none. */
function quoteRow(ticker: string, q: MassiveQuote): string {
  return (
    `${ticker},${field(q.ask_exchange)},${field(q.ask_price)},${field(q.ask_size)},${field(q.bid_exchange)},${field(q.bid_price)},${field(q.bid_size)},` +
    `${listField(q.conditions)},${listField(q.indicators)},${q.participant_timestamp},${q.sequence_number},${q.sip_timestamp},${q.tape},`
  );
}

/**
 * Gzip text produced piece by piece without ever holding all of it: each ~64 K characters are deflated
 * on their own and sync-flushed (byte-aligned, back-references only inside the piece), the last piece
 * finishes the stream; one gzip member with the CRC-32 and length of the whole text.
 */
function gzipPieces(pieces: Iterable<string>): Buffer {
  // ID1 ID2, CM = deflate, no flags, no mtime, XFL 4 (fastest), OS 3 (Unix) — what zlib writes at level 1.
  const out: Buffer[] = [Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 3])];
  let crc = 0;
  let size = 0;
  let text = '';
  const compress = (finish: boolean): void => {
    const data = Buffer.from(text, 'utf8');
    text = '';
    crc = zlib.crc32(data, crc);
    size = (size + data.length) % 2 ** 32;
    out.push(zlib.deflateRawSync(data, { level: 1, finishFlush: finish ? zlib.constants.Z_FINISH : zlib.constants.Z_SYNC_FLUSH }));
  };
  for (const piece of pieces) {
    text += piece;
    if (text.length >= GZIP_PIECE_CHARS) compress(false);
  }
  compress(true);
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc >>> 0, 0);
  trailer.writeUInt32LE(size, 4);
  out.push(trailer);
  return Buffer.concat(out);
}

/** Merge per-ticker days by sip_timestamp; ties go to the earlier source (ticker order), each source's rows stay in order. */
function* mergeByTime<R>(sources: readonly TickDay<R>[]): Generator<[source: number, row: number]> {
  type Head = { time: bigint; source: number; row: number };
  const before = (a: Head, b: Head): boolean => a.time < b.time || (a.time === b.time && a.source < b.source);
  const heap: Head[] = [];
  const push = (h: Head): void => {
    let i = heap.push(h) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i], heap[parent])) break;
      [heap[i], heap[parent]] = [heap[parent], heap[i]];
      i = parent;
    }
  };
  const pop = (): Head => {
    const top = heap[0];
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && before(heap[l], heap[m])) m = l;
        if (r < heap.length && before(heap[r], heap[m])) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m], heap[i]];
        i = m;
      }
    }
    return top;
  };
  sources.forEach((day, source) => {
    if (day.length > 0) push({ time: day.timeNs(0), source, row: 0 });
  });
  while (heap.length > 0) {
    const { source, row } = pop();
    yield [source, row];
    const day = sources[source];
    if (row + 1 < day.length) push({ time: day.timeNs(row + 1), source, row: row + 1 });
  }
}

export class FakeS3 extends LoopbackServer {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly bucket: string;
  readonly log: FakeS3LogEntry[] = [];
  private readonly market = new SyntheticMarket();
  private readonly minuteTf: Timeframe = parseTimeframe('1Min')!;
  private readonly dayTf: Timeframe = parseTimeframe('1Day')!;
  private readonly tickerList: string[];
  private readonly tickerSet: Set<string>;
  /** The tickers given (or defaulted) by name: they get `ticksPerDay` rows, the extras `extraTickerTicks`. */
  private readonly namedTickers: Set<string>;
  private readonly tickSeed: number;
  /** The ticker `republish` edits. */
  private readonly editedTicker: string | undefined;
  private readonly specs = new Map<string, FileSpec>();
  private readonly datasets: FlatDataset[];
  private readonly createdAt = Math.floor(Date.now() / 1000) * 1000;
  private readonly meta = new Map<string, StoredObject>();
  private readonly bodies = new Map<string, Buffer>();
  private bodyBytes = 0;
  private readonly disk = new Map<string, StoredObject>();
  private readonly versions = new Map<string, number>();
  private readonly injected = new Map<string, { ticker: string; count: number }[]>();
  /** Tickers a file no longer holds (`dropTicker`). */
  private readonly dropped = new Map<string, Set<string>>();
  private readonly modified = new Map<string, number>();
  private readonly denied = new Set<string>();
  /** Keys whose next GET stalls after this many body bytes. */
  private readonly stalls = new Map<string, number>();
  private denyEverything = false;
  private sortedKeys: string[] | undefined;
  private readonly signingKeys = new Map<string, Buffer>();
  private gets = 0;
  private readonly pageCap: number;

  constructor(readonly options: FakeS3Options) {
    super({ keepAlive: true });
    this.accessKeyId = options.accessKeyId ?? 'MASSIVETESTACCESSKEY';
    this.secretAccessKey = options.secretAccessKey ?? 'massive-test-s3-secret-0123456789abcdef';
    this.bucket = options.bucket ?? 'flatfiles';
    this.pageCap = options.maxKeys ?? 1000;
    const named = options.tickers ?? DEFAULT_FAKE_S3_TICKERS;
    const extra = Array.from({ length: options.extraTickers ?? 50 }, (_, i) => `ZZ${String(i + 1).padStart(4, '0')}`);
    this.tickerList = [...new Set([...named, ...extra])].sort();
    this.tickerSet = new Set(this.tickerList);
    this.namedTickers = new Set(named);
    this.tickSeed = options.tickSeed ?? DEFAULT_MASSIVE_SEED;
    this.editedTicker = named[0] ?? extra[0];
    this.datasets = options.datasets ?? ['minute_aggs_v1', 'day_aggs_v1'];
    for (const session of nyseRuleCalendar.sessions(options.from, options.to)) {
      for (const dataset of this.datasets) this.specs.set(this.key(dataset, session.date), { dataset, session });
    }
  }

  /** GetObject requests received (every GET addressed to an object, whatever its answer). */
  get objectGets(): number {
    return this.gets;
  }

  key(dataset: FlatDataset, date: string): string {
    return `us_stocks_sip/${dataset}/${date.slice(0, 4)}/${date.slice(5, 7)}/${date}.csv.gz`;
  }

  /**
   * Every bar a file set holds for a ticker with window start in [startMs, endMs] inclusive, as the
   * generated files carry them (republish edits applied, injected wrong-date rows left out, files
   * replaced by `addFile` not reflected). vw is NaN: the files have no VWAP.
   */
  expectedBars(ticker: string, dataset: FlatDataset, startMs: number, endMs: number): BarTuple[] {
    if (!this.tickerSet.has(ticker) || isTickDataset(dataset) || !this.datasets.includes(dataset) || endMs < startMs) return [];
    // Clamp to the file set first: any number is a valid bound (±Infinity, MAX_SAFE_INTEGER).
    const fromDate = startMs <= nyMidnightUtc(this.options.from) ? this.options.from : nyDateOf(startMs);
    const toDate = endMs >= nyMidnightUtc(addDays(this.options.to, 1)) ? this.options.to : nyDateOf(endMs);
    const out: BarTuple[] = [];
    if (toDate < fromDate) return out;
    for (const session of nyseRuleCalendar.sessions(fromDate, toDate)) {
      const key = this.key(dataset, session.date);
      if (this.dropped.get(key)?.has(ticker)) continue;
      for (const bar of this.fileBars(ticker, dataset, session, this.versions.get(key) ?? 0)) {
        if (bar[0] >= startMs && bar[0] <= endMs) out.push(bar);
      }
    }
    return out;
  }

  /**
   * The rows the current version of a day's trades_v1 / quotes_v1 file holds for a ticker, in the
   * model's order (republish edits and `dropTicker` applied, injected wrong-date rows left out, files
   * replaced by `addFile` not reflected); none when there is no such file or ticker.
   */
  expectedTicks<K extends FakeTickKind>(kind: K, ticker: string, date: string): MassiveTicks[K][] {
    const key = this.key(`${kind}_v1`, date);
    const day = this.specs.has(key) && this.tickerSet.has(ticker) ? this.fileTicks(kind, ticker, key) : undefined;
    const rows: MassiveTicks[K][] = [];
    for (let k = 0; day && k < day.length; k++) rows.push(day.at(k));
    return rows;
  }

  /**
   * Replace a published file (n = times republished) → new bytes, ETag, Last-Modified: in aggs files
   * every bar of `tickers[0]` gets volume + n; in trades_v1 every trade of `tickers[0]` size + n, in
   * quotes_v1 every quote of `tickers[0]` bid_size + n (a quote without a bid side stays as it is).
   */
  republish(dataset: FlatDataset, date: string): void {
    const key = this.generatedKey(dataset, date);
    this.versions.set(key, (this.versions.get(key) ?? 0) + 1);
    this.touch(key);
  }

  /**
   * A new version of a day's file without `ticker`'s rows (a provider day emptied for a symbol): new
   * bytes, ETag and Last-Modified. Rows injected by `injectWrongDateRows` stay.
   */
  dropTicker(dataset: FlatDataset, date: string, ticker: string): void {
    const key = this.generatedKey(dataset, date);
    if (!this.tickerSet.has(ticker)) throw new Error(`fake-s3: ${ticker} is not one of this fake's tickers`);
    const set = this.dropped.get(key) ?? new Set<string>();
    set.add(ticker);
    this.dropped.set(key, set);
    this.touch(key);
  }

  /**
   * Append `count` rows for `ticker` stamped on the next calendar day (the 2019-08-12 defect: that day's
   * day_aggs file held 2019-08-13 rows). Day files get rows at next-day 00:00 New York (volume + i so
   * they differ), minute files consecutive minutes from next-day 04:00; tick files rows copied from the
   * ticker's first row of the day with sip_timestamp at next-day 04:00 New York + i µs (its other
   * stamps moved by the same amount). Always at the end of the file. Changes the file's ETag.
   */
  injectWrongDateRows(dataset: FlatDataset, date: string, ticker: string, count: number): void {
    const key = this.generatedKey(dataset, date);
    const list = this.injected.get(key) ?? [];
    list.push({ ticker, count });
    this.injected.set(key, list);
    this.touch(key);
  }

  /**
   * The next GET of this (generated) key sends its headers and `afterBytes` of the body, then nothing
   * more while the connection stays open: a transfer that stalls midway. Later GETs are served whole.
   */
  stallBody(key: string, afterBytes: number): void {
    this.stalls.set(key, afterBytes);
  }

  /** 403 AccessDenied for GET/HEAD of this key (existing or not: also how a not-yet-published day answers). */
  denyKey(key: string): void {
    this.denied.add(key);
  }

  /** Serve a denied key again. */
  allowKey(key: string): void {
    this.denied.delete(key);
  }

  /** 403 AccessDenied for every request, listing included (no flat-file entitlement). */
  denyAll(deny: boolean): void {
    this.denyEverything = deny;
  }

  /** Serve a prepared gzip file from disk for a key (listed, streamed on GET, never read whole into memory). */
  async addFile(key: string, filePath: string): Promise<void> {
    const hash = createHash('md5');
    await pipeline(fs.createReadStream(filePath), hash);
    const size = (await fs.promises.stat(filePath)).size;
    // A key already served (generated or added before) is being replaced: its Last-Modified moves forward.
    const previous = this.disk.get(key)?.lastModified ?? (this.specs.has(key) ? (this.modified.get(key) ?? this.publishedAt(key)) : undefined);
    const lastModified = previous === undefined ? this.createdAt : Math.max(Math.floor(Date.now() / 1000) * 1000, previous + 1000);
    this.modified.set(key, lastModified);
    this.disk.set(key, { size, etag: `"${hash.digest('hex')}"`, lastModified, filePath });
    this.sortedKeys = undefined;
  }

  // ---- content ---------------------------------------------------------------------------------

  private generatedKey(dataset: FlatDataset, date: string): string {
    const key = this.key(dataset, date);
    if (!this.specs.has(key)) throw new Error(`fake-s3: no ${dataset} file for ${date} (not a session in [${this.options.from}, ${this.options.to}] or dataset off)`);
    return key;
  }

  /** A new version of a generated file: drop cached bytes, move Last-Modified forward. */
  private touch(key: string): void {
    this.meta.delete(key);
    const body = this.bodies.get(key);
    if (body) {
      this.bodyBytes -= body.length;
      this.bodies.delete(key);
    }
    const previous = this.modified.get(key) ?? this.publishedAt(key);
    this.modified.set(key, Math.max(Math.floor(Date.now() / 1000) * 1000, previous + 1000));
  }

  /** First publication: 11:00 New York the next day (KB-READY), but never after the fake was made. */
  private publishedAt(key: string): number {
    const spec = this.specs.get(key)!;
    return Math.min(nyWallToUtc(addDays(spec.session.date, 1), 11 * 60), this.createdAt);
  }

  private fileBars(ticker: string, dataset: FlatDataset, session: Session, version: number): BarTuple[] {
    const bars =
      dataset === 'minute_aggs_v1'
        ? this.market.bars(ticker, this.minuteTf, session.extendedOpen, session.extendedClose - 1)
        : this.market.bars(ticker, this.dayTf, nyMidnightUtc(session.date), nyMidnightUtc(session.date));
    const bump = version > 0 && ticker === this.editedTicker ? version : 0;
    for (const b of bars) {
      b[5] += bump;
      b[7] = Number.NaN;
    }
    return bars;
  }

  /**
   * A ticker's rows of a tick file as the current version holds them (republish edits applied); none
   * when dropped. Rows are built on demand (`at` returns a fresh object).
   */
  private fileTicks<K extends FakeTickKind>(kind: K, ticker: string, key: string): TickDay<MassiveTicks[K]> | undefined {
    if (this.dropped.get(key)?.has(ticker)) return undefined;
    return this.modelTicks(kind, ticker, key);
  }

  /** fileTicks without the drop: the model's rows with the version's edit. */
  private modelTicks<K extends FakeTickKind>(kind: K, ticker: string, key: string, minCount = 0): TickDay<MassiveTicks[K]> | undefined {
    const spec = this.specs.get(key)!;
    const count = this.namedTickers.has(ticker) ? (this.options.ticksPerDay?.[kind] ?? DEFAULT_TICKS_PER_DAY[kind]) : (this.options.extraTickerTicks ?? DEFAULT_EXTRA_TICKER_TICKS);
    const day = massiveTickDay(kind, ticker, spec.session.date, Math.max(count, minCount), this.tickSeed);
    const bump = ticker === this.editedTicker ? (this.versions.get(key) ?? 0) : 0;
    if (!day || bump === 0) return day;
    const at = (k: number): MassiveTicks[K] => {
      const row = day.at(k);
      if (kind === 'trades') (row as MassiveTrade).size += bump;
      else if ((row as MassiveQuote).bid_size !== undefined) (row as MassiveQuote).bid_size! += bump;
      return row;
    };
    return { length: day.length, at, timeNs: (k) => day.timeNs(k) };
  }

  /** A tick file's text, row by row: the header, every ticker's rows in the configured order, then injected rows. */
  private *tickLines(dataset: TickDataset, key: string): Generator<string> {
    const kind = TICK_KINDS[dataset];
    const row = (ticker: string, tick: MassiveTrade | MassiveQuote): string =>
      `${kind === 'trades' ? tradeRow(ticker, tick as MassiveTrade) : quoteRow(ticker, tick as MassiveQuote)}\n`;
    yield `${kind === 'trades' ? TRADES_FILE_HEADER : QUOTES_FILE_HEADER}\n`;
    const tickers: string[] = [];
    const days: TickDay<MassiveTrade | MassiveQuote>[] = [];
    for (const ticker of this.tickerList) {
      const day = this.fileTicks(kind, ticker, key);
      if (!day) continue;
      tickers.push(ticker);
      days.push(day);
    }
    if (this.options.tickFileOrder === 'time') {
      for (const [source, k] of mergeByTime(days)) yield row(tickers[source], days[source].at(k));
    } else {
      for (let source = 0; source < days.length; source++) {
        for (let k = 0; k < days[source].length; k++) yield row(tickers[source], days[source].at(k));
      }
    }
    const next = nyWallToUtc(addDays(this.specs.get(key)!.session.date, 1), 4 * 60);
    for (const { ticker, count } of this.injected.get(key) ?? []) {
      const first = this.modelTicks(kind, ticker, key, 1)!.at(0);
      for (let i = 0; i < count; i++) {
        const shift = BigInt(next) * 1_000_000n + BigInt(i) * 1_000n - first.sip_timestamp;
        const moved = { ...first, sip_timestamp: first.sip_timestamp + shift, participant_timestamp: first.participant_timestamp + shift };
        if ('trf_timestamp' in moved && moved.trf_timestamp !== undefined) moved.trf_timestamp += shift;
        yield row(ticker, moved);
      }
    }
  }

  private generate(key: string): Buffer {
    const spec = this.specs.get(key)!;
    if (isTickDataset(spec.dataset)) return gzipPieces(this.tickLines(spec.dataset, key));
    const version = this.versions.get(key) ?? 0;
    const lines: string[] = [FLAT_FILE_HEADER];
    for (const ticker of this.tickerList) {
      if (this.dropped.get(key)?.has(ticker)) continue;
      for (const bar of this.fileBars(ticker, spec.dataset, spec.session, version)) lines.push(toRow(ticker, bar));
    }
    const next = addDays(spec.session.date, 1);
    for (const { ticker, count } of this.injected.get(key) ?? []) {
      const own = this.fileBars(ticker, spec.dataset, spec.session, version);
      const template: BarTuple = own[0] ?? [0, 10, 10.5, 9.5, 10.25, 100, 10, Number.NaN];
      for (let i = 0; i < count; i++) {
        const t = spec.dataset === 'day_aggs_v1' ? nyMidnightUtc(next) : nyWallToUtc(next, 4 * 60 + i);
        const volume = template[5] + (spec.dataset === 'day_aggs_v1' ? i : 0);
        lines.push(toRow(ticker, [t, template[1], template[2], template[3], template[4], volume, template[6], Number.NaN]));
      }
    }
    lines.push('');
    // Level 1: a file is rebuilt on every listing or GET that misses the cache; any gzip level is valid.
    return zlib.gzipSync(lines.join('\n'), { level: 1 });
  }

  private object(key: string): StoredObject | undefined {
    const onDisk = this.disk.get(key);
    if (onDisk) return onDisk;
    if (!this.specs.has(key)) return undefined;
    let meta = this.meta.get(key);
    if (!meta) {
      const body = this.generate(key);
      meta = {
        size: body.length,
        etag: `"${createHash('md5').update(body).digest('hex')}"`,
        lastModified: this.modified.get(key) ?? this.publishedAt(key),
      };
      this.meta.set(key, meta);
      this.keepBody(key, body);
    }
    return meta;
  }

  private body(key: string): Buffer {
    let body = this.bodies.get(key);
    if (body) {
      // Most recently used last.
      this.bodies.delete(key);
      this.bodies.set(key, body);
      return body;
    }
    body = this.generate(key); // deterministic: the same bytes and ETag as before
    this.keepBody(key, body);
    return body;
  }

  private keepBody(key: string, body: Buffer): void {
    this.bodies.set(key, body);
    this.bodyBytes += body.length;
    for (const [old, b] of this.bodies) {
      if (this.bodyBytes <= BODY_CACHE_BYTES || old === key) break;
      this.bodies.delete(old);
      this.bodyBytes -= b.length;
    }
  }

  private keys(): string[] {
    this.sortedKeys ??= [...new Set([...this.specs.keys(), ...this.disk.keys()])].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return this.sortedKeys;
  }

  // ---- HTTP ------------------------------------------------------------------------------------

  protected async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const rawUrl = req.url ?? '/';
    const q = rawUrl.indexOf('?');
    const rawPath = q < 0 ? rawUrl : rawUrl.slice(0, q);
    const rawQuery = q < 0 ? '' : rawUrl.slice(q + 1);
    const method = (req.method ?? 'GET').toUpperCase();
    const entry: FakeS3LogEntry = { method, path: rawPath, query: {}, status: 0, at: Date.now() };
    this.log.push(entry);
    const requestId = randomBytes(8).toString('hex').toUpperCase();
    res.setHeader('x-amz-request-id', requestId);
    res.setHeader('x-amz-id-2', randomBytes(24).toString('base64'));
    res.setHeader('Server', 'FakeMassiveS3');
    const fail = (status: number, code: string, message: string, extra: Record<string, string> = {}): void => {
      entry.status = status;
      entry.error = code;
      const fields = Object.entries(extra).map(([k, v]) => `<${k}>${xml(v)}</${k}>`).join('');
      const text = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${xml(message)}</Message>${fields}<RequestId>${requestId}</RequestId></Error>`;
      res.writeHead(status, { 'Content-Type': 'application/xml', 'Content-Length': method === 'HEAD' ? 0 : Buffer.byteLength(text) });
      res.end(method === 'HEAD' ? undefined : text);
    };
    const denied = (): void => fail(403, 'AccessDenied', 'Access Denied');

    let pairs: [string, string][];
    let segments: string[];
    try {
      pairs = parseQuery(rawQuery);
      segments = rawPath.split('/').map((s) => decodeURIComponent(s));
    } catch {
      return fail(400, 'InvalidURI', "Couldn't parse the specified URI.");
    }
    entry.path = segments.join('/');
    entry.query = Object.fromEntries(pairs);
    // segments[0] is '' (the path starts with '/'); then the bucket, then the key's own segments.
    const bucket = segments[1] ?? '';
    const key = segments.slice(2).join('/');
    const isObject = bucket !== '' && key !== '';

    if (isObject && method === 'GET') {
      this.gets += 1;
      // Only object GETs count toward a hold, checked before auth like the count above.
      if (this.holdIfDue(req, entry)) return;
    }

    const auth = this.verify(req, rawPath, segments, pairs);
    if (auth === 'skewed') return fail(403, 'RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.');
    if (auth !== 'ok') return denied();
    if (this.denyEverything) return denied();
    if (method !== 'GET' && method !== 'HEAD') return denied(); // read-only credentials
    if (bucket === '') return denied(); // ListBuckets is not offered
    if (bucket !== this.bucket) return fail(404, 'NoSuchBucket', 'The specified bucket does not exist', { BucketName: bucket });

    if (!isObject) {
      if (method === 'HEAD') {
        entry.status = 200;
        res.writeHead(200, { 'Content-Length': 0 });
        res.end();
        return;
      }
      if (entry.query['list-type'] !== '2') return fail(501, 'NotImplemented', 'Only ListObjectsV2 (list-type=2) is implemented by this fake');
      return this.list(entry, res, fail);
    }

    if (this.denied.has(key)) return denied();
    const object = this.object(key);
    if (!object) return fail(404, 'NoSuchKey', 'The specified key does not exist.', { Key: key });

    const ifMatch = req.headers['if-match'];
    if (ifMatch !== undefined && !ifMatch.split(',').some((t) => t.trim() === '*' || t.trim() === object.etag)) {
      return fail(412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', { Condition: 'If-Match' });
    }
    const headers: http.OutgoingHttpHeaders = {
      'Content-Type': 'application/x-gzip',
      ETag: object.etag,
      'Last-Modified': new Date(object.lastModified).toUTCString(),
      'Accept-Ranges': 'bytes',
    };
    const ifNoneMatch = req.headers['if-none-match'];
    if (ifNoneMatch !== undefined && ifNoneMatch.split(',').some((t) => t.trim() === '*' || t.trim() === object.etag)) {
      entry.status = 304;
      res.writeHead(304, { ETag: object.etag, 'Last-Modified': headers['Last-Modified'] });
      res.end();
      return;
    }

    let start = 0;
    let end = object.size - 1;
    let status = 200;
    const range = req.headers.range;
    if (range !== undefined) {
      const m = /^bytes=(\d*)-(\d*)$/.exec(range.trim());
      if (m && (m[1] !== '' || m[2] !== '')) {
        if (m[1] === '') start = Math.max(0, object.size - Number(m[2]));
        else {
          start = Number(m[1]);
          if (m[2] !== '') end = Math.min(end, Number(m[2]));
        }
        if (start >= object.size || start > end) {
          return fail(416, 'InvalidRange', 'The requested range is not satisfiable', { RangeRequested: range, ActualObjectSize: String(object.size) });
        }
        status = 206;
        headers['Content-Range'] = `bytes ${start}-${end}/${object.size}`;
      } // a malformed Range is ignored, as S3 does
    }
    headers['Content-Length'] = end - start + 1;
    entry.status = status;
    res.writeHead(status, headers);
    if (method === 'HEAD') {
      res.end();
      return;
    }
    if (object.filePath === undefined) {
      const body = this.body(key);
      const stallAfter = this.stalls.get(key);
      if (stallAfter !== undefined) {
        this.stalls.delete(key);
        res.write(body.subarray(start, Math.min(end + 1, start + stallAfter)));
        return;
      }
      res.end(start === 0 && end === body.length - 1 ? body : body.subarray(start, end + 1));
      return;
    }
    try {
      // Read in large pieces: the fake shares the machine with the client under test, and 64 KB reads nearly doubled its CPU.
      await pipeline(fs.createReadStream(object.filePath, { start, end, highWaterMark: 1024 * 1024 }), res);
    } catch {
      req.socket.destroy();
    }
  }

  private list(
    entry: FakeS3LogEntry,
    res: http.ServerResponse,
    fail: (status: number, code: string, message: string, extra?: Record<string, string>) => void,
  ): void {
    const q = entry.query;
    const prefix = q.prefix ?? '';
    const delimiter = q.delimiter ?? '';
    const urlEncoded = q['encoding-type'] === 'url';
    if (q['encoding-type'] !== undefined && !urlEncoded) return fail(400, 'InvalidArgument', 'Invalid Encoding Method specified in Request', { ArgumentName: 'encoding-type' });
    const requested = q['max-keys'] === undefined ? 1000 : Number(q['max-keys']);
    if (!/^\d+$/.test(q['max-keys'] ?? '0')) return fail(400, 'InvalidArgument', 'Provided max-keys not an integer or within integer range', { ArgumentName: 'max-keys' });
    const maxKeys = Math.min(requested, this.pageCap);
    let after = q['start-after'] ?? '';
    if (q['continuation-token'] !== undefined) {
      const decoded = Buffer.from(q['continuation-token'], 'base64').toString('utf8');
      if (!decoded.startsWith('fake-s3:')) return fail(400, 'InvalidArgument', 'The continuation token provided is incorrect', { ArgumentName: 'continuation-token' });
      after = decoded.slice('fake-s3:'.length);
    }
    // encoding-type=url: form-style, '/' kept and space as '+' (what botocore's unquote_plus expects).
    const enc = (s: string): string => xml(urlEncoded ? awsEncode(s).replace(/%2F/g, '/').replace(/%20/g, '+') : s);

    const contents: string[] = [];
    const commonPrefixes: string[] = [];
    let count = 0;
    let last = '';
    let truncated = false;
    for (const key of this.keys()) {
      if (!key.startsWith(prefix) || key <= after) continue;
      // A continuation after a common prefix skips everything under it.
      if (delimiter !== '' && after.endsWith(delimiter) && after.startsWith(prefix) && key.startsWith(after)) continue;
      const cut = delimiter === '' ? -1 : key.indexOf(delimiter, prefix.length);
      const item = cut < 0 ? key : key.slice(0, cut + delimiter.length);
      if (cut >= 0 && item === last) continue;
      if (count >= maxKeys) {
        truncated = true;
        break;
      }
      count += 1;
      last = item;
      if (cut >= 0) commonPrefixes.push(`<CommonPrefixes><Prefix>${enc(item)}</Prefix></CommonPrefixes>`);
      else {
        const o = this.object(key)!;
        contents.push(
          `<Contents><Key>${enc(key)}</Key><LastModified>${new Date(o.lastModified).toISOString()}</LastModified>` +
            `<ETag>${xml(o.etag)}</ETag><Size>${o.size}</Size><StorageClass>STANDARD</StorageClass></Contents>`,
        );
      }
    }
    const parts = [
      `<Name>${xml(this.bucket)}</Name>`,
      `<Prefix>${enc(prefix)}</Prefix>`,
      q['start-after'] !== undefined ? `<StartAfter>${enc(q['start-after'])}</StartAfter>` : '',
      q['continuation-token'] !== undefined ? `<ContinuationToken>${xml(q['continuation-token'])}</ContinuationToken>` : '',
      truncated ? `<NextContinuationToken>${xml(Buffer.from(`fake-s3:${last}`, 'utf8').toString('base64'))}</NextContinuationToken>` : '',
      `<KeyCount>${count}</KeyCount>`,
      `<MaxKeys>${maxKeys}</MaxKeys>`,
      delimiter !== '' ? `<Delimiter>${enc(delimiter)}</Delimiter>` : '',
      urlEncoded ? '<EncodingType>url</EncodingType>' : '',
      `<IsTruncated>${truncated}</IsTruncated>`,
      ...contents,
      ...commonPrefixes,
    ];
    const text = `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="${XMLNS}">${parts.join('')}</ListBucketResult>`;
    entry.status = 200;
    res.writeHead(200, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  }

  /** AWS Signature V4 (header form) with this fake's keys. */
  private verify(req: http.IncomingMessage, rawPath: string, segments: string[], pairs: [string, string][]): 'ok' | 'denied' | 'skewed' {
    const header = req.headers.authorization;
    const m = header === undefined ? null : /^AWS4-HMAC-SHA256\s+(.+)$/.exec(header.trim());
    if (!m) return 'denied';
    const fields: Record<string, string> = {};
    for (const part of m[1].split(',')) {
      const eq = part.indexOf('=');
      if (eq > 0) fields[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
    }
    const credential = (fields.Credential ?? '').split('/');
    const signedHeaders = (fields.SignedHeaders ?? '').split(';').filter(Boolean);
    const signature = fields.Signature ?? '';
    if (credential.length !== 5 || !/^[0-9a-f]{64}$/.test(signature)) return 'denied';
    const [akid, scopeDate, region, service, terminator] = credential;
    if (akid !== this.accessKeyId || service !== 's3' || terminator !== 'aws4_request') return 'denied';
    const amzDate = req.headers['x-amz-date'];
    const dm = typeof amzDate === 'string' ? /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate) : null;
    if (!dm || dm[1] + dm[2] + dm[3] !== scopeDate) return 'denied';
    if (!signedHeaders.includes('host')) return 'denied';

    const canonicalHeaders: string[] = [];
    for (const name of signedHeaders) {
      const values: string[] = [];
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        if (req.rawHeaders[i].toLowerCase() === name) values.push(req.rawHeaders[i + 1].replace(/[\r\n]/g, ' ').replace(/[ \t]+/g, ' ').trim());
      }
      if (values.length === 0) return 'denied';
      canonicalHeaders.push(`${name}:${values.join(',')}`);
    }
    const query = pairs
      .map(([k, v]) => [awsEncode(k), awsEncode(v)] as const)
      .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
      .map(([k, v]) => `${k}=${v}`)
      .join('&');
    const payloadHash = typeof req.headers['x-amz-content-sha256'] === 'string' ? req.headers['x-amz-content-sha256'] : EMPTY_SHA256;
    const scope = `${scopeDate}/${region}/s3/aws4_request`;
    const cacheKey = `${scopeDate}/${region}`;
    let signingKey = this.signingKeys.get(cacheKey);
    if (!signingKey) {
      signingKey = hmac(hmac(hmac(hmac(`AWS4${this.secretAccessKey}`, scopeDate), region), 's3'), 'aws4_request');
      this.signingKeys.set(cacheKey, signingKey);
    }
    // S3 canonical URI: the path URI-encoded once (what the SDK sends); the raw form is accepted too.
    const canonicalPath = segments.map(awsEncode).join('/') || '/';
    const given = Buffer.from(signature, 'hex');
    let ok = false;
    for (const path of new Set([canonicalPath, rawPath])) {
      const canonical = [(req.method ?? 'GET').toUpperCase(), path, query, ...canonicalHeaders, '', signedHeaders.join(';'), payloadHash].join('\n');
      const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, createHash('sha256').update(canonical, 'utf8').digest('hex')].join('\n');
      if (timingSafeEqual(hmac(signingKey, stringToSign), given)) ok = true;
    }
    if (!ok) return 'denied';
    const signedAt = Date.UTC(+dm[1], +dm[2] - 1, +dm[3], +dm[4], +dm[5], +dm[6]);
    return Math.abs(Date.now() - signedAt) > MAX_SKEW_MS ? 'skewed' : 'ok';
  }
}

// ---- benchmark files -----------------------------------------------------------------------------

/**
 * Write a whole-market minute file for the benchmark, streamed to disk: each ticker's minutes of
 * 04:00–20:00 New York (the session's extended hours if `date` is a session), deterministic, valid
 * OHLC in whole cents. A cheap seeded walk, not the synthetic market. Like the real file, liquidity
 * varies: a tenth of the tickers trade every regular minute, the rest some of them, extended hours
 * thinly. About 260 rows per ticker (1.3 M rows for 5000 tickers). Returns the rows written.
 */
export async function writeMarketMinuteFile(filePath: string, date: string, tickers: string[]): Promise<number> {
  const session = nyseRuleCalendar.sessions(date, date)[0];
  const first = session ? session.extendedOpen : nyWallToUtc(date, 4 * 60);
  const last = session ? session.extendedClose : nyWallToUtc(date, 20 * 60);
  const open = session ? session.open : nyWallToUtc(date, 9 * 60 + 30);
  const close = session ? session.close : nyWallToUtc(date, 16 * 60);
  if (first < 0) throw new Error('writeMarketMinuteFile: dates before 1970 are not supported');
  const minutes = Math.round((last - first) / 60_000);
  const sorted = [...new Set(tickers)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const dayNumber = Math.floor(nyMidnightUtc(date) / 86_400_000);
  // window_start strings once per minute: `${ms}000000` is ms × 10⁶ for non-negative ms.
  const stamps = Array.from({ length: minutes }, (_, i) => `${first + i * 60_000}000000`);
  const regular = Array.from({ length: minutes }, (_, i) => first + i * 60_000 >= open && first + i * 60_000 < close);
  let rows = 0;

  function* chunks(): Generator<string> {
    yield `${FLAT_FILE_HEADER}\n`;
    for (const ticker of sorted) {
      let seed = dayNumber * 0x9e3779b1;
      for (let i = 0; i < ticker.length; i++) seed = Math.imul(seed ^ ticker.charCodeAt(i), 0x01000193);
      const random = mulberry32(seed >>> 0);
      const liquidity = random();
      const pRegular = liquidity < 0.1 ? 1 : 0.05 + 0.65 * liquidity;
      const pExtended = pRegular * 0.3;
      let price = 100 + Math.floor(random() * random() * 50_000); // $1 – $500, in cents
      const step = Math.max(1, Math.round(price * 0.0008));
      let text = '';
      for (let i = 0; i < minutes; i++) {
        const o = price;
        const c = Math.max(1, o + Math.round((random() - 0.5) * 2 * step));
        price = c;
        const isRegular = regular[i];
        if (random() >= (isRegular ? pRegular : pExtended)) continue;
        const h = Math.max(o, c) + Math.floor(random() * step);
        const l = Math.max(1, Math.min(o, c) - Math.floor(random() * step));
        const volume = 1 + Math.floor(random() * (isRegular ? 5_000 : 500));
        const trades = 1 + Math.floor(volume / (20 + random() * 80));
        text += `${ticker},${volume},${cents(o)},${cents(c)},${cents(h)},${cents(l)},${stamps[i]},${trades}\n`;
        rows += 1;
      }
      yield text;
    }
  }

  await pipeline(Readable.from(chunks()), zlib.createGzip({ level: 1 }), fs.createWriteStream(filePath));
  return rows;
}
