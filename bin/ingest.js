#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import v8 from 'node:v8';

// Keep V8's young generation at its initial size. Ingest keeps a small JS heap beside large typed
// arrays; once the young generation grew, V8 kept running full collections of that small heap.
// Set before the program loads so it applies from the first allocation.
v8.setFlagsFromString('--semi-space-growth-factor=1');
const { main } = await import('../dist/src/cli/main.js');
const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

process.exitCode = await main(process.argv, { version });
