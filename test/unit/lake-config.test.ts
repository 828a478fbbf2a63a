import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parsePartitionPath, partitionBounds, partitionFile, partitionId, partitionKeyOf, partitionPeriodAt } from '../../src/shared/lake-paths.js';
import { resolveSettings, parseSettingsIni } from '../../src/config/settings.js';
import { resolveDates } from '../../src/plan/dates.js';
import { UsageError } from '../../src/shared/errors.js';
import { prepareStorage } from '../../src/run/run-session.js';

describe('lake layout', () => {
  it('builds hive partition paths and their UTC bounds', () => {
    const key = { symbol: 'BRK.B', year: 2024, month: 2 };
    expect(partitionBounds(key)).toEqual({ start: Date.parse('2024-02-01T00:00:00Z'), end: Date.parse('2024-03-01T00:00:00Z') });
    expect(partitionFile('/lake', 'equities_1min', key)).toBe('/lake/equities_1min/symbol=BRK.B/year=2024/month=02/data.parquet');
    expect(parsePartitionPath('symbol=BRK.B/year=2024/month=02/data.parquet')).toEqual(key);
    expect(parsePartitionPath('symbol=A/year=2024/month=13/data.parquet')).toBeUndefined();
  });
  it('builds yearly partition paths, bounds and ids, and tells the layouts apart when parsing', () => {
    const key = { symbol: 'AAPL', year: 2024, month: undefined };
    expect(partitionFile('/lake', 'equities_1day', key)).toBe('/lake/equities_1day/symbol=AAPL/year=2024/data.parquet');
    expect(partitionBounds(key)).toEqual({ start: Date.parse('2024-01-01T00:00:00Z'), end: Date.parse('2025-01-01T00:00:00Z') });
    expect(parsePartitionPath('symbol=AAPL/year=2024/data.parquet')).toEqual(key);
    expect(partitionId(key)).toBe('2024');
    expect(partitionKeyOf('AAPL', '2024')).toEqual(key);
    expect(partitionKeyOf('AAPL', '2024-03')).toEqual({ symbol: 'AAPL', year: 2024, month: 3 });
    expect(partitionPeriodAt(Date.parse('2024-12-31T23:59:59Z'), 'year')).toEqual({ year: 2024, month: undefined });
    expect(partitionPeriodAt(Date.parse('2024-12-31T23:59:59Z'), 'month')).toEqual({ year: 2024, month: 12 });
  });
  it('refuses symbols that could escape the lake', () => {
    expect(() => partitionFile('/lake', 'equities_1day', { symbol: '../../etc', year: 2024, month: 1 })).toThrow();
    expect(() => partitionFile('/lake', '../x', { symbol: 'AAPL', year: 2024, month: 1 })).toThrow();
  });
});

function iniFile(text: string): string {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'de-ini-')), 'settings.ini');
  fs.writeFileSync(file, text);
  return file;
}

describe('settings', () => {
  const file = iniFile('[default]\nfeed = iex\napi_threads = 3\nstart = 2020-01-01\n[linux]\napi_threads = 5\n[macos]\napi_threads = 7\n');
  it('applies flag > environment > OS section > [default] > built-in, with typed values', () => {
    const { settings: s } = resolveSettings({ configPath: file, configExplicit: true, env: { DATA_ENGINE_FEED: 'sip' }, flags: { timeframe: { raw: '5min', flag: '--timeframe' } }, osName: 'linux' });
    expect(s.timeframe).toMatchObject({ value: '5Min', origin: 'flag', where: '--timeframe' });
    expect(s.feed).toMatchObject({ value: 'sip', origin: 'environment' });
    expect(s.api_threads).toMatchObject({ value: 5, origin: 'settings [os]' });
    expect(s.start).toMatchObject({ value: '2020-01-01', origin: 'settings [default]' });
    // Left to the source: its first adjustment, its free plan's rate limit.
    expect(s.adjustment).toMatchObject({ value: undefined, origin: 'built-in' });
    expect(s.rate_limit_per_minute).toMatchObject({ value: undefined, origin: 'built-in' });
    const mac = resolveSettings({ configPath: file, configExplicit: true, env: {}, flags: {}, osName: 'macos' }).settings;
    expect(mac.api_threads.value).toBe(7);
    expect(mac.feed).toMatchObject({ value: 'iex', origin: 'settings [default]' });
    expect(resolveSettings({ configPath: '/nonexistent/settings.ini', configExplicit: false, env: {}, flags: {}, osName: 'macos' }).settings.api_threads.value).toBe(6);
  });
  it('names the flag the user typed, and warns about unknown DATA_ENGINE_ variables', () => {
    expect(() => resolveSettings({ configPath: file, configExplicit: true, env: {}, flags: { api_threads: { raw: '0', flag: '--threads' } }, osName: 'linux' })).toThrow(/for --threads;/);
    const { warnings } = resolveSettings({ configPath: file, configExplicit: true, env: { DATA_ENGINE_TREADS: '4', DATA_ENGINE_DEBUG: '1' }, flags: {}, osName: 'linux' });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/DATA_ENGINE_TREADS.*DATA_ENGINE_API_THREADS/);
  });
  it('rejects unknown keys, malformed lines and invalid values, naming file and key', () => {
    expect(() => parseSettingsIni('[default]\nfeeed = sip\n', 'x.ini')).toThrow(/x.ini.*feeed/);
    expect(() => parseSettingsIni('[default]\nthis is not ini\n', 'x.ini')).toThrow(/x.ini:2/);
    expect(() => parseSettingsIni('[default]\nfeed = nasdaq\n', 'x.ini')).toThrow(/feed.*sip, iex/);
    expect(() => parseSettingsIni('[solaris]\nfeed = sip\n', 'x.ini')).toThrow(UsageError);
    expect(() => resolveSettings({ configPath: '/nonexistent.ini', configExplicit: true, env: {}, flags: {}, osName: 'linux' })).toThrow(/nonexistent/);
    expect(() => resolveSettings({ configPath: file, configExplicit: true, env: { DATA_ENGINE_API_THREADS: 'many' }, flags: {}, osName: 'linux' })).toThrow(/DATA_ENGINE_API_THREADS/);
  });
});

describe('dates', () => {
  const now = Date.parse('2024-06-12T15:00:00Z');
  it('makes date-only ranges inclusive New York dates', () => {
    const r = resolveDates('2024-01-02', '2024-03-28', now, 16 * 60_000);
    expect(new Date(r.endInstant).toISOString()).toBe('2024-03-29T04:00:00.000Z');
  });
  it('clamps a future end with a note, and defaults the end to now − 16 min', () => {
    expect(resolveDates('2024-01-02', '2030-01-01', now, 16 * 60_000).notes).toHaveLength(1);
    expect(resolveDates('2024-01-02', undefined, now, 16 * 60_000).endInstant).toBe(now - 16 * 60_000);
  });
  it('rejects bad dates and inverted ranges', () => {
    expect(() => resolveDates('2024-13-01', undefined, now, 16 * 60_000)).toThrow(UsageError);
    expect(() => resolveDates('2024-03-01', '2024-02-01', now, 16 * 60_000)).toThrow(/after/);
    expect(() => resolveDates('yesterday', undefined, now, 16 * 60_000)).toThrow(/YYYY-MM-DD/);
  });
});

describe('storage check', () => {
  it('passes for many runs checking one storage directory at once in one process', async () => {
    const storage = fs.mkdtempSync(path.join(os.tmpdir(), 'de-probe-'));
    // Timing decides whether two checks' probe files collide: many rounds make a shared name fail.
    for (let round = 0; round < 50; round++) {
      const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => (i % 2 ? prepareStorage(storage) : new Promise((r) => setImmediate(r)).then(() => prepareStorage(storage)))));
      expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    }
    expect(fs.readdirSync(storage)).toEqual([]);
  });
});
