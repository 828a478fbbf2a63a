import { describe, expect, it } from 'vitest';
import { TEXT_CODES, TEXT_LIST_CODES } from '../../src/lake/text-codes.js';
import { PageFormatError } from '../../src/sources/errors.js';
import { parseQuotesPage, parseTicksPage, parseTradesPage, readTicksPage, TICKS_PAGE_LIMIT, ticksUrl } from '../../src/sources/massive/ticks-wire.js';

const bytes = (text: string) => new Uint8Array(Buffer.from(text));
const pageText = (rows: string[], tail = '') => `{"results":[${rows.join(',')}],"status":"OK","request_id":"r1"${tail}}`;
const page = (rows: string[], tail = '') => bytes(pageText(rows, tail));
/** A trade with every required member; `extra` members are appended (a repeated name overrides). */
const trade = (extra = '') => `{"exchange":11,"id":"52983525034825","participant_timestamp":1709908200123400000,"price":171.55,"sequence_number":1063,"sip_timestamp":1709908200123456789,"size":100${extra}}`;
const text = (code: number) => TEXT_CODES.values[code];
const list = (code: number) => TEXT_LIST_CODES.values[code];

describe('Massive trades and quotes requests', () => {
  it('asks one ticker for [start, end) in nanoseconds, oldest first, with the largest limit', () => {
    const url = new URL(ticksUrl('https://api.massive.com/', 'trades', 'BRK.B', 1_709_874_000_000, 1_709_960_400_000));
    expect(url.pathname).toBe('/v3/trades/BRK.B');
    expect(Object.fromEntries(url.searchParams)).toEqual({
      'timestamp.gte': '1709874000000000000',
      'timestamp.lt': '1709960400000000000',
      order: 'asc',
      sort: 'timestamp',
      limit: String(TICKS_PAGE_LIMIT),
    });
    expect(ticksUrl('http://127.0.0.1:9/', 'quotes', 'A', 0, 1)).toBe('http://127.0.0.1:9/v3/quotes/A?timestamp.gte=0&timestamp.lt=1000000&order=asc&sort=timestamp&limit=50000');
  });
});

describe('Massive trades page parser', () => {
  it('reads sip_timestamp as exact nanoseconds beyond 2^53, in any member order, skipping the other stamps', () => {
    const stamps = ['1709908200123456789', '1709908200123456791', '9007199254740993', '0', '9223372036854775807'];
    const rows = stamps.map((ns, i) => (i % 2 ? `{ "sip_timestamp" : ${ns} , "price":1,"size":2,"exchange":4,"id":"1","trf_timestamp":17099082001234567,"trf_id":201}` : trade(`,"sip_timestamp":${ns}`)));
    const { columns, nextUrl } = parseTradesPage(page(rows), 3);
    expect(columns.length).toBe(stamps.length);
    stamps.forEach((ns, i) => expect(columns.time[i]).toBe(BigInt(ns)));
    expect(Array.from(columns.symbol.subarray(0, columns.length))).toEqual([3, 3, 3, 3, 3]);
    expect(nextUrl).toBeUndefined();
  });

  it('reads ids (strings of digits) as uint64 exactly, up to 2^64-1, leading zeros allowed', () => {
    const ids = ['0', '1', '007', '52983525034825', '9007199254740993', '9223372036854775808', '18446744073709551615'];
    const { columns } = parseTradesPage(page(ids.map((id) => trade(`,"id":"${id}"`))), 0);
    ids.forEach((id, i) => expect(BigInt.asUintN(64, columns.id[i])).toBe(BigInt(id)));
  });

  it('stores price and size as served, the exchange id, conditions and correction as text, and tapes 1, 2, 3 as A, B, C', () => {
    const { columns: c } = parseTradesPage(
      page([
        trade(',"conditions":[12,37],"tape":1,"correction":12'),
        trade(',"tape":2,"correction":0'),
        trade(',"conditions":[],"tape":3'),
        trade(',"conditions":[14,12,37,41,53,2000],"tape":9,"correction":null,"exchange":0'),
        trade(',"conditions":null,"tape":null'),
      ]),
      0,
    );
    expect([c.price[0], c.size[0]]).toEqual([171.55, 100]);
    expect(Array.from(c.exchange.subarray(0, 5), text)).toEqual(['11', '11', '11', '0', '11']);
    expect(Array.from(c.conditions.subarray(0, 5), list)).toEqual([['12', '37'], null, [], ['14', '12', '37', '41', '53', '2000'], null]);
    expect(Array.from(c.tape.subarray(0, 5), text)).toEqual(['A', 'B', 'C', '9', null]);
    expect(Array.from(c.correction.subarray(0, 5), text)).toEqual(['12', null, null, null, null]);
    // A repeated list gives the same code (cached), and [12,37] differs from [37,12].
    const again = parseTradesPage(page([trade(',"conditions":[12,37]'), trade(',"conditions":[37,12]')]), 0).columns;
    expect(again.conditions[0]).toBe(c.conditions[0]);
    expect(list(again.conditions[1])).toEqual(['37', '12']);
  });

  it('reuses the previous columns of its kind, clearing what an absent member left there', () => {
    const first = parseTradesPage(page([trade(',"conditions":[12],"tape":3,"correction":7')]), 0).columns;
    const second = parseTicksPage('trades', page([trade()]), 1, first).columns;
    expect(second).toBe(first);
    expect([first.length, first.conditions[0], first.tape[0], first.correction[0], first.symbol[0]]).toEqual([1, 0, 0, 0, 1]);
    expect(parseTicksPage('quotes', page([]), 0, first).columns).not.toBe(first);
  });

  it('reads a missing or null results member, or an empty page, as no rows, and takes next_url', () => {
    for (const body of ['{"status":"OK","request_id":"r"}', '{"status":"OK","results":null}', '{"results":[],"status":"DELAYED","next_url":null}']) {
      const read = parseTradesPage(bytes(body), 0);
      expect([read.columns.length, read.nextUrl]).toEqual([0, undefined]);
    }
    const next = 'https://api.massive.com/v3/trades/AAPL?cursor=YWJj';
    expect(parseTradesPage(page([trade()], `,"next_url":"${next}"`), 0).nextUrl).toBe(next);
  });

  it('refuses malformed pages with PageFormatError, which readTicksPage turns into a reason to retry', () => {
    const bad: [string, RegExp][] = [
      [`{"results":[${trade()}`, /expected ',' or ']'/],
      [`{"results":[${trade().slice(0, 60)}`, /./],
      [pageText([trade(',"id":"T-123"')]), /trade id "T-123" is not an unsigned 64-bit integer/],
      [pageText([trade(',"id":""')]), /trade id "" is not/],
      [pageText([trade(',"id":52983525034825')]), /expected '"'/],
      [pageText([trade(',"id":"18446744073709551616"')]), /above 2\^64-1/],
      [pageText(['{"price":1,"size":1,"exchange":1,"id":"1"}']), /lacks one of sip_timestamp/],
      [pageText([trade(',"sip_timestamp":1.7e18')]), /expected ',' or '}'/],
      [pageText([trade(',"sip_timestamp":"1709908200123456789"')]), /expected an unsigned integer/],
      [pageText([trade(',"exchange":1.5')]), /expected an integer/],
      [pageText([trade(',"conditions":["@"]')]), /expected a number/],
      ['{"status":"ERROR","request_id":"r","error":"Unknown API Key"}', /status "ERROR" is not OK/],
      ['{"results":[]}', /status undefined is not OK/],
      [`${pageText([trade()])} {}`, /unexpected content/],
    ];
    for (const [body, message] of bad) {
      const raw = bytes(body);
      expect(() => parseTradesPage(raw, 0), body).toThrow(PageFormatError);
      expect(() => parseTradesPage(raw, 0), body).toThrow(message);
      const read = readTicksPage('trades', raw, 0, undefined);
      expect('reason' in read && read.reason, body).toMatch(message);
    }
  });
});

describe('Massive quotes page parser', () => {
  it('stores both sides as served (sizes too), an absent or 0 exchange as NULL, and skips indicators', () => {
    const rows = [
      '{"ask_exchange":12,"ask_price":171.52,"ask_size":3,"bid_exchange":11,"bid_price":171.5,"bid_size":2,"conditions":[1],"indicators":[604],"participant_timestamp":1709908200123000000,"sequence_number":7,"sip_timestamp":1709908200123456789,"tape":3}',
      '{"ask_exchange":0,"ask_price":0,"ask_size":0,"bid_exchange":11,"bid_price":171.5,"bid_size":200,"sequence_number":8,"sip_timestamp":1709908200123456790,"tape":1}',
      '{"ask_exchange":12,"ask_price":171.52,"ask_size":5,"sip_timestamp":1709908200123456791}',
    ];
    const { columns: c } = parseQuotesPage(page(rows), 2);
    expect(c.length).toBe(3);
    expect(Array.from(c.time.subarray(0, 3))).toEqual([1709908200123456789n, 1709908200123456790n, 1709908200123456791n]);
    expect(Array.from(c.bidPrice.subarray(0, 3))).toEqual([171.5, 171.5, 0]);
    expect(Array.from(c.bidSize.subarray(0, 3))).toEqual([2, 200, 0]);
    expect(Array.from(c.bidExchange.subarray(0, 3), text)).toEqual(['11', '11', null]);
    expect(Array.from(c.askPrice.subarray(0, 3))).toEqual([171.52, 0, 171.52]);
    expect(Array.from(c.askSize.subarray(0, 3))).toEqual([3, 0, 5]);
    expect(Array.from(c.askExchange.subarray(0, 3), text)).toEqual(['12', null, '12']);
    expect(Array.from(c.conditions.subarray(0, 3), list)).toEqual([['1'], null, null]);
    expect(Array.from(c.tape.subarray(0, 3), text)).toEqual(['C', 'A', null]);
    expect(Array.from(c.symbol.subarray(0, 3))).toEqual([2, 2, 2]);
  });

  it('needs a sip_timestamp on every quote', () => {
    expect(() => parseQuotesPage(page(['{"bid_price":1,"ask_price":2}']), 0)).toThrow(/a quote lacks sip_timestamp/);
  });
});
