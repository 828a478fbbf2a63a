/**
 * What the loopback fakes share: a node:http server on 127.0.0.1 (a free port) and the holding of
 * requests, so a test can stop a client mid-run at a known point. A subclass answers in `handle` and
 * calls `holdIfDue` for each request that counts toward a hold.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export abstract class LoopbackServer {
  private server: http.Server | undefined;
  /** Counted requests still answered before holding starts; undefined: never hold. */
  private answerBeforeHold: number | undefined;
  /** One per held request: logs it -3 and cuts its connection. */
  private readonly held: (() => void)[] = [];
  private readonly heldWaiters: (() => void)[] = [];

  constructor(private readonly serverOptions: http.ServerOptions = {}) {}

  get url(): string {
    const address = this.server?.address() as AddressInfo;
    return `http://127.0.0.1:${address.port}`;
  }

  async start(): Promise<this> {
    this.server = http.createServer(this.serverOptions, (req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 10_000;
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return this;
  }

  async stop(): Promise<void> {
    this.dropHeld();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  /**
   * Answer `count` more of the requests this fake counts, then hold every further one unanswered, so
   * a client is stuck at a known point (it cannot finish while it needs another). Resolves once a
   * request is held.
   */
  holdAfter(count: number): Promise<void> {
    this.answerBeforeHold = count;
    return new Promise((resolve) => this.heldWaiters.push(resolve));
  }

  /** Stop holding; the held requests are cut off (logged with status -3; their client is usually dead by now). */
  dropHeld(): void {
    this.answerBeforeHold = undefined;
    for (const drop of this.held.splice(0)) drop();
  }

  protected abstract handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void>;

  /**
   * Count a request toward the hold. True when it is held: the caller answers nothing more, and
   * `dropHeld` later logs it with status -3 and cuts its connection.
   */
  protected holdIfDue(req: http.IncomingMessage, entry: { status: number }): boolean {
    if (this.answerBeforeHold === undefined) return false;
    if (this.answerBeforeHold > 0) {
      this.answerBeforeHold -= 1;
      return false;
    }
    this.held.push(() => {
      entry.status = -3;
      req.socket.destroy();
    });
    for (const notify of this.heldWaiters.splice(0)) notify();
    return true;
  }
}

/** Requests counted in fixed windows aligned to the epoch, so a window's reset (whole seconds) is exact. */
export class FixedWindowCount {
  /** Start of the current window, ms. */
  start = 0;
  private count = 0;

  /** Count a request at `now`; returns how many its window has had, this one included. */
  add(now: number, windowMs: number): number {
    const start = Math.floor(now / windowMs) * windowMs;
    if (start !== this.start) {
      this.start = start;
      this.count = 0;
    }
    this.count += 1;
    return this.count;
  }
}
