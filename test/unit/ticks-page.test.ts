import { describe, expect, it } from 'vitest';
import { allocateBatch, TRADES_SCHEMA } from '../../src/lake/schema.js';
import { TEXT_CODES, TEXT_LIST_CODES } from '../../src/lake/text-codes.js';
import { parseQuotesPage, parseTradesPage } from '../../src/sources/alpaca/ticks-page.js';
import { PageFormatError } from '../../src/sources/errors.js';

const index = new Map([['AAPL', 0], ['BRK.B', 1]]);
const TRADE = '"t":"2024-03-08T14:30:00Z","x":"V","p":171.5,"s":100,"i":1';
const trades = (...rows: string[]) => `{"trades":{"AAPL":[${rows.map((r) => `{${r}}`).join(',')}]},"next_page_token":null}`;
const QUOTE = '"ax":"P","ap":171.52,"as":3,"bx":"Q","bp":171.5,"bs":2,"c":["R"],"z":"C"';
const quotes = (...rows: string[]) => `{"quotes":{"AAPL":[${rows.map((r) => `{${r}}`).join(',')}]},"next_page_token":null}`;
const text = (code: number) => TEXT_CODES.values[code];
const list = (code: number) => TEXT_LIST_CODES.values[code];

/** UTC nanoseconds of an RFC-3339 text, worked out with BigInt. */
function referenceNs(time: string): bigint {
  const m = /^(.{19})(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(time)!;
  return BigInt(Date.parse(m[1] + m[3])) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
}

describe('trades page parser', () => {
  it('reads timestamps with 0 to 9 fraction digits and offsets as exact UTC nanoseconds', () => {
    const cases: [string, bigint][] = [
      ['2024-03-08T14:30:00.123456789Z', 1709908200123456789n],
      ['2024-03-08T14:30:00Z', 1709908200000000000n],
      ['2024-03-08T14:30:00.1Z', 1709908200100000000n],
      ['2024-03-08T14:30:00.12Z', 1709908200120000000n],
      ['2024-03-08T14:30:00.123Z', 1709908200123000000n],
      ['2024-03-08T14:30:00.1234Z', 1709908200123400000n],
      ['2024-03-08T14:30:00.12345Z', 1709908200123450000n],
      ['2024-03-08T14:30:00.123456Z', 1709908200123456000n],
      ['2024-03-08T14:30:00.1234567Z', 1709908200123456700n],
      ['2024-03-08T14:30:00.12345678Z', 1709908200123456780n],
      ['2024-03-08T09:30:00.5-05:00', 1709908200500000000n],
      ['2024-03-08T16:30:00.000000001+02:00', 1709908200000000001n],
      ['2024-03-08T20:00:00.999999999+05:30', 1709908200999999999n],
      ['1970-01-01T00:00:00Z', 0n],
    ];
    const { columns } = parseTradesPage(trades(...cases.map(([t]) => `${TRADE},"t":"${t}"`)), index);
    expect(columns.length).toBe(cases.length);
    cases.forEach(([, ns], i) => expect(columns.time[i]).toBe(ns));
  });

  it('matches BigInt arithmetic on random instants from 1970 to 2100', () => {
    let seed = 42;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const times = Array.from({ length: 2000 }, () => {
      const seconds = Math.floor(next() * 4_102_444_800);
      const digits = Math.floor(next() * 10);
      const fraction = String(Math.floor(next() * 1e9)).padStart(9, '0').slice(0, digits);
      return `${new Date(seconds * 1000).toISOString().slice(0, 19)}${digits ? `.${fraction}` : ''}Z`;
    });
    const { columns } = parseTradesPage(trades(...times.map((t) => `${TRADE},"t":"${t}"`)), index);
    times.forEach((t, i) => expect(columns.time[i], t).toBe(referenceNs(t)));
  });

  it('reads uint64 ids exactly, beyond 2^53 up to 2^64-1', () => {
    const ids = ['0', '1', '52983525029461', '9007199254740993', '9223372036854775807', '9223372036854775808', '12345678901234567890', '18446744073709551614', '18446744073709551615'];
    const { columns } = parseTradesPage(trades(...ids.map((id) => `${TRADE},"i":${id}`)), index);
    ids.forEach((id, i) => expect(BigInt.asUintN(64, columns.id[i])).toBe(BigInt(id)));
  });

  it('reads exchange, tape, conditions and correction as dictionary codes', () => {
    const { columns: c } = parseTradesPage(trades(
      `${TRADE},"c":["@","I"],"z":"C"`,
      `${TRADE},"c":[],"z":"A"`,
      TRADE,
      `${TRADE},"c":["@","I"],"u":"canceled"`,
      `${TRADE},"c":[ "@" , "I" ]`,
      `${TRADE},"c":["\\u0040","I"],"u":"corrected"`,
      `${TRADE},"c":null,"z":null,"u":null`,
    ), index);
    expect(c.length).toBe(7);
    expect(text(c.exchange[0])).toBe('V');
    expect([text(c.tape[0]), text(c.tape[1]), c.tape[2]]).toEqual(['C', 'A', 0]);
    expect(list(c.conditions[0])).toEqual(['@', 'I']);
    expect(list(c.conditions[1])).toEqual([]);
    expect(c.conditions[1]).not.toBe(0);
    expect(c.conditions[2]).toBe(0);
    // The same list in other bytes (spacing, escapes) is the same code.
    expect([c.conditions[3], c.conditions[4], c.conditions[5]]).toEqual([c.conditions[0], c.conditions[0], c.conditions[0]]);
    expect([c.correction[0], text(c.correction[3]), text(c.correction[5])]).toEqual([0, 'canceled', 'corrected']);
    expect([c.conditions[6], c.tape[6], c.correction[6]]).toEqual([0, 0, 0]);
    expect([c.price[0], c.size[0]]).toEqual([171.5, 100]);
  });

  it('reads multi-symbol pages in symbol-then-time order', () => {
    const page = `{"trades":{"AAPL":[{${TRADE},"t":"2024-03-08T14:30:00.1Z"},{${TRADE},"t":"2024-03-08T14:30:00.2Z"}],"BRK.B":[{${TRADE},"t":"2024-03-08T14:30:00Z","p":400}]},"next_page_token":"abc"}`;
    const { columns: c, nextPageToken } = parseTradesPage(page, index);
    expect(nextPageToken).toBe('abc');
    expect([...c.symbol.subarray(0, c.length)]).toEqual([0, 0, 1]);
    expect([...c.time.subarray(0, c.length)]).toEqual([1709908200100000000n, 1709908200200000000n, 1709908200000000000n]);
    expect(c.price[2]).toBe(400);
  });

  it('accepts a null or empty trades member and an empty token', () => {
    expect(parseTradesPage('{"trades":null,"next_page_token":null}', index).columns.length).toBe(0);
    expect(parseTradesPage('{"trades":{},"next_page_token":""}', index).nextPageToken).toBe(null);
    expect(parseTradesPage('{"trades":{"AAPL":null,"BRK.B":[]},"next_page_token":null}', index).columns.length).toBe(0);
  });

  it('reads reordered members, unknown fields and pretty-printed JSON like the compact form', () => {
    const rows = [
      { c: ['@', 'F'], i: 7, p: 171.25, s: 3, t: '2024-03-08T14:30:00.000001Z', x: 'P', z: 'C' },
      { z: 'C', x: 'Q', u: 'incorrect', t: '2024-03-08T14:30:01Z', s: 5, p: 171.5, i: 8, extra: { nested: [1, 'a', null] } },
    ];
    const compact = parseTradesPage(JSON.stringify({ trades: { AAPL: rows }, next_page_token: 'n', currency: 'USD' }), index).columns;
    const pretty = parseTradesPage(`\n ${JSON.stringify({ next_page_token: 'n', meta: { a: [true, false] }, trades: { AAPL: rows } }, null, 2)} \n`, index).columns;
    for (const c of [compact, pretty]) {
      expect(c.length).toBe(2);
      expect([...c.time.subarray(0, 2)]).toEqual([1709908200000001000n, 1709908201000000000n]);
      expect([...c.id.subarray(0, 2)]).toEqual([7n, 8n]);
      expect([c.price[0], c.size[1], text(c.exchange[1]), text(c.correction[1]), c.correction[0]]).toEqual([171.25, 5, 'Q', 'incorrect', 0]);
      expect(list(c.conditions[0])).toEqual(['@', 'F']);
    }
  });

  it('grows past the given columns and reuses them when they fit', () => {
    const small = allocateBatch(TRADES_SCHEMA, 2);
    const rows = Array.from({ length: 5 }, (_, i) => `${TRADE},"i":${i},"t":"2024-03-08T14:30:0${i}.5Z"`);
    const grown = parseTradesPage(trades(...rows), index, small).columns;
    expect(grown.length).toBe(5);
    expect([...grown.id.subarray(0, 5)]).toEqual([0n, 1n, 2n, 3n, 4n]);
    expect(grown.time[4]).toBe(1709908204500000000n);
    const again = parseTradesPage(trades(rows[0]), index, grown).columns;
    expect(again).toBe(grown);
    expect(again.length).toBe(1);
  });

  it('fails on any truncation of a page', () => {
    const page = `{"trades":{"AAPL":[{${TRADE},"c":["@","I"],"z":"C","u":"canceled"}]},"next_page_token":"t"}`;
    for (let cut = 0; cut < page.length; cut++) expect(() => parseTradesPage(page.slice(0, cut), index), page.slice(0, cut)).toThrow(PageFormatError);
  });

  it.each([
    ['unknown symbol', '{"trades":{"ZZZ":[]},"next_page_token":null}'],
    ['missing id', trades('"t":"2024-03-08T14:30:00Z","x":"V","p":1,"s":1')],
    ['missing time', trades('"x":"V","p":1,"s":1,"i":1')],
    ['id above 2^64-1', trades(`${TRADE},"i":18446744073709551616`)],
    ['negative id', trades(`${TRADE},"i":-1`)],
    ['fractional id', trades(`${TRADE},"i":1.5`)],
    ['id with a leading zero', trades(`${TRADE},"i":01`)],
    ['ten fraction digits', trades(`${TRADE},"t":"2024-03-08T14:30:00.1234567891Z"`)],
    ['empty fraction', trades(`${TRADE},"t":"2024-03-08T14:30:00.Z"`)],
    ['no zone', trades(`${TRADE},"t":"2024-03-08T14:30:00"`)],
    ['month 13', trades(`${TRADE},"t":"2024-13-08T14:30:00Z"`)],
    ['before 1970', trades(`${TRADE},"t":"1969-12-31T23:59:59.9Z"`)],
    ['bad offset', trades(`${TRADE},"t":"2024-03-08T14:30:00+0500"`)],
    ['conditions not a list', trades(`${TRADE},"c":"@"`)],
    ['condition not a string', trades(`${TRADE},"c":["@",1]`)],
    ['missing token', '{"trades":{}}'],
    ['missing trades', '{"next_page_token":null}'],
    ['bars instead', '{"bars":{},"next_page_token":null}'],
    ['trailing garbage', '{"trades":{},"next_page_token":null}}'],
    ['trailing comma', trades(`${TRADE},`)],
    ['html', '<html>502 Bad Gateway</html>'],
    ['empty', ''],
  ])('rejects a page with %s', (_name, page) => {
    expect(() => parseTradesPage(page, index)).toThrow(PageFormatError);
  });
});

describe('quotes page parser', () => {
  it('reads both sides, a blank side as NULL, conditions and tape', () => {
    const { columns: c } = parseQuotesPage(quotes(
      `"t":"2025-11-04T14:30:00.000000123Z",${QUOTE}`,
      `"t":"2025-11-04T14:30:01Z","ax":" ","ap":0,"as":0,"bx":"V","bp":171.4,"bs":5,"c":["R","Y"]`,
    ), index);
    expect(c.length).toBe(2);
    expect(c.time[0]).toBe(1762266600000000123n);
    expect([c.askPrice[0], c.askSize[0], text(c.askExchange[0]), c.bidPrice[0], c.bidSize[0], text(c.bidExchange[0])]).toEqual([171.52, 3, 'P', 171.5, 2, 'Q']);
    expect([list(c.conditions[0]), text(c.tape[0])]).toEqual([['R'], 'C']);
    expect([c.askExchange[1], c.askPrice[1], c.askSize[1], text(c.bidExchange[1]), c.tape[1]]).toEqual([0, 0, 0, 'V', 0]);
    expect(list(c.conditions[1])).toEqual(['R', 'Y']);
  });

  it('stores sizes in shares: round lots times 100 before New York 2025-11-03, as sent from then on', () => {
    const times = ['2024-03-08T14:30:00Z', '2025-11-03T04:59:59.999999999Z', '2025-11-02T23:59:59-05:00', '2025-11-03T05:00:00Z', '2025-11-03T00:00:00-05:00', '2025-11-04T14:30:00Z'];
    // Sizes come before the time in each row: the conversion waits for the whole row.
    const { columns: c } = parseQuotesPage(quotes(...times.map((t) => `${QUOTE},"t":"${t}"`)), index);
    expect([...c.bidSize.subarray(0, c.length)]).toEqual([200, 200, 200, 2, 2, 2]);
    expect([...c.askSize.subarray(0, c.length)]).toEqual([300, 300, 300, 3, 3, 3]);
  });

  it('reads pretty-printed, reordered quotes and multi-symbol pages', () => {
    const row = { z: 'C', c: ['R'], t: '2025-12-01T15:00:00.5Z', bs: 1, bp: 10.5, bx: 'P', as: 2, ap: 10.6, ax: 'Q' };
    const page = JSON.stringify({ next_page_token: null, quotes: { AAPL: [row, row], 'BRK.B': [row] } }, null, 4);
    const { columns: c } = parseQuotesPage(page, index);
    expect([...c.symbol.subarray(0, c.length)]).toEqual([0, 0, 1]);
    expect([c.time[2], c.bidPrice[2], c.askSize[2], text(c.askExchange[2])]).toEqual([1764601200500000000n, 10.5, 2, 'Q']);
    expect(parseQuotesPage('{"quotes":null,"next_page_token":"x"}', index)).toMatchObject({ nextPageToken: 'x', columns: { length: 0 } });
  });

  it.each([
    ['unknown symbol', '{"quotes":{"MSFT":[]},"next_page_token":null}'],
    ['missing bid size', quotes('"t":"2025-12-01T15:00:00Z","ax":"P","ap":1,"as":1,"bx":"Q","bp":1')],
    ['truncated', quotes(`"t":"2025-12-01T15:00:00Z",${QUOTE}`).slice(0, -30)],
    ['trades instead', '{"trades":{},"next_page_token":null}'],
  ])('rejects a page with %s', (_name, page) => {
    expect(() => parseQuotesPage(page, index)).toThrow(PageFormatError);
  });
});
