/**
 * The seam between the core and a data provider. A source turns requests into batches of the
 * lake's schema (typed columns) and declares what it can do; the planner and the run use those
 * declarations and never a provider's name, wire format or constants.
 */
import type { CorporateAction } from '../lake/corporate-actions.js';
import type { BarColumns, DataKind, TickColumns, TickKind } from '../lake/schema.js';
import type { CircuitBreaker } from '../net/circuit-breaker.js';
import type { RequestEvent } from '../net/request-event.js';
import type { RetryPolicy } from '../net/retry.js';
import type { Session } from '../shared/calendar.js';
import type { IsoDate } from '../shared/time.js';
import type { Timeframe } from '../shared/timeframe.js';

export interface BarRequest {
  symbols: readonly string[];
  timeframe: Timeframe;
  /** Inclusive start and exclusive end, UTC ms. */
  start: number;
  end: number;
  feed: string | undefined;
  adjustment: string | undefined;
}

/** Every trade or quote of some symbols over whole New York days. */
export interface TickRequest {
  kind: TickKind;
  symbols: readonly string[];
  /**
   * Inclusive start and exclusive end, UTC ms: New York midnights. A source serving market-wide
   * days (`marketWideTicks`) is asked for days it listed only.
   */
  start: number;
  end: number;
  feed: string | undefined;
  /** A directory for the request's temporary files; the run removes it afterwards. */
  scratch: string;
}

/** What a versioned source's sessions hold: bars of a timeframe, or one kind of ticks. */
export type SessionData = { kind: 'bars'; timeframe: Timeframe } | { kind: TickKind };

/** Every requested symbol's bars of some whole sessions, fetched market-wide (one request or file per session). */
export interface SessionBarRequest {
  symbols: readonly string[];
  timeframe: Timeframe;
  /** New York trading dates, ascending. */
  sessions: readonly IsoDate[];
  feed: string | undefined;
  adjustment: string | undefined;
  /** A directory for the request's temporary files; the run removes it afterwards. */
  scratch: string;
}

/** How a source serves market-wide sessions: a grouped-daily call, a day file. */
export interface SessionRequests {
  supportsTimeframe(timeframe: Timeframe): boolean;
  /** The only way it serves these timeframes (a file store); otherwise the planner picks whichever needs fewer requests. */
  readonly only: boolean;
  /**
   * Each session's data carries a version (a file's ETag) that the source lists: the ledger keeps
   * the version it ingested, and a session the provider republished is fetched again.
   */
  readonly versioned: boolean;
  /** Sessions one unit fetches at most (each a request); undefined: a whole partition period. */
  readonly maxSessionsPerUnit?: number;
}

export type { CorporateAction } from '../lake/corporate-actions.js';

export type ListingStatus = 'active' | 'inactive';

export interface SourceCapabilities {
  readonly kinds: readonly DataKind[];
  /** Whether bars of this timeframe can be fetched. */
  supportsTimeframe(timeframe: Timeframe): boolean;
  /** The timeframes it serves, for errors, when they are a short list. */
  readonly timeframeChoices?: readonly string[];
  /** Symbols one request may name. */
  readonly maxSymbolsPerRequest: number;
  /** Rows one page holds, shared by the symbols of a request (what the planner fills). */
  readonly pageRows: number;
  /**
   * Rows of that page limit one symbol's session uses at most: a provider may count the base rows it
   * scans (minutes behind an hourly bar) rather than the bars it returns. Undefined: the bars.
   */
  countedRowsPerSession?(timeframe: Timeframe): number;
  /** Each request's window must fit one page: the provider's limit caps what it scans. */
  readonly windowFitsOnePage: boolean;
  /** Present when it can also serve whole sessions market-wide. */
  readonly sessionRequests?: SessionRequests;
  /**
   * Present when it serves trades and quotes a whole market day at a time (a day file holding every
   * symbol): the plan makes one unit per day for all the symbols wanting it. `versioned` as for sessions.
   */
  readonly marketWideTicks?: { readonly versioned: boolean };
  /** Feeds and adjustments it offers, the default first; empty when it has no such choice. */
  readonly feeds: readonly string[];
  readonly adjustments: readonly string[];
  /** It lists corporate actions (splits, dividends, name changes) per symbol. */
  readonly corporateActions: boolean;
  /** It can list the trading calendar / which symbols it knows (and which are delisted). */
  readonly calendar: boolean;
  readonly listings: boolean;
  /** Requests per minute when the user sets none (its free plan); undefined when it makes no requests. */
  readonly defaultRateLimitPerMinute: number | undefined;
  /** How far behind real time it may be asked for data (e.g. a free plan's delay), ms. */
  readonly recentDataDelayMs: number;
  /** Data that is generated, not a market's: never mixed with real data in one dataset. */
  readonly synthetic: boolean;
  /** Environment variables it reads, for `config` (names only, never values). */
  readonly environment: readonly { name: string; secret: boolean; required: boolean }[];
}

export interface Source {
  readonly name: string;
  readonly capabilities: SourceCapabilities;
  /**
   * Every bar of the request, as batches in symbol-then-time order. `reuse` hands back the last
   * batch once the caller has copied it, so a source can fill the same buffers again. Absent when
   * it serves whole sessions only.
   */
  fetchBars?(request: BarRequest, signal: AbortSignal, reuse: () => BarColumns | undefined): AsyncIterable<BarColumns>;
  /** Present with `capabilities.sessionRequests`: every requested symbol's bars of the sessions, in symbol-then-time order. */
  fetchSessionBars?(request: SessionBarRequest, signal: AbortSignal, reuse: () => BarColumns | undefined): AsyncIterable<BarColumns>;
  /**
   * Present when `capabilities.kinds` has trades or quotes: every row of the request as batches of
   * that kind's schema, in symbol-then-time order (ties in the provider's order). `reuse` as for bars.
   */
  fetchTicks?(request: TickRequest, signal: AbortSignal, reuse: () => TickColumns | undefined): AsyncIterable<TickColumns>;
  /** Present when sessions are versioned: the sessions of that data it holds in [from, to] and each one's version. */
  listSessionVersions?(from: IsoDate, to: IsoDate, data: SessionData, signal: AbortSignal): Promise<Map<IsoDate, string>>;
  /** Present when `capabilities.corporateActions`: every action of the symbols with an ex-date in [from, to]. */
  fetchCorporateActions?(symbols: readonly string[], from: IsoDate, to: IsoDate, signal: AbortSignal): Promise<CorporateAction[]>;
  /** Release what it holds (connections, an embedded database) once the run is over. */
  close?(): void;
  /** Present when `capabilities.calendar`. */
  loadCalendar?(signal: AbortSignal): Promise<Session[]>;
  /** Present when `capabilities.listings`: every symbol it knows, with its status. */
  loadListings?(signal: AbortSignal): Promise<Map<string, ListingStatus>>;
}

/** What the run hands a source: where settings, credentials and the shared request policy come from. */
export interface SourceContext {
  env: Readonly<Record<string, string | undefined>>;
  rateLimitPerMinute: number;
  retry: RetryPolicy;
  /** Guards the data requests: consecutive failures stop the run. */
  breaker: CircuitBreaker;
  onRequest: (event: RequestEvent) => void;
  /** Something the user should know that does not fail the request (rows the provider got wrong, say). */
  onWarning: (message: string) => void;
  /**
   * A directory for the run's temporary files (an embedded database's spill files, say) inside its
   * staging area: made by whoever writes there first, removed when the run ends.
   */
  scratch: string;
}

export interface SourceDefinition {
  readonly name: string;
  readonly description: string;
  readonly capabilities: SourceCapabilities;
  /** Throws CredentialsError when a required variable is missing. */
  create(context: SourceContext): Source;
}
