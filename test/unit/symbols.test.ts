import { describe, expect, it } from 'vitest';
import { normalizeSymbol } from '../../src/shared/symbol.js';
import { normalizeList } from '../../src/universe/symbols.js';
import { indexNameFromFile } from '../../src/universe/lists.js';
import { mergeMembership } from '../../src/universe/index-membership.js';

describe('normalizeSymbol', () => {
  it.each([
    ['aapl', 'AAPL'], [' msft ', 'MSFT'], ['BRK/B', 'BRK.B'], ['brk-b', 'BRK.B'], ['BRK.B', 'BRK.B'], ['bf.b', 'BF.B'], ['GOOGL', 'GOOGL'], ['V', 'V'], ['AAPL/X', 'AAPL.X'],
  ])('%s → %s', (raw, expected) => {
    expect(normalizeSymbol(raw)).toEqual({ ok: true, symbol: expected });
  });
  it.each(['AAPL/B/C', '../x', '../../etc', 'AA PL', 'aa pl', 'A\u0000B', 'AA\tPL', '', 'ABCDEF-W', '-A', 'A..B', 'A.', '1ABC'])('rejects %j', (raw) => {
    expect(normalizeSymbol(raw).ok).toBe(false);
  });
});

describe('normalizeList', () => {
  it('de-duplicates in order and reports invalid entries with line numbers', () => {
    const list = normalizeList([
      { raw: 'msft', line: 2 }, { raw: 'AAPL', line: 3 }, { raw: 'MSFT', line: 4 }, { raw: 'brk-b', line: 5 }, { raw: 'BRK.B', line: 6 }, { raw: '../x', line: 7 },
    ]);
    expect(list.symbols).toEqual(['MSFT', 'AAPL', 'BRK.B']);
    expect(list.duplicates).toEqual(['MSFT', 'BRK.B']);
    expect(list.invalid).toEqual([{ raw: '../x', line: 7, reason: expect.any(String) }]);
  });
});

describe('index membership', () => {
  it('derives names from files', () => {
    expect(indexNameFromFile('backtest_lists/sp500-2025.csv')).toBe('sp500_2025');
  });
  it('keeps symbols that left the list with in_latest=false', () => {
    const first = mergeMembership([], ['AAPL', 'MSFT'], '2025-01-02');
    const second = mergeMembership(first, ['AAPL', 'NVDA'], '2025-02-03');
    expect(second).toEqual([
      { symbol: 'AAPL', first_seen: '2025-01-02', last_seen: '2025-02-03', in_latest: true, inactive: false },
      { symbol: 'MSFT', first_seen: '2025-01-02', last_seen: '2025-01-02', in_latest: false, inactive: false },
      { symbol: 'NVDA', first_seen: '2025-02-03', last_seen: '2025-02-03', in_latest: true, inactive: false },
    ]);
  });
});
