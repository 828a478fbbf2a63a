import { describe, expect, it } from 'vitest';
import { PageFormatError, parseBarsPage } from '../../src/sources/page-parser.js';
import { pageSlices, renderBarsPage, SyntheticMarket } from '../../src/sources/synthetic/generator.js';
import { parseTimeframe } from '../../src/plan/timeframe.js';

const index = new Map([['AAPL', 0], ['BRK.B', 1]]);
const bar = (fields: string) => `{"bars":{"AAPL":[${fields}]},"next_page_token":null}`;

describe('bars page parser', () => {
  it('matches JSON.parse exactly on generated pages, across symbols', () => {
    const market = new SyntheticMarket();
    const tf = parseTimeframe('1Min')!;
    const series = ['AAPL', 'BRK.B'].map((s) => [s, market.bars(s, tf, Date.parse('2024-03-01T00:00:00Z'), Date.parse('2024-03-08T00:00:00Z'))] as const);
    let pages = 0;
    for (const page of pageSlices(series, 3_000)) {
      const text = renderBarsPage(page.entries, page.nextOffset === null ? null : `tok${page.nextOffset}`);
      const parsed = parseBarsPage(text, index);
      expect(parsed.nextPageToken).toBe(page.nextOffset === null ? null : `tok${page.nextOffset}`);
      const ref = JSON.parse(text) as { bars: Record<string, { t: string; o: number; h: number; l: number; c: number; v: number; n: number; vw: number }[]> };
      const flat = Object.entries(ref.bars).flatMap(([s, bars]) => bars.map((b) => [index.get(s), Date.parse(b.t) * 1000, b.o, b.h, b.l, b.c, b.vw, b.v, b.n]));
      const c = parsed.columns;
      expect(c.length).toBe(flat.length);
      flat.forEach((row, i) => expect([c.symbol[i], c.time[i], c.open[i], c.high[i], c.low[i], c.close[i], c.vwap[i], c.volume[i], c.tradeCount[i]]).toEqual(row));
      pages++;
    }
    expect(pages).toBeGreaterThanOrEqual(3);
  });

  it.each(['187.15', '0.0001', '-3.5', '1e2', '1.5E-3', '12345678901234567', '0', '9007199254740993', '123.456789012345678'])('reads %s exactly like Number()', (num) => {
    const { columns } = parseBarsPage(bar(`{"t":"2024-01-02T14:30:00Z","o":${num},"h":1,"l":1,"c":1,"v":1,"n":1,"vw":1}`), index);
    expect(columns.open[0]).toBe(Number(num));
  });

  it('reads timestamps with fractions and offsets as UTC microseconds', () => {
    const times = ['2024-01-02T14:30:00Z', '2024-01-02T14:30:00.123456789Z', '2024-01-02T09:30:00-05:00', '2024-07-01T00:00:00.5+02:00'];
    for (const t of times) {
      const { columns } = parseBarsPage(bar(`{"o":1,"h":1,"l":1,"c":1,"v":1,"n":1,"vw":1,"t":"${t}","x":{"ignored":[1,"a"]}}`), index);
      const iso = t.replace(/(\.\d{3})\d+/, '$1');
      const micros = t.includes('.123456789') ? 456 : 0;
      expect(columns.time[0]).toBe(Date.parse(iso) * 1000 + micros);
    }
  });

  it('accepts null and empty bars, whitespace, escaped tokens; skips symbols not asked for', () => {
    expect(parseBarsPage('{"bars":null,"next_page_token":null}', index).columns.length).toBe(0);
    expect(parseBarsPage(' { "bars" : { } , "next_page_token" : "a\\u0062c" , "currency" : "USD" } \n', index).nextPageToken).toBe('abc');
    const other = parseBarsPage('{"bars":{"ZZZ":[{"t":"2024-01-02T14:30:00Z","o":1,"h":1,"l":1,"c":1,"v":1,"n":1,"vw":1}]},"next_page_token":null}', index);
    expect(other.columns.length).toBe(0);
  });

  it.each([
    ['truncated', '{"bars":{"AAPL":[{"t":"2024-01-02T14:3'],
    ['cut after a bar', '{"bars":{"AAPL":[{"t":"2024-01-02T14:30:00Z","o":1,"h":1,"l":1,"c":1,"v":1,"n":1,"vw":1}'],
    ['missing token', '{"bars":{}}'],
    ['missing bars', '{"next_page_token":null}'],
    ['trailing garbage', '{"bars":{},"next_page_token":null}}'],
    ['missing field', bar('{"t":"2024-01-02T14:30:00Z","o":1,"h":1,"l":1,"c":1,"v":1,"n":1}')],
    ['bad number', bar('{"t":"2024-01-02T14:30:00Z","o":1.,"h":1,"l":1,"c":1,"v":1,"n":1,"vw":1}')],
    ['bad time', bar('{"t":"2024-01-02 14:30","o":1,"h":1,"l":1,"c":1,"v":1,"n":1,"vw":1}')],
    ['html', '<html>502 Bad Gateway</html>'],
  ])('rejects a %s page', (_name, text) => {
    expect(() => parseBarsPage(text, index)).toThrow(PageFormatError);
  });
});
