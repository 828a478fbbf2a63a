/**
 * Settings: flag > environment (DATA_ENGINE_<KEY>) > the OS section of settings.ini > [default] >
 * built-in. Every value is validated here, and an error names the file, the key and what is accepted.
 */
import fs from 'node:fs';
import path from 'node:path';
import ini from 'ini';
import { UsageError } from '../errors.js';
import { parseTimeframe, TIMEFRAME_HELP } from '../plan/timeframe.js';
import { isIsoDate } from '../plan/time.js';
import { ADJUSTMENTS, FEEDS } from '../sources/types.js';

export type OsSection = 'linux' | 'macos' | 'windows';

export function detectOs(platform: NodeJS.Platform = process.platform): OsSection {
  if (platform === 'darwin') return 'macos';
  if (platform === 'win32') return 'windows';
  return 'linux';
}

interface KeySpec {
  help: string;
  /** Returns the normalized value, or undefined when invalid. */
  parse: (raw: string) => string | undefined;
}

const positiveInt = (max: number) => (raw: string) => (/^\d+$/.test(raw.trim()) && +raw >= 1 && +raw <= max ? String(+raw) : undefined);
const nonNegativeInt = (max: number) => (raw: string) => (/^\d+$/.test(raw.trim()) && +raw <= max ? String(+raw) : undefined);
const oneOf = (values: readonly string[]) => (raw: string) => (values.includes(raw.trim().toLowerCase()) ? raw.trim().toLowerCase() : undefined);

export const SETTING_KEYS = {
  local_storage_dir: { help: 'a directory path', parse: (raw) => (raw.trim() ? raw.trim() : undefined) },
  api_threads: { help: 'a whole number from 1 to 64', parse: positiveInt(64) },
  timeframe: { help: TIMEFRAME_HELP, parse: (raw) => parseTimeframe(raw)?.api },
  feed: { help: FEEDS.join(', '), parse: oneOf(FEEDS) },
  adjustment: { help: ADJUSTMENTS.join(', '), parse: oneOf(ADJUSTMENTS) },
  start: { help: 'a date YYYY-MM-DD', parse: (raw) => (isIsoDate(raw.trim()) ? raw.trim() : undefined) },
  rate_limit_per_minute: { help: 'a whole number from 1 to 100000 (Basic plan 200, Algo Trader Plus 10000)', parse: positiveInt(100_000) },
  max_attempts: { help: 'a whole number from 1 to 20', parse: positiveInt(20) },
  request_timeout_seconds: { help: 'a whole number of seconds from 1 to 600', parse: positiveInt(600) },
  retry_base_delay_ms: { help: 'a whole number of milliseconds from 1 to 60000', parse: positiveInt(60_000) },
  circuit_breaker_failures: { help: 'a whole number from 0 (off) to 1000', parse: nonNegativeInt(1000) },
  lookback_sessions: { help: 'a whole number of sessions from 0 to 50', parse: nonNegativeInt(50) },
} satisfies Record<string, KeySpec>;

export type SettingKey = keyof typeof SETTING_KEYS;
export const SETTING_NAMES = Object.keys(SETTING_KEYS) as SettingKey[];

/** Built-in defaults; per-OS thread counts follow the original Data Engine (macOS 6, others 8). */
export function builtInDefaults(osName: OsSection): Record<SettingKey, string> {
  return {
    local_storage_dir: './data',
    api_threads: osName === 'macos' ? '6' : '8',
    timeframe: '1Day',
    feed: 'sip',
    adjustment: 'raw',
    start: '2016-01-01',
    rate_limit_per_minute: '200',
    max_attempts: '6',
    request_timeout_seconds: '60',
    retry_base_delay_ms: '1000',
    circuit_breaker_failures: '10',
    lookback_sessions: '2',
  };
}

export type SettingOrigin = 'flag' | 'environment' | 'settings [os]' | 'settings [default]' | 'built-in';

export interface ResolvedSetting {
  value: string;
  origin: SettingOrigin;
  /** e.g. "settings.ini [linux]" or "DATA_ENGINE_FEED". */
  where: string;
}

export type Settings = Record<SettingKey, ResolvedSetting>;

export interface SettingsSources {
  /** Path to settings.ini; when not given explicitly, a missing default file is fine. */
  configPath: string;
  configExplicit: boolean;
  env: NodeJS.ProcessEnv;
  flags: Partial<Record<SettingKey, string>>;
  osName: OsSection;
}

const SECTIONS = ['default', 'linux', 'macos', 'windows'] as const;

/** Parse settings.ini strictly: unknown sections or keys and malformed lines are errors. */
export function parseSettingsIni(text: string, file: string): Record<(typeof SECTIONS)[number], Partial<Record<SettingKey, string>>> {
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
  const out = { default: {}, linux: {}, macos: {}, windows: {} } as Record<(typeof SECTIONS)[number], Partial<Record<SettingKey, string>>>;
  for (const [sectionName, body] of Object.entries(parsed)) {
    if (typeof body !== 'object' || body === null) {
      throw new UsageError(`${file}: key ${sectionName} is outside any section; put it under [default]`);
    }
    const section = sectionName as (typeof SECTIONS)[number];
    for (const [key, value] of Object.entries(body as Record<string, unknown>)) {
      if (!(key in SETTING_KEYS)) {
        throw new UsageError(`${file}: unknown key ${key} in [${section}]; known keys: ${SETTING_NAMES.join(', ')}`);
      }
      const spec = SETTING_KEYS[key as SettingKey];
      const raw = typeof value === 'string' ? value : String(value);
      const normalized = spec.parse(raw);
      if (normalized === undefined) throw new UsageError(`${file}: [${section}] ${key} = ${raw} is invalid; expected ${spec.help}`);
      out[section][key as SettingKey] = normalized;
    }
  }
  return out;
}

export function resolveSettings(sources: SettingsSources): Settings {
  let fileSections: ReturnType<typeof parseSettingsIni> = { default: {}, linux: {}, macos: {}, windows: {} };
  const file = sources.configPath;
  let text: string | undefined;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (sources.configExplicit || code !== 'ENOENT') {
      throw new UsageError(`cannot read settings file ${file} (${code ?? 'error'}); pass an existing file with --config or remove the flag`);
    }
  }
  if (text !== undefined) fileSections = parseSettingsIni(text, file);
  const builtIn = builtInDefaults(sources.osName);
  const display = path.basename(file);
  const settings = {} as Settings;
  for (const key of SETTING_NAMES) {
    const spec: KeySpec = SETTING_KEYS[key];
    const flag = sources.flags[key];
    const envName = `DATA_ENGINE_${key.toUpperCase()}`;
    const envValue = sources.env[envName];
    let resolved: ResolvedSetting;
    if (flag !== undefined) {
      const v = spec.parse(flag);
      if (v === undefined) throw new UsageError(`invalid value ${JSON.stringify(flag)} for --${key.replace(/_/g, '-')}; expected ${spec.help}`);
      resolved = { value: v, origin: 'flag', where: 'command line' };
    } else if (envValue !== undefined && envValue !== '') {
      const v = spec.parse(envValue);
      if (v === undefined) throw new UsageError(`invalid value ${JSON.stringify(envValue)} in environment variable ${envName}; expected ${spec.help}`);
      resolved = { value: v, origin: 'environment', where: envName };
    } else if (fileSections[sources.osName][key] !== undefined) {
      resolved = { value: fileSections[sources.osName][key] as string, origin: 'settings [os]', where: `${display} [${sources.osName}]` };
    } else if (fileSections.default[key] !== undefined) {
      resolved = { value: fileSections.default[key] as string, origin: 'settings [default]', where: `${display} [default]` };
    } else {
      resolved = { value: builtIn[key], origin: 'built-in', where: 'built-in' };
    }
    settings[key] = resolved;
  }
  return settings;
}

export function defaultConfigPath(): string {
  return path.resolve('settings.ini');
}
