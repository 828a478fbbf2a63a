/** Provider failures, classified by their effect on the run. Every source throws these. */
import { CannotProceedError } from '../shared/errors.js';

/** Some symbols of a batch were rejected as malformed (e.g. HTTP 400 "invalid symbol"): split them out. */
export class InvalidSymbolError extends Error {
  constructor(readonly symbol: string | undefined, providerMessage: string) {
    super(`provider rejected the symbol${symbol ? ` ${symbol}` : ''}: ${providerMessage}`);
    this.name = 'InvalidSymbolError';
  }
}

/** Credentials missing or rejected: no request can succeed, abort the whole run. */
export class CredentialsError extends CannotProceedError {
  constructor(message: string) {
    super(message);
    this.name = 'CredentialsError';
  }
}

/** The account's plan does not allow this request (e.g. recent SIP data on the free plan): abort with a hint. */
export class PlanRestrictionError extends CannotProceedError {
  constructor(message: string, hint: string) {
    super(message, hint);
    this.name = 'PlanRestrictionError';
  }
}

/** A page that arrived whole but does not hold what the provider's format promises: the unit is fetched again. */
export class PageFormatError extends Error {
  constructor(detail: string, readonly position: number) {
    super(`malformed page at byte ${position}: ${detail}`);
    this.name = 'PageFormatError';
  }
}

/**
 * What the run must know before it plans (a file listing) could not be had — the provider
 * unreachable or failing after every retry: nothing was fetched, and a later run fetches it all.
 */
export class SourceUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SourceUnavailableError';
  }
}
