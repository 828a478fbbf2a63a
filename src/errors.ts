/**
 * Error classes that carry what the caller needs to decide: which exit code a run ends with, and
 * whether a failure is the user's input (exit 2) or the environment refusing to let us proceed (exit 3).
 */

export const ExitCode = {
  ok: 0,
  partialFailure: 1,
  usage: 2,
  cannotProceed: 3,
  sigint: 130,
  sigterm: 143,
} as const;

/** Bad flags, settings, symbol lists or dates: nothing was fetched or written. */
export class UsageError extends Error {
  readonly exitCode = ExitCode.usage;
  constructor(message: string, readonly detail?: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The run could not proceed: credentials rejected, storage not writable, lake locked. */
export class CannotProceedError extends Error {
  readonly exitCode = ExitCode.cannotProceed;
  constructor(message: string, readonly detail?: string) {
    super(message);
    this.name = 'CannotProceedError';
  }
}
