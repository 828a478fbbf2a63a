/** `ingest csv|file|symbols`: turn flags, settings and a symbol list into a pipeline run. */
import path from 'node:path';
import { CannotProceedError, ExitCode, UsageError } from '../errors.js';
import { resolveSettings, detectOs, type SettingKey, type Settings, defaultConfigPath } from '../config/settings.js';
import { defaultDatasetName, parseTimeframe } from '../plan/timeframe.js';
import { addDays, isIsoDate, nyDateOf, nyMidnightUtc } from '../plan/time.js';
import { nyseRuleCalendar, type TradingCalendar } from '../plan/calendar.js';
import { isValidDatasetName } from '../lake/layout.js';
import { CircuitBreaker } from '../net/circuit-breaker.js';
import { HttpClient } from '../net/http.js';
import { RateBudget } from '../net/rate-budget.js';
import { DEFAULT_RETRY_POLICY } from '../net/retry.js';
import { AlpacaSource, authHeaders, DEFAULT_DATA_URL, DEFAULT_TRADING_URL } from '../sources/alpaca/source.js';
import { loadAlpacaAssets, loadAlpacaCalendar } from '../sources/alpaca/trading.js';
import { SyntheticSource } from '../sources/synthetic/source.js';
import { SOURCES, type Adjustment, type BarSource, type Feed, type SourceName } from '../sources/types.js';
import { normalizeList, type SymbolEntry } from '../universe/symbols.js';
import { updateIndexMembership } from '../universe/index-membership.js';
import { CredentialsError, PlanRestrictionError } from '../sources/errors.js';
import { EventBus, type RunSummary } from '../run/events.js';
import { ingest, type RunPreparation } from '../run/pipeline.js';
import { Renderer, type Output, type OutputMode } from './render.js';

export interface IngestFlags {
  timeframe?: string;
  start?: string;
  end?: string;
  feed?: string;
  adjustment?: string;
  source?: string;
  out?: string;
  dataset?: string;
  config?: string;
  threads?: string;
  rateLimit?: string;
  maxAttempts?: string;
  requestTimeout?: string;
  retryDelay?: string;
  circuitBreaker?: string;
  lookback?: string;
  refetch?: boolean;
  indexName?: string;
  skipInvalid?: boolean;
  progress?: boolean;
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
}

export interface CommandContext {
  env: NodeJS.ProcessEnv;
  io: Output;
  stdoutIsTty: boolean;
  signal: AbortSignal;
  now: () => number;
}

/** The trading API's own request limit (all plans). */
const TRADING_API_RATE_LIMIT = 200;

/** Delay the free plan needs before SIP data may be queried. */
const RECENT_DATA_DELAY_MS = 16 * 60_000;

export function settingsFromFlags(flags: IngestFlags, env: NodeJS.ProcessEnv): Settings {
  const f: Partial<Record<SettingKey, string>> = {
    local_storage_dir: flags.out,
    api_threads: flags.threads,
    timeframe: flags.timeframe,
    feed: flags.feed,
    adjustment: flags.adjustment,
    start: flags.start,
    rate_limit_per_minute: flags.rateLimit,
    max_attempts: flags.maxAttempts,
    request_timeout_seconds: flags.requestTimeout,
    retry_base_delay_ms: flags.retryDelay,
    circuit_breaker_failures: flags.circuitBreaker,
    lookback_sessions: flags.lookback,
  };
  for (const key of Object.keys(f) as SettingKey[]) if (f[key] === undefined) delete f[key];
  return resolveSettings({
    configPath: flags.config ? path.resolve(flags.config) : defaultConfigPath(),
    configExplicit: flags.config !== undefined,
    env,
    flags: f,
    osName: detectOs(),
  });
}

export function outputMode(flags: IngestFlags, stdoutIsTty: boolean): OutputMode {
  if (flags.json) return 'json';
  if (flags.quiet) return 'quiet';
  return stdoutIsTty && flags.progress !== false ? 'tty' : 'plain';
}

export interface DateRange {
  startDate: string;
  endInstant: number;
  notes: string[];
}

/** Dates are New York trading dates, inclusive at both ends. The end is capped at now − 16 min. */
export function resolveDates(start: string, endFlag: string | undefined, nowMs: number): DateRange {
  const notes: string[] = [];
  if (!isIsoDate(start)) throw new UsageError(`--start ${JSON.stringify(start)} is not a date; use YYYY-MM-DD`);
  if (endFlag !== undefined && !isIsoDate(endFlag)) throw new UsageError(`--end ${JSON.stringify(endFlag)} is not a date; use YYYY-MM-DD`);
  const cap = nowMs - RECENT_DATA_DELAY_MS;
  if (endFlag !== undefined && start > endFlag) throw new UsageError(`--start ${start} is after --end ${endFlag}; swap them or fix one`);
  let endInstant = cap;
  if (endFlag !== undefined) {
    const requested = nyMidnightUtc(addDays(endFlag, 1));
    if (requested > cap) notes.push(`--end ${endFlag} is in the future or within the last 16 minutes; using now − 16 min (${new Date(cap).toISOString()})`);
    endInstant = Math.min(requested, cap);
  }
  if (nyMidnightUtc(start) >= endInstant) throw new UsageError(`--start ${start} is after the latest available data (${nyDateOf(cap)}); choose an earlier start`);
  return { startDate: start, endInstant, notes };
}

export function prepareSymbols(entries: readonly SymbolEntry[], origin: string, skipInvalid: boolean): { symbols: string[]; notes: string[] } {
  const list = normalizeList(entries);
  const notes: string[] = [];
  if (list.invalid.length > 0) {
    const described = list.invalid.map((i) => `${origin}:${i.line} ${JSON.stringify(i.raw)} (${i.reason})`).join('; ');
    if (!skipInvalid) throw new UsageError(`invalid symbols, nothing was fetched: ${described}. Fix them, or pass --skip-invalid to skip them`);
    notes.push(`skipping ${list.invalid.length} invalid symbol(s): ${described}`);
  }
  if (list.duplicates.length > 0) notes.push(`ignoring repeated symbol(s): ${list.duplicates.join(', ')}`);
  if (list.symbols.length === 0) throw new UsageError(`${origin} holds no valid symbols; add at least one`);
  return { symbols: list.symbols, notes };
}

function credentials(env: NodeJS.ProcessEnv): { keyId: string; secretKey: string } {
  const keyId = env.APCA_API_KEY_ID?.trim();
  const secretKey = env.APCA_API_SECRET_KEY?.trim();
  if (!keyId || !secretKey) {
    throw new CannotProceedError('Alpaca credentials missing: set APCA_API_KEY_ID and APCA_API_SECRET_KEY, or use --source synthetic to run offline');
  }
  return { keyId, secretKey };
}

export async function runIngestCommand(entries: readonly SymbolEntry[], origin: string, flags: IngestFlags, defaultIndexName: string | undefined, ctx: CommandContext): Promise<number> {
  const settings = settingsFromFlags(flags, ctx.env);
  const mode = outputMode(flags, ctx.stdoutIsTty);
  const renderer = new Renderer(mode, ctx.io, flags.verbose ?? false);

  const sourceName = (flags.source ?? 'alpaca').toLowerCase();
  if (!(SOURCES as readonly string[]).includes(sourceName)) throw new UsageError(`unknown --source ${JSON.stringify(flags.source)}; use ${SOURCES.join(' or ')}`);
  const timeframe = parseTimeframe(settings.timeframe.value);
  if (!timeframe) throw new UsageError(`unknown timeframe ${settings.timeframe.value}`);
  const dataset = flags.dataset ?? defaultDatasetName(timeframe);
  if (!isValidDatasetName(dataset)) throw new UsageError(`invalid --dataset ${JSON.stringify(dataset)}; use lower-case letters, digits, "_" and "-"`);
  const { symbols, notes } = prepareSymbols(entries, origin, flags.skipInvalid ?? false);
  const dates = resolveDates(settings.start.value, flags.end, ctx.now());
  const indexName = flags.indexName ?? defaultIndexName;
  if (indexName !== undefined && !/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/.test(indexName)) throw new UsageError(`invalid --index-name ${JSON.stringify(indexName)}; use letters, digits, "_" and "-"`);
  const storage = path.resolve(settings.local_storage_dir.value);
  const threads = Number(settings.api_threads.value);

  const events = new EventBus();
  events.on((event) => renderer.handle(event));
  for (const note of [...notes, ...dates.notes]) renderer.notice('warning', note);

  const breaker = new CircuitBreaker(Number(settings.circuit_breaker_failures.value));
  let source: BarSource;
  const calendar: TradingCalendar = nyseRuleCalendar;
  let prepare: (() => Promise<RunPreparation>) | undefined;
  if ((sourceName as SourceName) === 'synthetic') {
    source = new SyntheticSource();
  } else {
    const creds = credentials(ctx.env);
    // One rate budget per host: the trading API has its own 200/min, and its headers must not
    // lower the market-data budget.
    const clientFor = (perMinute: number, maxAttempts: number, hostBreaker: CircuitBreaker): HttpClient =>
      new HttpClient({
        budget: new RateBudget(perMinute),
        policy: {
          ...DEFAULT_RETRY_POLICY,
          maxAttempts,
          timeoutMs: Number(settings.request_timeout_seconds.value) * 1000,
          baseDelayMs: Number(settings.retry_base_delay_ms.value),
        },
        breaker: hostBreaker,
        headers: authHeaders(creds),
        onRequest: (request) => events.emit({ type: 'request', request }),
      });
    const dataUrl = ctx.env.APCA_API_DATA_URL?.trim() || DEFAULT_DATA_URL;
    const tradingUrl = ctx.env.APCA_API_BASE_URL?.trim() || DEFAULT_TRADING_URL;
    const maxAttempts = Number(settings.max_attempts.value);
    source = new AlpacaSource(clientFor(Number(settings.rate_limit_per_minute.value), maxAttempts, breaker), dataUrl);
    // The calendar and asset list are optional: two attempts, and their failures never trip the
    // breaker that guards the bar requests.
    const http = clientFor(TRADING_API_RATE_LIMIT, Math.min(2, maxAttempts), new CircuitBreaker(0));
    // Calendar and asset list improve the plan but are not required: without them the run uses the
    // NYSE rules and requests every symbol. Rejected credentials still stop the run.
    const optional = async <T>(what: string, load: () => Promise<T>): Promise<T | undefined> => {
      try {
        return await load();
      } catch (error) {
        if (error instanceof CredentialsError || error instanceof PlanRestrictionError || ctx.signal.aborted) throw error;
        renderer.notice('warning', `could not load the ${what} (${error instanceof Error ? error.message : String(error)}); continuing without it`);
        return undefined;
      }
    };
    prepare = async () => {
      // Both are needed before planning: ask for them at once.
      const [providerCalendar, assets] = await Promise.all([
        optional('Alpaca calendar', () => loadAlpacaCalendar(http, tradingUrl, creds, storage, ctx.signal)),
        optional('Alpaca asset list', () => loadAlpacaAssets(http, tradingUrl, creds, storage, ctx.signal)),
      ]);
      if (!assets) return { calendar: providerCalendar };
      return {
        calendar: providerCalendar,
        notAssets: symbols.filter((s) => !assets.has(s)),
        inactive: symbols.filter((s) => assets.get(s) === 'inactive'),
        active: symbols.filter((s) => assets.get(s) === 'active'),
      };
    };
  }

  const summary: RunSummary = await ingest({
    storage,
    dataset,
    timeframe,
    source,
    feed: settings.feed.value as Feed,
    adjustment: settings.adjustment.value as Adjustment,
    symbols,
    startDate: dates.startDate,
    explicitStart: flags.start !== undefined,
    endInstant: dates.endInstant,
    lookbackSessions: Number(settings.lookback_sessions.value),
    refetch: flags.refetch ?? false,
    threads,
    calendar,
    breaker,
    signal: ctx.signal,
    events,
    prepare,
  });
  if (indexName !== undefined && summary.exitCode !== ExitCode.cannotProceed) {
    await updateIndexMembership(storage, indexName, symbols, nyDateOf(ctx.now()), new Set(summary.inactive));
  }
  renderer.finish(summary);
  return summary.exitCode;
}
