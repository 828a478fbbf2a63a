/**
 * What every HTTP or SDK request attempt reports, so the run can count requests and log failures
 * with their request id. Its own module: it is part of the public types, and the HTTP client's
 * declarations are not.
 */
export interface RequestEvent {
  url: string;
  status: number | undefined;
  durationMs: number;
  requestId: string | undefined;
  attempt: number;
  /** Set when the attempt failed; says what happens next. */
  failure?: { reason: string; willRetry: boolean; delayMs: number };
}
