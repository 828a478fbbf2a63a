import { describe, expect, it } from 'vitest';
import { parseBarsPage } from '../../src/sources/alpaca/bars-page.js';
import { PageFormatError } from '../../src/sources/errors.js';
import { SyntheticMarket } from '../../src/sources/synthetic/generator.js';
import { pageSlices, renderBarsPage } from '../support/alpaca-wire.js';
import { parseTimeframe } from '../../src/shared/timeframe.js';

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

  it('reads compact and spaced-out renderings of a page identically (fast path and scanner agree)', () => {
    const random = (seed: number) => () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    const next = random(7);
    const numbers = Array.from({ length: 400 }, (_, i) => {
      const digits = 1 + Math.floor(next() * 17);
      const text = String(Math.floor(next() * 10 ** digits));
      const point = Math.floor(next() * text.length);
      return i % 3 === 0 ? text : `${text.slice(0, point) || '0'}.${text.slice(point) || '0'}`;
    });
    const bars = numbers.map((n, i) => ({ t: new Date(Date.UTC(2024, 0, 2 + (i % 40), 14, i % 60)).toISOString().replace('.000Z', 'Z'), o: n, h: n, l: n, c: n, v: i, n: i, vw: n }));
    // Numbers are spliced in as written (JSON.stringify would normalize them).
    const render = (indent?: number) => JSON.stringify({ bars: { AAPL: bars }, next_page_token: null }, null, indent).replace(/"(-?[\d.]+)"/g, '$1');
    const compact = parseBarsPage(render(), index).columns;
    const spaced = parseBarsPage(render(2), index).columns;
    expect(compact.length).toBe(bars.length);
    for (let i = 0; i < bars.length; i++) {
      expect(compact.open[i]).toBe(Number(numbers[i]));
      expect(compact.time[i]).toBe(Date.parse(bars[i].t) * 1000);
      expect([compact.time[i], compact.open[i], compact.vwap[i], compact.volume[i]]).toEqual([spaced.time[i], spaced.open[i], spaced.vwap[i], spaced.volume[i]]);
    }
  });

  it('keeps the last of a repeated field, like the scanner', () => {
    const { columns } = parseBarsPage(bar('{"t":"2024-01-02T14:30:00Z","o":1,"o":2,"h":1,"l":1,"c":1,"v":1,"n":1,"vw":1}'), index);
    expect(columns.open[0]).toBe(2);
  });

  it.each([
    ['leading zero', bar('{"t":"2024-01-02T14:30:00Z","o":01,"h":1,"l":1,"c":1,"v":1,"n":1,"vw":1}')],
    ['bare fraction', bar('{"t":"2024-01-02T14:30:00Z","o":.5,"h":1,"l":1,"c":1,"v":1,"n":1,"vw":1}')],
    ['lone minus', bar('{"t":"2024-01-02T14:30:00Z","o":-,"h":1,"l":1,"c":1,"v":1,"n":1,"vw":1}')],
    ['trailing comma', bar('{"t":"2024-01-02T14:30:00Z","o":1,"h":1,"l":1,"c":1,"v":1,"n":1,"vw":1},')],
    ['digit in time', bar('{"t":"2024-01-0xT14:30:00Z","o":1,"h":1,"l":1,"c":1,"v":1,"n":1,"vw":1}')],
    ['quoted number', bar('{"t":"2024-01-02T14:30:00Z","o":"1","h":1,"l":1,"c":1,"v":1,"n":1,"vw":1}')],
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
