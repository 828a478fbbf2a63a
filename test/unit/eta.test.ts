import { describe, expect, it } from 'vitest';
import { estimateProgress, formatDuration } from '../../src/cli/eta.js';
import type { ProgressEvent } from '../../src/index.js';

const progress = (over: Partial<ProgressEvent>): ProgressEvent => ({
  elapsedMs: 0,
  rowsReceived: 0,
  rowsCommitted: 0,
  partitionsCommitted: 0,
  requests: 0,
  estimatedRequests: 100,
  estimatedBars: 1_000_000,
  unitsDone: 0,
  unitsTotal: 10,
  symbolsDone: 0,
  symbolsTotal: 500,
  ...over,
});

describe('progress estimate', () => {
  it('has no ETA before there is anything to extrapolate from, and never NaN', () => {
    expect(estimateProgress(progress({}))).toEqual({ fraction: 0, remainingMs: undefined });
    expect(estimateProgress(progress({ elapsedMs: 500, requests: 10 })).remainingMs).toBeUndefined();
    expect(formatDuration(undefined)).toBe('…');
    expect(formatDuration(Number.NaN)).toBe('…');
  });

  it('moves with requests and bars before any unit finishes', () => {
    const early = estimateProgress(progress({ elapsedMs: 10_000, requests: 10 }));
    expect(early.fraction).toBeCloseTo(0.1);
    expect(early.remainingMs).toBe(90_000);
    const byBars = estimateProgress(progress({ elapsedMs: 5_000, rowsReceived: 250_000 }));
    expect(byBars.fraction).toBeCloseTo(0.25);
    expect(byBars.remainingMs).toBe(15_000);
  });

  it('takes the furthest of units, requests and bars (the plan counts are upper bounds)', () => {
    const e = estimateProgress(progress({ elapsedMs: 60_000, unitsDone: 5, requests: 20, rowsReceived: 100_000 }));
    expect(e.fraction).toBeCloseTo(0.5);
    expect(e.remainingMs).toBe(60_000);
  });

  it('is done when every unit is, and stays below 100 % until then', () => {
    expect(estimateProgress(progress({ elapsedMs: 9_000, unitsDone: 10 }))).toEqual({ fraction: 1, remainingMs: 0 });
    expect(estimateProgress(progress({ elapsedMs: 9_000, unitsDone: 9, requests: 150 })).fraction).toBeLessThan(1);
    expect(estimateProgress(progress({ unitsTotal: 0 }))).toEqual({ fraction: 1, remainingMs: 0 });
  });

  it('formats durations for people', () => {
    expect(formatDuration(4_400)).toBe('4s');
    expect(formatDuration(125_000)).toBe('2m05s');
    expect(formatDuration(3 * 3_600_000 + 7 * 60_000)).toBe('3h07m');
  });
});
