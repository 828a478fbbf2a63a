/**
 * The S3 fake's trades_v1 / quotes_v1 day files, fetched with the real S3 SDK and read back with a small
 * CSV reader of our own: the header, every row of a ticker exactly as the tick model has it (stamps and
 * ids exact), the time-ordered variant, republish, dropTicker and wrong-date rows.
 */
import zlib from 'node:zlib';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nyMidnightUtc, nyWallToUtc } from '../../src/shared/time.js';
import { csvRecords } from '../support/csv.js';
import { FakeMassive } from '../support/fake-massive.js';
import { FakeS3, type FakeS3Options, type TickDataset } from '../support/fake-s3.js';
import type { MassiveQuote, MassiveTrade } from '../support/massive-ticks.js';

const TRADES_HEADER = 'ticker,conditions,correction,exchange,id,participant_timestamp,price,sequence_number,sip_timestamp,size,tape,trf_id,trf_timestamp';
const QUOTES_HEADER = 'ticker,ask_exchange,ask_price,ask_size,bid_exchange,bid_price,bid_size,conditions,indicators,participant_timestamp,sequence_number,sip_timestamp,tape,trf_timestamp';
const DATE = '2024-03-07';
const NEXT_SESSION = '2024-03-08';
const NAMED = ['MSFT', 'AAPL', 'BRK.B']; // MSFT is tickers[0], the one republish edits
const OPTIONS: FakeS3Options = {
  from: DATE,
  to: NEXT_SESSION,
  tickers: NAMED,
  extraTickers: 3,
  datasets: ['trades_v1', 'quotes_v1'],
  ticksPerDay: { trades: 600, quotes: 1_500 },
  extraTickerTicks: 7,
};
const ALL_TICKERS = ['AAPL', 'BRK.B', 'MSFT', 'ZZ0001', 'ZZ0002', 'ZZ0003'];

const BIGINTS = new Set(['participant_timestamp', 'sip_timestamp', 'trf_timestamp']);
const LISTS = new Set(['conditions', 'indicators']);

/** A row back as the model's object: an empty field is an absent member. */
function parseRow(header: string[], fields: string[]): { ticker: string; row: Record<string, unknown> } {
  expect(fields.length).toBe(header.length);
  const row: Record<string, unknown> = {};
  header.forEach((name, i) => {
    const text = fields[i];
    if (name === 'ticker' || text === '') return;
    if (BIGINTS.has(name)) {
      expect(text).toMatch(/^\d+$/);
      row[name] = BigInt(text);
    } else if (LISTS.has(name)) {
      expect(text).toMatch(/^\d+(,\d+)*$/);
      row[name] = text.split(',').map(Number);
    } else if (name === 'id') row[name] = text;
    else {
      expect(text).toMatch(/^\d+(\.\d+)?$/);
      row[name] = Number(text);
    }
  });
  return { ticker: fields[0], row };
}

interface TickFile {
  etag: string;
  lastModified: number;
  header: string;
  /** Data lines as written. */
  lines: string[];
  /** The rows parsed, in file order. */
  rows: { ticker: string; row: Record<string, unknown>; fields: string[] }[];
}

describe('FakeS3 trades_v1 / quotes_v1 files', () => {
  let fake: FakeS3;
  let timeFake: FakeS3;

  beforeAll(async () => {
    fake = await new FakeS3(OPTIONS).start();
    timeFake = await new FakeS3({ ...OPTIONS, tickFileOrder: 'time' }).start();
  });
  afterAll(async () => {
    await Promise.all([fake?.stop(), timeFake?.stop()]);
  });

  const s3 = (server: FakeS3): S3Client =>
    new S3Client({
      endpoint: server.url,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });

  async function fetchFile(server: FakeS3, dataset: TickDataset, date = DATE): Promise<TickFile> {
    const c = s3(server);
    try {
      const answer = await c.send(new GetObjectCommand({ Bucket: server.bucket, Key: server.key(dataset, date) }));
      const text = zlib.gunzipSync(await answer.Body!.transformToByteArray()).toString('utf8');
      expect(text.endsWith('\n')).toBe(true);
      const [header, ...lines] = text.slice(0, -1).split('\n');
      const names = header.split(',');
      const [, ...records] = csvRecords(text);
      // One record a line: no quote is left open at a line's end.
      expect(records.map(([raw]) => raw)).toEqual(lines.map((line) => `${line}\n`));
      return {
        etag: answer.ETag!,
        lastModified: answer.LastModified!.getTime(),
        header,
        lines,
        rows: records.map(([, fields]) => ({ ...parseRow(names, fields), fields })),
      };
    } finally {
      c.destroy();
    }
  }

  const rowsOf = (file: TickFile, ticker: string) => file.rows.filter((r) => r.ticker === ticker);

  /** The file's rows of a ticker equal the model's exactly, the stamps and ids as the very same text. */
  function expectExact(file: TickFile, ticker: string, expected: (MassiveTrade | MassiveQuote)[]): void {
    const rows = rowsOf(file, ticker);
    expect(rows.map((r) => r.row), ticker).toStrictEqual(expected);
    const names = file.header.split(',');
    const text = (r: { fields: string[] }, name: string) => r.fields[names.indexOf(name)];
    rows.forEach((r, k) => {
      const e = expected[k] as Partial<MassiveTrade>;
      expect(text(r, 'sip_timestamp')).toBe(e.sip_timestamp!.toString());
      expect(text(r, 'participant_timestamp')).toBe(e.participant_timestamp!.toString());
      if ('id' in e) expect(text(r, 'id')).toBe(e.id);
      if (e.trf_timestamp !== undefined) expect(text(r, 'trf_timestamp')).toBe(e.trf_timestamp.toString());
    });
  }

  it('lists one file per session under each tick dataset, and none unless a test asks for them', async () => {
    const client = s3(fake);
    for (const dataset of ['trades_v1', 'quotes_v1'] as const) {
      const listed = await client.send(new ListObjectsV2Command({ Bucket: fake.bucket, Prefix: `us_stocks_sip/${dataset}/` }));
      expect(listed.Contents?.map((o) => o.Key)).toEqual([fake.key(dataset, DATE), fake.key(dataset, NEXT_SESSION)]);
    }
    client.destroy();
    expect(fake.key('trades_v1', DATE)).toBe('us_stocks_sip/trades_v1/2024/03/2024-03-07.csv.gz');
    const plain = await new FakeS3({ from: DATE, to: DATE }).start();
    try {
      const c = s3(plain);
      const listed = await c.send(new ListObjectsV2Command({ Bucket: plain.bucket, Prefix: 'us_stocks_sip/' }));
      c.destroy();
      expect(listed.Contents?.map((o) => o.Key)).toEqual([plain.key('day_aggs_v1', DATE), plain.key('minute_aggs_v1', DATE)]);
    } finally {
      await plain.stop();
    }
  });

  it('writes a trades file with the reference header, every ticker grouped in sorted order, rows exactly the model', async () => {
    const file = await fetchFile(fake, 'trades_v1');
    expect(file.header).toBe(TRADES_HEADER);
    expect(file.rows.length).toBe(3 * 600 + 3 * 7);
    // Grouped by ticker, in sorted order.
    const runs = file.rows.map((r) => r.ticker).filter((t, k, all) => k === 0 || t !== all[k - 1]);
    expect(runs).toEqual(ALL_TICKERS);
    for (const ticker of ALL_TICKERS) expectExact(file, ticker, fake.expectedTicks('trades', ticker, DATE));
    // The model covers the awkward cases, so the comparison above exercised them.
    const aapl = fake.expectedTicks('trades', 'AAPL', DATE);
    expect(aapl.some((t) => (t.conditions?.length ?? 0) > 1)).toBe(true);
    expect(aapl.some((t) => t.conditions?.length === 1)).toBe(true);
    expect(aapl.some((t) => t.conditions === undefined)).toBe(true);
    expect(aapl.some((t) => t.trf_timestamp !== undefined && t.trf_id !== undefined)).toBe(true);
    expect(aapl.some((t) => t.correction !== undefined)).toBe(true);
    expect(aapl.some((t) => BigInt(t.id) > 2n ** 53n)).toBe(true);
    // A list of several is one quoted field, a list of one is bare.
    expect(file.lines.some((l) => /^AAPL,"\d+(,\d+)+",/.test(l))).toBe(true);
    expect(file.lines.some((l) => /^AAPL,\d+,/.test(l))).toBe(true);
    expect(file.lines.some((l) => /"\d+"/.test(l))).toBe(false);
  });

  it('writes a quotes file the same way: absent sides, conditions and indicators are empty fields', async () => {
    const file = await fetchFile(fake, 'quotes_v1');
    expect(file.header).toBe(QUOTES_HEADER);
    expect(file.rows.length).toBe(3 * 1_500 + 3 * 7);
    for (const ticker of ALL_TICKERS) expectExact(file, ticker, fake.expectedTicks('quotes', ticker, DATE));
    const quotes = NAMED.flatMap((t) => fake.expectedTicks('quotes', t, DATE));
    expect(quotes.some((q) => q.bid_exchange === undefined)).toBe(true);
    expect(quotes.some((q) => q.ask_exchange === 0)).toBe(true);
    expect(quotes.some((q) => q.indicators !== undefined)).toBe(true);
    expect(quotes.some((q) => (q.conditions?.length ?? 0) > 1)).toBe(true);
    // trf_timestamp (last) is empty on every quote.
    expect(file.lines.every((l) => l.endsWith(','))).toBe(true);
  });

  it('holds the rows FakeMassive serves over REST for the same ticker, day, count and default seed', () => {
    const rest = new FakeMassive({ ticksPerDay: { trades: 600, quotes: 1_500 } });
    const [start, end] = [nyMidnightUtc(DATE), nyMidnightUtc(NEXT_SESSION)];
    expect(fake.expectedTicks('trades', 'AAPL', DATE)).toStrictEqual(rest.expectedTrades('AAPL', start, end));
    expect(fake.expectedTicks('quotes', 'BRK.B', DATE)).toStrictEqual(rest.expectedQuotes('BRK.B', start, end));
    const reseeded = new FakeS3({ ...OPTIONS, tickSeed: 7 });
    expect(reseeded.expectedTicks('trades', 'AAPL', DATE)).not.toStrictEqual(fake.expectedTicks('trades', 'AAPL', DATE));
  });

  it("tickFileOrder 'time': the same rows, merged by sip_timestamp across tickers (stable), not grouped", async () => {
    for (const dataset of ['trades_v1', 'quotes_v1'] as const) {
      const [grouped, merged] = await Promise.all([fetchFile(fake, dataset), fetchFile(timeFake, dataset)]);
      expect(merged.header).toBe(grouped.header);
      expect([...merged.lines].sort()).toEqual([...grouped.lines].sort());
      expect(merged.lines).not.toEqual(grouped.lines);
      const sip = merged.rows.map((r) => r.row.sip_timestamp as bigint);
      const order = merged.rows.map((r) => ALL_TICKERS.indexOf(r.ticker));
      for (let k = 1; k < sip.length; k++) {
        expect(sip[k] >= sip[k - 1]).toBe(true);
        if (sip[k] === sip[k - 1]) expect(order[k] >= order[k - 1]).toBe(true);
      }
      // Each ticker's rows keep the model's order; the tickers alternate many times.
      for (const ticker of ALL_TICKERS) expect(rowsOf(merged, ticker).map((r) => r.fields)).toEqual(rowsOf(grouped, ticker).map((r) => r.fields));
      expect(order.filter((t, k) => k > 0 && t !== order[k - 1]).length).toBeGreaterThan(100);
    }
  });

  it('republish: a new ETag and Last-Modified, tickers[0] trades get size + n and quotes bid_size + n, nothing else changes', async () => {
    for (const [dataset, kind, edited] of [['trades_v1', 'trades', 'size'], ['quotes_v1', 'quotes', 'bid_size']] as const) {
      const before = await fetchFile(fake, dataset, NEXT_SESSION);
      const modelBefore = fake.expectedTicks(kind, 'MSFT', NEXT_SESSION);
      fake.republish(dataset, NEXT_SESSION);
      fake.republish(dataset, NEXT_SESSION);
      const after = await fetchFile(fake, dataset, NEXT_SESSION);
      expect(after.etag).not.toBe(before.etag);
      expect(after.lastModified).toBeGreaterThan(before.lastModified);
      const bumped = modelBefore.map((r) => {
        const value = (r as unknown as Record<string, number | undefined>)[edited];
        return value === undefined ? r : { ...r, [edited]: value + 2 };
      });
      expect(fake.expectedTicks(kind, 'MSFT', NEXT_SESSION)).toStrictEqual(bumped);
      expectExact(after, 'MSFT', bumped as (MassiveTrade | MassiveQuote)[]);
      for (const ticker of ALL_TICKERS.filter((t) => t !== 'MSFT')) expect(rowsOf(after, ticker)).toEqual(rowsOf(before, ticker));
    }
  });

  it('dropTicker: a new version of the day without that ticker; the others unchanged', async () => {
    const before = await fetchFile(fake, 'quotes_v1');
    fake.dropTicker('quotes_v1', DATE, 'AAPL');
    const after = await fetchFile(fake, 'quotes_v1');
    expect(after.etag).not.toBe(before.etag);
    expect(rowsOf(before, 'AAPL').length).toBe(1_500);
    expect(rowsOf(after, 'AAPL')).toEqual([]);
    expect(fake.expectedTicks('quotes', 'AAPL', DATE)).toEqual([]);
    expect(after.lines).toEqual(before.lines.filter((l) => !l.startsWith('AAPL,')));
    // The trades file of that day and the next day's quotes still hold AAPL.
    expect(fake.expectedTicks('trades', 'AAPL', DATE).length).toBe(600);
    expect(fake.expectedTicks('quotes', 'AAPL', NEXT_SESSION).length).toBe(1_500);
  });

  it('injectWrongDateRows: rows stamped from 04:00 New York the next day, at the end, left out of expectedTicks', async () => {
    const expected = fake.expectedTicks('trades', 'BRK.B', DATE);
    const before = await fetchFile(fake, 'trades_v1');
    fake.injectWrongDateRows('trades_v1', DATE, 'BRK.B', 3);
    const after = await fetchFile(fake, 'trades_v1');
    expect(after.etag).not.toBe(before.etag);
    expect(after.lines.slice(0, -3)).toEqual(before.lines);
    const injected = after.rows.slice(-3);
    const first = expected[0];
    const base = BigInt(nyWallToUtc('2024-03-08', 4 * 60)) * 1_000_000n;
    injected.forEach((r, i) => {
      expect(r.ticker).toBe('BRK.B');
      const sip = base + BigInt(i) * 1_000n;
      const shift = sip - first.sip_timestamp;
      const moved: MassiveTrade = { ...first, sip_timestamp: sip, participant_timestamp: first.participant_timestamp + shift };
      if (first.trf_timestamp !== undefined) moved.trf_timestamp = first.trf_timestamp + shift;
      expect(r.row).toStrictEqual(moved);
    });
    expect(fake.expectedTicks('trades', 'BRK.B', DATE)).toStrictEqual(expected);
  });
});
