/** The CLI's exit codes, and which library error means which. */
import { CannotProceedError, InterruptedError, SourceUnavailableError, UsageError } from '../index.js';

export const ExitCode = {
  ok: 0,
  partialFailure: 1,
  usage: 2,
  cannotProceed: 3,
  sigint: 130,
  sigterm: 143,
} as const;

export const EXIT_CODES_HELP = `
Exit codes:
  0    every unit succeeded (symbols without data are warnings)
  1    some units failed or were not attempted; everything else is committed
  2    usage, input or settings error; nothing was fetched or written
  3    the run could not proceed (credentials rejected or missing, plan restriction,
       storage not writable, another ingest holds the lake)
  130  interrupted (SIGINT); committed data is kept, rerun to complete
  143  terminated (SIGTERM); committed data is kept, rerun to complete`;

/** The exit code for an error the library threw, or undefined for one it did not classify. */
export function exitCodeForError(error: unknown): number | undefined {
  if (error instanceof UsageError) return ExitCode.usage;
  if (error instanceof CannotProceedError) return ExitCode.cannotProceed;
  if (error instanceof InterruptedError) return ExitCode.sigint;
  if (error instanceof SourceUnavailableError) return ExitCode.partialFailure;
  return undefined;
}
