import { describe, expect, it } from 'vitest';
import { relevantActionTypes, symbolsToReadjust } from '../../src/lake/corporate-actions.js';
import { actionOf } from '../../src/sources/alpaca/corporate-actions.js';
import { dividendOf, splitOf } from '../../src/sources/massive/corporate-actions.js';

describe('corporate action records', () => {
  it('Alpaca: splits keep their rates, dividends their cash, name changes the old symbol with the new one; records without a symbol or date are skipped', () => {
    expect(actionOf('reverse_splits', { id: 'r1', symbol: 'LSB', old_rate: 10, new_rate: 1, ex_date: '2024-05-13', payable_date: '2024-05-10' })).toEqual({
      symbol: 'LSB', type: 'reverse_split', exDate: '2024-05-13', oldRate: 10, newRate: 1, cash: null, otherSymbol: null, id: 'r1',
    });
    expect(actionOf('cash_dividends', { id: 'd1', symbol: 'MSFT', rate: 0.75, ex_date: '2024-02-14' })).toMatchObject({ type: 'cash_dividend', cash: 0.75, oldRate: null });
    expect(actionOf('name_changes', { id: 'n1', old_symbol: 'FB', new_symbol: 'META', process_date: '2022-06-09' })).toMatchObject({ symbol: 'FB', type: 'name_change', exDate: '2022-06-09', otherSymbol: 'META' });
    expect(actionOf('spin_offs', { source_symbol: 'GE', source_rate: 1, new_symbol: 'GEHC', new_rate: 0.333, ex_date: '2023-01-04' })).toMatchObject({ symbol: 'GE', oldRate: 1, newRate: 0.333, otherSymbol: 'GEHC', id: '' });
    expect(actionOf('forward_splits', { symbol: 'AAPL', old_rate: 1, new_rate: 4 })).toBeUndefined();
  });

  it('Massive: split_from → old rate, split_to → new rate; dividends carry cash_amount', () => {
    expect(splitOf({ ticker: 'AAPL', execution_date: '2020-08-31', split_from: 1, split_to: 4, adjustment_type: 'forward_split', id: 's1' })).toEqual({
      symbol: 'AAPL', type: 'forward_split', exDate: '2020-08-31', oldRate: 1, newRate: 4, cash: null, otherSymbol: null, id: 's1',
    });
    expect(dividendOf({ ticker: 'AAPL', ex_dividend_date: '2025-08-11', cash_amount: 0.26, id: 'd' })).toMatchObject({ type: 'cash_dividend', cash: 0.26 });
    expect(dividendOf({ ticker: 'AAPL', cash_amount: 0.26 })).toBeUndefined();
  });

  it('re-adjusts a provider-adjusted symbol only for a relevant action in effect that its history has not seen', () => {
    expect(relevantActionTypes('split')).toEqual(['forward_split', 'reverse_split', 'stock_dividend']);
    expect(relevantActionTypes('all')).toEqual(['forward_split', 'reverse_split', 'stock_dividend', 'cash_dividend', 'spin_off']);
    const fetched = Date.parse('2024-05-01T12:00:00Z');
    const history: Record<string, number | undefined> = { AAPL: fetched, MSFT: fetched, NVDA: fetched, NEW: undefined, OLD: 0 };
    const at = (s: string) => history[s];
    const actions = [
      { symbol: 'AAPL', type: 'reverse_split', exDate: '2024-05-13', firstSeen: fetched - 86_400_000 }, // announced before, effective after the fetch
      { symbol: 'MSFT', type: 'cash_dividend', exDate: '2024-02-14', firstSeen: fetched + 1 }, // not relevant to split adjustment
      { symbol: 'NVDA', type: 'forward_split', exDate: '2024-06-10', firstSeen: fetched + 1 }, // not in effect yet
      { symbol: 'NEW', type: 'forward_split', exDate: '2024-03-11', firstSeen: fetched + 1 }, // not held: fetched whole anyway
      { symbol: 'OLD', type: 'forward_split', exDate: '2020-03-11', firstSeen: 1 }, // held before fetch times were recorded: basis unknown
    ];
    expect(symbolsToReadjust('split', actions, at, '2024-05-31')).toEqual(['AAPL', 'OLD']);
    expect(symbolsToReadjust('split', actions, at, '2024-06-10')).toEqual(['AAPL', 'NVDA', 'OLD']);
    expect(symbolsToReadjust('dividend', actions, at, '2024-05-31')).toEqual(['MSFT']);
    expect(symbolsToReadjust('split', [{ symbol: 'AAPL', type: 'forward_split', exDate: '2024-03-11', firstSeen: fetched - 1 }], at, '2024-05-31')).toEqual([]);
  });
});
