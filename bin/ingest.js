#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import v8 from 'node:v8';

// Publishing a partition is an fsync of the file and its directory, which libuv runs on its thread
// pool (4 threads by default). Thousands of small files wait on those fsyncs, not on the CPU; more
// threads let the file system commit them together. Set before the pool starts; the user's value wins.
process.env.UV_THREADPOOL_SIZE ??= '16';

// Keep V8's young generation at its initial size. Ingest keeps a small JS heap beside large typed
// arrays; once the young generation grew, V8 kept running full collections of that small heap.
// Set before the program loads so it applies from the first allocation.
v8.setFlagsFromString('--semi-space-growth-factor=1');
const { main } = await import('../dist/src/cli/main.js');
const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

process.exitCode = await main(process.argv, { version });
