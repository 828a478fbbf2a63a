/**
 * The throughput baseline, run as its own process like the CLI: fetch the given page URLs with 8
 * requests in flight and JSON.parse each page, storing nothing. Counts the rows of the envelope's
 * member (bars, trades or quotes; default bars). Prints {"bars", "ms"} (bars: the rows counted).
 */
import fs from 'node:fs';

const [urlFile, member = 'bars'] = process.argv.slice(2);
const urls = fs.readFileSync(urlFile, 'utf8').split('\n').filter(Boolean);
const headers = { 'APCA-API-KEY-ID': process.env.APCA_API_KEY_ID ?? '', 'APCA-API-SECRET-KEY': process.env.APCA_API_SECRET_KEY ?? '' };
let next = 0;
let bars = 0;
const started = performance.now();
const worker = async (): Promise<void> => {
  while (next < urls.length) {
    const url = urls[next++];
    const page = JSON.parse(await (await fetch(url, { headers })).text()) as Record<string, Record<string, unknown[]> | null>;
    for (const list of Object.values(page[member] ?? {})) bars += list.length;
  }
};
await Promise.all(Array.from({ length: 8 }, worker));
process.stdout.write(JSON.stringify({ bars, ms: performance.now() - started }));
