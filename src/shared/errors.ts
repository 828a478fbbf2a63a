/**
 * Errors a caller of the library decides on. Each says what to do: fix the input (`UsageError`),
 * fix the environment before trying again (`CannotProceedError`), or run again to finish
 * (`InterruptedError`). The CLI maps them to exit codes; the library never exits.
 */

/** Bad options, settings, symbol lists or dates: nothing was fetched or written. Fix the input. */
export class UsageError extends Error {
  readonly action = 'fix-input' as const;
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * The run could not proceed: credentials missing or rejected, a plan restriction, storage not
 * writable, another ingest holding the lake. Fix the environment, then run again.
 */
export class CannotProceedError extends Error {
  readonly action = 'fix-environment' as const;
  constructor(message: string, readonly hint?: string) {
    super(message);
    this.name = 'CannotProceedError';
  }
}

/** Cancelled by the caller's AbortSignal before the operation started its work. Run again. */
export class InterruptedError extends Error {
  readonly action = 'run-again' as const;
  constructor(message = 'interrupted before the run started') {
    super(message);
    this.name = 'InterruptedError';
  }
}
