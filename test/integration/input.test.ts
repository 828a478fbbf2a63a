/** Bad input: a one-line error naming the input and the fix, exit 2, and nothing written. */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeAlpaca } from '../support/fake-alpaca.js';
import { fakeEnv, listFiles, runCli, tempDir } from '../support/cli.js';

let fake: FakeAlpaca;
beforeAll(async () => {
  fake = await new FakeAlpaca().start();
});
afterAll(async () => {
  await fake.stop();
});

function write(name: string, content: string): string {
  const file = path.join(tempDir('de-in-'), name);
  fs.writeFileSync(file, content);
  return file;
}

const ESC = '\u001b';

describe('bad input', () => {
  const cases: [string, () => string[], RegExp][] = [
    ['missing list file', () => ['csv', '/nonexistent/list.csv'], /does not exist/],
    ['empty list', () => ['file', write('empty.txt', '# nothing here\n\n')], /no valid symbols/],
    ['CSV without a symbol column', () => ['csv', write('x.csv', 'Name,Sector\nApple,Tech\n')], /no Symbol or Ticker column.*--column/],
    ['malformed CSV', () => ['csv', write('bad.csv', 'Symbol,Name\n"AAPL,Apple\nMSFT,"Micro"soft"\n')], /not valid CSV/],
    ['invalid symbols with line numbers', () => ['csv', write('inv.csv', 'Symbol\nAAPL\n../../etc\naa pl\nAAPL/B/C\n')], /inv\.csv:3 "\.\.\/\.\.\/etc".*inv\.csv:4 "aa pl".*inv\.csv:5/],
    ['start after end', () => ['symbols', 'AAPL', '--start', '2024-03-01', '--end', '2024-01-01'], /after end 2024-01-01/],
    ['unparseable date', () => ['symbols', 'AAPL', '--start', '01/02/2024'], /YYYY-MM-DD/],
    ['unknown timeframe', () => ['symbols', 'AAPL', '--timeframe', '1Sec'], /timeframe.*1Min/],
    ['unknown feed', () => ['symbols', 'AAPL', '--feed', 'nasdaq'], /feed.*sip, iex/],
    ['unknown adjustment', () => ['symbols', 'AAPL', '--adjustment', 'none'], /adjustment.*raw/],
    ['malformed settings.ini', () => ['symbols', 'AAPL', '--config', write('settings.ini', '[default]\nfeed sip\n')], /settings\.ini:2: malformed/],
    ['unknown settings key', () => ['symbols', 'AAPL', '--config', write('settings.ini', '[default]\nthreads = 4\n')], /unknown key threads/],
    ['unknown flag', () => ['symbols', 'AAPL', '--thredas', '4'], /unknown option/],
  ];
  it.each(cases)('%s → exit 2, one line, nothing written', async (_name, args, message) => {
    const out = tempDir('de-out-');
    const before = fake.barRequests.length;
    const r = await runCli([...args(), '--out', out], fakeEnv(fake));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(r.stderr).not.toContain(ESC);
    expect(listFiles(out)).toEqual([]);
    expect(fake.barRequests.length).toBe(before);
  });

  it('skips invalid symbols with --skip-invalid and de-duplicates with a note', async () => {
    const out = tempDir('de-out-');
    const file = write('l.txt', 'AAPL\n../x  # bad\nMSFT\naapl\n');
    const r = await runCli(['file', file, '--skip-invalid', '--start', '2024-01-02', '--end', '2024-01-10', '--out', out], fakeEnv(fake));
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/skipping 1 invalid/);
    expect(r.stderr).toMatch(/repeated symbol\(s\): AAPL/);
    expect(fs.readFileSync(path.join(out, 'metadata/indices/l.csv'), 'utf8')).toMatch(/^symbol,first_seen,last_seen,in_latest,inactive\nAAPL,.*,true,false\nMSFT,.*,true,false\n$/);
  });

  it('reads CSVs with a BOM, CRLF, quoted commas and blank lines; --column picks the column', async () => {
    const out = tempDir('de-out-');
    const file = write('sp.csv', '\uFEFFSecurity,Ticker,GICS Sector\r\n"Apple, Inc.",AAPL,Tech\r\n\r\n"Berkshire",BRK-B,"Financials, misc"\r\n');
    const r = await runCli(['csv', file, '--start', '2024-01-02', '--end', '2024-01-05', '--out', out, '--json'], fakeEnv(fake));
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).symbols.map((s: { symbol: string }) => s.symbol)).toEqual(['AAPL', 'BRK.B']);
    const file2 = write('two.csv', 'Symbol,Alt\nXXXX,MSFT\n');
    const r2 = await runCli(['csv', file2, '--column', 'alt', '--start', '2024-01-02', '--end', '2024-01-05', '--out', out, '--json', '--index-name', 'alts'], fakeEnv(fake));
    expect(r2.code).toBe(0);
    expect(JSON.parse(r2.stdout).symbols.map((s: { symbol: string }) => s.symbol)).toEqual(['MSFT']);
  });

  it('clamps a future end with a note', async () => {
    const out = tempDir('de-out-');
    const r = await runCli(['symbols', 'AAPL', '--source', 'synthetic', '--start', '2026-11-02', '--end', '2099-01-01', '--out', out], {});
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/end 2099-01-01 is in the future/);
  });

  it('a storage path that is a file, or not writable, exits 3', async () => {
    const file = write('not-a-dir', 'x');
    const r = await runCli(['symbols', 'AAPL', '--source', 'synthetic', '--start', '2024-01-02', '--end', '2024-01-05', '--out', file], {});
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/is a file/);
    const r2 = await runCli(['symbols', 'AAPL', '--source', 'synthetic', '--start', '2024-01-02', '--end', '2024-01-05', '--out', path.join(file, 'sub')], {});
    expect(r2.code).toBe(3);
  });

  it('missing credentials exit 3 naming the variables', async () => {
    const r = await runCli(['symbols', 'AAPL', '--start', '2024-01-02', '--out', tempDir()], { APCA_API_DATA_URL: fake.url });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/APCA_API_KEY_ID and APCA_API_SECRET_KEY/);
  });
});

describe('shipped symbol lists', () => {
  it.each([['sp500-2025.csv', 500], ['nasdaq100.csv', 100]])('%s parses into at least %i valid symbols', async (file, atLeast) => {
    const out = tempDir('de-out-');
    const r = await runCli(['csv', path.join(process.cwd(), 'backtest_lists', file), '--source', 'synthetic', '--start', '2024-01-02', '--end', '2024-01-03', '--out', out, '--json', '--quiet'], {});
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).succeeded).toBeGreaterThanOrEqual(atLeast);
  });
});

describe('command line surface', () => {
  it('documents exit codes in --help (exit 0); no command is a usage error (exit 2)', async () => {
    const help = await runCli(['--help'], {});
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Exit codes:[\s\S]*143/);
    const csvHelp = await runCli(['csv', '--help'], {});
    expect(csvHelp.code).toBe(0);
    expect(csvHelp.stdout).toMatch(/Exit codes:/);
    expect((await runCli([], {})).code).toBe(2);
    expect((await runCli(['frobnicate'], {})).code).toBe(2);
  });
});
