/** What went wrong with a request, classified by what the caller should do about it. */

export type TransportFailure = 'timeout' | 'connection' | 'truncated' | 'unparseable';

/** The provider answered with a status that is not success and not worth retrying (or retries ran out). */
export class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    /** The provider's own message from the error body, if any. */
    readonly providerMessage: string,
    readonly requestId: string | undefined,
    readonly url: string,
    readonly attempts: number,
  ) {
    super(`HTTP ${status}${providerMessage ? `: ${providerMessage}` : ''}${requestId ? ` (request id ${requestId})` : ''}`);
    this.name = 'HttpStatusError';
  }
}

/** The request never produced a usable response: timeout, reset, truncated or unparseable body. */
export class TransportError extends Error {
  constructor(readonly failure: TransportFailure, detail: string, readonly attempts: number, readonly requestId?: string) {
    super(`${failure}: ${detail}${requestId ? ` (request id ${requestId})` : ''}`);
    this.name = 'TransportError';
  }
}

/** The provider looks down: too many consecutive failures across the pool. No new work should start. */
export class CircuitOpenError extends Error {
  constructor(readonly consecutiveFailures: number) {
    super(`provider unavailable: ${consecutiveFailures} consecutive failed requests`);
    this.name = 'CircuitOpenError';
  }
}

/** The run was cancelled (SIGINT/SIGTERM) while the request was waiting or in flight. */
export class CancelledError extends Error {
  constructor() {
    super('cancelled');
    this.name = 'CancelledError';
  }
}
