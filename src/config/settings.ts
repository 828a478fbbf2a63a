/**
 * Settings: flag > environment (DATA_ENGINE_<KEY>) > the OS section of settings.ini > [default] >
 * built-in. Every value is validated here, and an error names the file, the key and what is accepted.
 */
import fs from 'node:fs';
import path from 'node:path';
import ini from 'ini';
import { UsageError } from '../shared/errors.js';
import { isIsoDate } from '../shared/time.js';
import { parseTimeframe, TIMEFRAME_HELP } from '../shared/timeframe.js';
import { SOURCE_DEFINITIONS } from '../sources/registry.js';

export type OsSection = 'linux' | 'macos' | 'windows';

export function detectOs(platform: NodeJS.Platform = process.platform): OsSection {
  if (platform === 'darwin') return 'macos';
  if (platform === 'win32') return 'windows';
  return 'linux';
}

/** How one key is read, shown and defaulted. Values are typed once here: numbers are numbers. */
interface KeySpec<T> {
  help: string;
  /** The value, or undefined when `raw` is invalid. */
  parse: (raw: string) => T | undefined;
  /** Built-in default; undefined means "the source's own default". */
  builtIn: (os: OsSection) => T | undefined;
}

const spec = <T>(s: KeySpec<T>): KeySpec<T> => s;
const wholeNumber = (min: number, max: number) => (raw: string): number | undefined => (/^\d+$/.test(raw.trim()) && +raw >= min && +raw <= max ? +raw : undefined);
const oneOf = (values: readonly string[]) => (raw: string): string | undefined => (values.includes(raw.trim().toLowerCase()) ? raw.trim().toLowerCase() : undefined);
const allFeeds = [...new Set(SOURCE_DEFINITIONS.flatMap((d) => d.capabilities.feeds))];
const allAdjustments = [...new Set(SOURCE_DEFINITIONS.flatMap((d) => d.capabilities.adjustments))];

export const SETTING_KEYS = {
  local_storage_dir: spec<string>({ help: 'a directory path', parse: (raw) => (raw.trim() ? raw.trim() : undefined), builtIn: () => './data' }),
  api_threads: spec<number>({ help: 'a whole number from 1 to 64', parse: wholeNumber(1, 64), builtIn: (os) => (os === 'macos' ? 6 : 8) }),
  timeframe: spec<string>({ help: TIMEFRAME_HELP, parse: (raw) => parseTimeframe(raw)?.api, builtIn: () => '1Day' }),
  feed: spec<string>({ help: `${allFeeds.join(', ')} (where the source has feeds)`, parse: oneOf(allFeeds), builtIn: () => undefined }),
  adjustment: spec<string>({ help: `${allAdjustments.join(', ')} (where the source has adjustments)`, parse: oneOf(allAdjustments), builtIn: () => undefined }),
  start: spec<string>({ help: 'a date YYYY-MM-DD', parse: (raw) => (isIsoDate(raw.trim()) ? raw.trim() : undefined), builtIn: () => '2016-01-01' }),
  rate_limit_per_minute: spec<number>({ help: "a whole number from 1 to 100000 (unset: the source's free plan)", parse: wholeNumber(1, 100_000), builtIn: () => undefined }),
  max_attempts: spec<number>({ help: 'a whole number from 1 to 20', parse: wholeNumber(1, 20), builtIn: () => 6 }),
  request_timeout_seconds: spec<number>({ help: 'a whole number of seconds from 1 to 600', parse: wholeNumber(1, 600), builtIn: () => 60 }),
  retry_base_delay_ms: spec<number>({ help: 'a whole number of milliseconds from 1 to 60000', parse: wholeNumber(1, 60_000), builtIn: () => 1000 }),
  circuit_breaker_failures: spec<number>({ help: 'a whole number from 0 (off) to 1000', parse: wholeNumber(0, 1000), builtIn: () => 10 }),
  lookback_sessions: spec<number>({ help: 'a whole number of sessions from 0 to 50', parse: wholeNumber(0, 50), builtIn: () => 2 }),
};

export type SettingKey = keyof typeof SETTING_KEYS;
export const SETTING_NAMES = Object.keys(SETTING_KEYS) as SettingKey[];
export type SettingValue<K extends SettingKey> = (typeof SETTING_KEYS)[K] extends KeySpec<infer T> ? T : never;

/** Environment variables read besides `DATA_ENGINE_<KEY>`. */
const OTHER_ENGINE_VARIABLES = ['DATA_ENGINE_DEBUG'];

export function environmentName(key: SettingKey): string {
  return `DATA_ENGINE_${key.toUpperCase()}`;
}

export type SettingOrigin = 'flag' | 'environment' | 'settings [os]' | 'settings [default]' | 'built-in';

export interface ResolvedSetting<T> {
  /** Undefined only where the built-in default is the source's own. */
  value: T | undefined;
  origin: SettingOrigin;
  /** e.g. "settings.ini [linux]", "DATA_ENGINE_FEED" or "--threads". */
  where: string;
}

export type Settings = { [K in SettingKey]: ResolvedSetting<SettingValue<K>> };

export interface ResolvedSettings {
  settings: Settings;
  /** Things worth a warning that are not errors (an unknown DATA_ENGINE_* variable). */
  warnings: string[];
}

export interface SettingsSources {
  /** Path to settings.ini; when not given explicitly, a missing default file is fine. */
  configPath: string;
  configExplicit: boolean;
  env: Readonly<Record<string, string | undefined>>;
  /** Values given on the command line (or by a caller), with the flag's name for messages. */
  flags: Partial<Record<SettingKey, { raw: string; flag: string }>>;
  osName: OsSection;
}

const SECTIONS = ['default', 'linux', 'macos', 'windows'] as const;
type Section = (typeof SECTIONS)[number];
/** A settings file's values, validated, by section. */
type FileValues = Record<Section, { [K in SettingKey]?: SettingValue<K> }>;

/** Parse settings.ini strictly: unknown sections or keys and malformed lines are errors. */
export function parseSettingsIni(text: string, file: string): FileValues {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((line, index) => {
    const t = line.trim();
    if (t === '' || t.startsWith(';') || t.startsWith('#')) return;
    if (/^\[[^\]]+\]$/.test(t)) {
      const name = t.slice(1, -1).trim();
      if (!(SECTIONS as readonly string[]).includes(name)) {
        throw new UsageError(`${file}:${index + 1}: unknown section [${name}]; sections are ${SECTIONS.map((s) => `[${s}]`).join(', ')}`);
      }
      return;
    }
    if (!/^[A-Za-z0-9_.-]+\s*=/.test(t)) throw new UsageError(`${file}:${index + 1}: malformed line ${JSON.stringify(t)}; expected key = value`);
  });
  const parsed = ini.parse(lines.join('\n')) as Record<string, unknown>;
  const out: FileValues = { default: {}, linux: {}, macos: {}, windows: {} };
  for (const [sectionName, body] of Object.entries(parsed)) {
    if (typeof body !== 'object' || body === null) {
      throw new UsageError(`${file}: key ${sectionName} is outside any section; put it under [default]`);
    }
    const section = sectionName as Section;
    for (const [key, value] of Object.entries(body as Record<string, unknown>)) {
      if (!(key in SETTING_KEYS)) {
        throw new UsageError(`${file}: unknown key ${key} in [${section}]; known keys: ${SETTING_NAMES.join(', ')}`);
      }
      const raw = typeof value === 'string' ? value : String(value);
      const parsedValue = SETTING_KEYS[key as SettingKey].parse(raw);
      if (parsedValue === undefined) throw new UsageError(`${file}: [${section}] ${key} = ${raw} is invalid; expected ${SETTING_KEYS[key as SettingKey].help}`);
      (out[section] as Record<string, unknown>)[key] = parsedValue;
    }
  }
  return out;
}

function readSettingsFile(sources: SettingsSources): FileValues {
  const file = sources.configPath;
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (sources.configExplicit || code !== 'ENOENT') {
      throw new UsageError(`cannot read settings file ${file} (${code ?? 'error'}); pass an existing file with --config or remove the flag`);
    }
    return { default: {}, linux: {}, macos: {}, windows: {} };
  }
  return parseSettingsIni(text, file);
}

function resolveKey<K extends SettingKey>(key: K, sources: SettingsSources, file: FileValues): ResolvedSetting<SettingValue<K>> {
  const keySpec = SETTING_KEYS[key] as KeySpec<SettingValue<K>>;
  const flag = sources.flags[key];
  const envName = environmentName(key);
  const envValue = sources.env[envName];
  const display = path.basename(sources.configPath);
  if (flag !== undefined) {
    const value = keySpec.parse(flag.raw);
    if (value === undefined) throw new UsageError(`invalid value ${JSON.stringify(flag.raw)} for ${flag.flag}; expected ${keySpec.help}`);
    return { value, origin: 'flag', where: flag.flag };
  }
  if (envValue !== undefined && envValue !== '') {
    const value = keySpec.parse(envValue);
    if (value === undefined) throw new UsageError(`invalid value ${JSON.stringify(envValue)} in environment variable ${envName}; expected ${keySpec.help}`);
    return { value, origin: 'environment', where: envName };
  }
  const fromOs = file[sources.osName][key] as SettingValue<K> | undefined;
  if (fromOs !== undefined) return { value: fromOs, origin: 'settings [os]', where: `${display} [${sources.osName}]` };
  const fromDefault = file.default[key] as SettingValue<K> | undefined;
  if (fromDefault !== undefined) return { value: fromDefault, origin: 'settings [default]', where: `${display} [default]` };
  return { value: keySpec.builtIn(sources.osName), origin: 'built-in', where: 'built-in' };
}

export function resolveSettings(sources: SettingsSources): ResolvedSettings {
  const file = readSettingsFile(sources);
  const settings = Object.fromEntries(SETTING_NAMES.map((key) => [key, resolveKey(key, sources, file)])) as Settings;
  const known = new Set([...SETTING_NAMES.map(environmentName), ...OTHER_ENGINE_VARIABLES]);
  const warnings = Object.keys(sources.env)
    .filter((name) => name.startsWith('DATA_ENGINE_') && !known.has(name))
    .sort()
    .map((name) => `environment variable ${name} is not a setting and is ignored; known: ${SETTING_NAMES.map(environmentName).join(', ')}`);
  return { settings, warnings };
}

export function defaultConfigPath(): string {
  return path.resolve('settings.ini');
}
