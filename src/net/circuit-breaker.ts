/**
 * Trips after N consecutive failed requests across the whole pool. Once open it stays open for the
 * rest of the run: a provider that is down should end the run with a precise report, not an hour
 * of per-symbol failures.
 */
export class CircuitBreaker {
  private consecutive = 0;
  private tripped = false;

  constructor(readonly threshold: number) {}

  get isOpen(): boolean {
    return this.tripped;
  }

  get consecutiveFailures(): number {
    return this.consecutive;
  }

  recordSuccess(): void {
    if (!this.tripped) this.consecutive = 0;
  }

  recordFailure(): void {
    this.consecutive += 1;
    if (this.threshold > 0 && this.consecutive >= this.threshold) this.tripped = true;
  }
}
