/** The flat-file record filter: the same bytes a full CSV read would keep, however the file is cut into chunks. */
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { CoalescingStream } from '../../src/shared/coalescing-stream.js';
import { csvRecords } from '../support/csv.js';
import { DayFileContentError, WantedLinesStream, WantedRecords, wantedRecordStages } from '../../src/sources/massive/wanted-lines.js';

/** What the filter must keep: the header, then each record whose ticker field is wanted. */
function expected(text: string, wanted: ReadonlySet<string>, column = 'ticker'): string {
  const [header, ...rows] = csvRecords(text);
  const at = header[1].indexOf(column);
  return header[0] + rows.filter(([, f]) => wanted.has(f[at] ?? '')).map(([raw]) => raw).join('');
}

function filterInChunks(text: string, wanted: ReadonlySet<string>, cuts: number[]): { out: string; kept: number } {
  const bytes = Buffer.from(text);
  const records = new WantedRecords(wanted);
  const out: Buffer[] = [];
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    out.push(...records.write(bytes.subarray(from, cut)));
    from = cut;
  }
  out.push(...records.end());
  return { out: Buffer.concat(out).toString(), kept: records.kept };
}

const WANTED = new Set(['AAPL', 'BRK.B', 'A"B', 'MSFT']);

/** A deterministic generator (the same cases on every run). */
function lcg(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31;
  };
}

function randomCsv(random: () => number, tickerColumn: number): string {
  const tickers = ['AAPL', 'AAPLX', 'AAP', 'BRK.B', 'MSFT', 'ZZZ', '', 'A"B'];
  const columns = ['volume', 'open', 'conditions', 'window_start'];
  columns.splice(tickerColumn, 0, 'ticker');
  const lines = [columns.join(',')];
  let ticker = tickers[0];
  for (let r = 0; r < 60; r++) {
    if (random() < 0.3) ticker = tickers[Math.floor(random() * tickers.length)];
    const cells = columns.map((c) => {
      if (c === 'ticker') return ticker.includes('"') || random() < 0.2 ? `"${ticker.replaceAll('"', '""')}"` : ticker;
      if (c === 'conditions') return ['', '"12,37"', '"a ""quoted""\nline"', '7'][Math.floor(random() * 4)];
      return String(Math.floor(random() * 1000));
    });
    lines.push(cells.join(','));
  }
  return lines.join(random() < 0.5 ? '\n' : '\r\n') + (random() < 0.5 ? '\n' : '');
}

describe('the flat-file record filter', () => {
  it('keeps the header and exactly the wanted records, byte for byte, for every way of cutting the file', () => {
    const text = 'ticker,volume,open\nAAPL,1,2\nAAPL,3,4\nAAPLX,5,6\nBRK.B,7,8\n"MSFT",9,10\nZZZ,1,1\nAAPL,11,12';
    const want = expected(text, WANTED);
    expect(want).toBe('ticker,volume,open\nAAPL,1,2\nAAPL,3,4\nBRK.B,7,8\n"MSFT",9,10\nAAPL,11,12\n');
    for (let a = 0; a <= text.length; a++) {
      for (let b = a; b <= text.length; b += 7) expect(filterInChunks(text, WANTED, [a, b]), `cut at ${a}, ${b}`).toEqual({ out: want, kept: 5 });
    }
  });

  it('reads quoted fields as DuckDB does: commas, doubled quotes and newlines inside quotes belong to the field', () => {
    const random = lcg(7);
    for (let n = 0; n < 200; n++) {
      const text = randomCsv(random, n % 5);
      const want = expected(text, WANTED);
      const cuts = [Math.floor(random() * text.length), Math.floor(random() * text.length)].sort((x, y) => x - y);
      expect(filterInChunks(text, WANTED, cuts).out, `case ${n}`).toBe(want);
      expect(filterInChunks(text, WANTED, []).out, `case ${n} in one piece`).toBe(want);
    }
  });

  it('finds the ticker column by name, with CRLF line ends and a byte-order mark', () => {
    const text = '\uFEFFvolume,"ticker"\r\n1,AAPL\r\n2,ZZZ\r\n3,MSFT\r\n\r\n4\r\n';
    expect(filterInChunks(text, WANTED, [3, 20]).out).toBe('\uFEFFvolume,"ticker"\r\n1,AAPL\r\n3,MSFT\r\n');
  });

  it('hands on a record whose quote never closes, for the CSV reader to report', () => {
    expect(filterInChunks('ticker,c\nAAPL,1\nZZZ,"open\n', WANTED, [12]).out).toBe('ticker,c\nAAPL,1\nZZZ,"open\n\n');
  });

  it('refuses a file without a header or without a ticker column', () => {
    expect(() => filterInChunks('', WANTED, [])).toThrow(DayFileContentError);
    expect(() => filterInChunks('symbol,volume\nAAPL,1\n', WANTED, [])).toThrow(/no ticker column/);
  });

  it('as a stream, fails the pipeline with the content error', async () => {
    const chunks: Buffer[] = [];
    await pipeline(Readable.from([Buffer.from('ticker,v\nAA'), Buffer.from('PL,1\nZZZ,2\n')]), new WantedLinesStream(WANTED), async function* (source) {
      for await (const c of source) chunks.push(c as Buffer);
    });
    expect(Buffer.concat(chunks).toString()).toBe('ticker,v\nAAPL,1\n');
    await expect(pipeline(Readable.from([Buffer.from('name,v\n')]), new WantedLinesStream(WANTED), async function* (source) {
      for await (const _ of source);
    })).rejects.toThrow(DayFileContentError);
  });

  it('from a gzipped file arriving in socket-sized pieces: the same records as the plain text gives', async () => {
    const random = lcg(11);
    const texts = Array.from({ length: 400 }, (_, n) => randomCsv(random, 0).split(/\r?\n/).slice(n === 0 ? 0 : 1).join('\n')).join('\n') + '\n';
    const gzip = zlib.gzipSync(texts);
    const pieces = [];
    for (let at = 0; at < gzip.length; at += 65_536) pieces.push(gzip.subarray(at, at + 65_536));
    const out: Buffer[] = [];
    const { stages, filter } = wantedRecordStages(WANTED);
    await pipeline(Readable.from(pieces), ...stages, async function* (source) {
      for await (const c of source) out.push(c as Buffer);
    });
    expect(Buffer.concat(out).toString()).toBe(expected(texts, WANTED));
    const [header, ...rows] = csvRecords(texts);
    expect(filter.records.kept).toBe(rows.filter(([, fields]) => WANTED.has(fields[header[1].indexOf('ticker')] ?? '')).length);
  });
});

describe('joining a stream into larger chunks', () => {
  async function joined(chunks: string[], minBytes: number): Promise<string[]> {
    const out: string[] = [];
    // A writable sees each chunk as handed on (an async iterator would join what is buffered).
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        out.push(chunk.toString());
        done();
      },
    });
    await pipeline(Readable.from(chunks.map((c) => Buffer.from(c))), new CoalescingStream(minBytes), sink);
    return out;
  }

  it('hands on chunks of at least the size asked for, the last one whatever is left, the bytes unchanged', async () => {
    expect(await joined(['ab', 'c', 'defg', 'h', 'ij'], 4)).toEqual(['abcdefg', 'hij']);
    expect(await joined(['abcdef', 'g'], 4)).toEqual(['abcdef', 'g']);
    expect(await joined(['ab', 'cd'], 4)).toEqual(['abcd']);
    expect(await joined([], 4)).toEqual([]);
  });
});

