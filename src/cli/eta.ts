/** How far a run is and how long it has left, from its progress counts. Pure. */
import type { ProgressEvent } from '../index.js';

export interface Estimate {
  /** Share of the planned work done, 0..1. */
  fraction: number;
  /** Remaining time in ms, or undefined while there is too little to go on. */
  remainingMs: number | undefined;
}

/** Below this much elapsed time or done work an extrapolation says more about noise than the run. */
const MIN_ELAPSED_MS = 1_000;
const MIN_FRACTION = 0.002;

/**
 * The plan's request and bar counts are upper bounds (every session's full extended hours), so the
 * share done is the largest of: units finished, requests made, and bars received against the plan.
 * The remaining time extrapolates the rate observed so far over what is left.
 */
export function estimateProgress(p: ProgressEvent): Estimate {
  const shares = [
    p.unitsTotal > 0 ? p.unitsDone / p.unitsTotal : 0,
    p.estimatedRequests > 0 ? p.requests / p.estimatedRequests : 0,
    p.estimatedBars > 0 ? p.rowsReceived / p.estimatedBars : 0,
  ];
  const finished = p.unitsTotal === 0 || p.unitsDone >= p.unitsTotal;
  const fraction = finished ? 1 : Math.min(0.999, Math.max(0, ...shares.filter(Number.isFinite)));
  if (finished) return { fraction, remainingMs: 0 };
  if (p.elapsedMs < MIN_ELAPSED_MS || fraction < MIN_FRACTION) return { fraction, remainingMs: undefined };
  return { fraction, remainingMs: Math.max(0, Math.round((p.elapsedMs * (1 - fraction)) / fraction)) };
}

export function formatDuration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms) || ms < 0) return '…';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
