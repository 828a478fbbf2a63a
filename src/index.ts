/**
 * Data Engine as a library: bulk-ingest historical US market data into a local Parquet lake.
 *
 *   const pipeline = new IngestionPipeline({ source: 'synthetic', storageDir: './data' });
 *   pipeline.on('progress', (p) => …);
 *   const result = await pipeline.ingestSymbols(['AAPL', 'MSFT'], { start: '2024-01-02', end: '2024-03-28' });
 *
 * The CLI is a thin shell over exactly these exports.
 */
import { readCsvList, readTextList } from './universe/lists.js';
import { normalizeList, type NormalizedList } from './universe/symbols.js';

export { IngestionPipeline, optionsFromSettings, type PipelineOptions, type IngestOptions, type CsvIngestOptions } from './run/ingestion-pipeline.js';
export type {
  IngestResult,
  PlanReport,
  PipelineEvents,
  PipelineEventName,
  PipelineListener,
  ProgressEvent,
  UnitEvent,
  SymbolEvent,
  MessageEvent,
  RequestEvent,
  SymbolResult,
  SymbolOutcome,
  StopReason,
  WorkUnit,
} from './run/events.js';
export type { InspectOptions, StatusReport, VerifyResult, QueryResult } from './run/lake-inspection.js';
export type { RepartitionResult } from './run/repartition.js';
export type { DatasetStatus, SymbolStatus } from './lake/status.js';
export type { ListedAction } from './lake/corporate-actions.js';
export { DATA_KINDS, type DataKind } from './lake/schema.js';
export type { VerifyReport, Finding, Severity } from './quality/verify.js';
export { UsageError, CannotProceedError, InterruptedError } from './shared/errors.js';
export { CredentialsError, PlanRestrictionError, SourceUnavailableError } from './sources/errors.js';
export { SOURCE_NAMES, SOURCE_DEFINITIONS, DEFAULT_SOURCE } from './sources/registry.js';
export type { SourceDefinition, SourceCapabilities } from './sources/types.js';
export {
  resolveSettings,
  defaultConfigPath,
  detectOs,
  environmentName,
  SETTING_NAMES,
  type Settings,
  type SettingKey,
  type SettingValue,
  type ResolvedSetting,
  type ResolvedSettings,
  type SettingsSources,
  type SettingOrigin,
  type OsSection,
} from './config/settings.js';
export { loadIndexMembership, updateIndexMembership as storeIndexMembership, type MembershipRow } from './universe/index-membership.js';
export { indexNameFromFile } from './universe/lists.js';
export type { NormalizedList, InvalidSymbol, SymbolEntry } from './universe/symbols.js';
export { TIMEFRAME_HELP, parseTimeframe, type Timeframe, type TimeframeUnit } from './shared/timeframe.js';
export { nyDateOf } from './shared/time.js';

/** Trim, upper-case, validate and de-duplicate symbols in order (`brk-b` → `BRK.B`). */
export function normalizeSymbols(symbols: readonly string[]): NormalizedList {
  return normalizeList(symbols.map((raw, i) => ({ raw, line: i + 1 })));
}

/** The symbols of a CSV file's Symbol/Ticker column (or `column`), normalized; line numbers are the file's. */
export function loadSymbolsFromCsv(file: string, options: { column?: string } = {}): NormalizedList {
  return normalizeList(readCsvList(file, options.column));
}

/** One symbol per line; `#` starts a comment. */
export function loadSymbolsFromTextFile(file: string): NormalizedList {
  return normalizeList(readTextList(file));
}
