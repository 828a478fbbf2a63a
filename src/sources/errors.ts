/** Provider failures, classified by their effect on the run. */

/** Some symbols of a batch were rejected as malformed (HTTP 400 "invalid symbol"): split them out. */
export class InvalidSymbolError extends Error {
  constructor(readonly symbol: string | undefined, providerMessage: string) {
    super(`provider rejected the symbol${symbol ? ` ${symbol}` : ''}: ${providerMessage}`);
    this.name = 'InvalidSymbolError';
  }
}

/** Credentials missing or rejected: no request can succeed, abort the whole run. */
export class CredentialsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CredentialsError';
  }
}

/** The account's plan does not allow this request (e.g. recent SIP data on the free plan): abort with a hint. */
export class PlanRestrictionError extends Error {
  constructor(message: string, readonly hint: string) {
    super(message);
    this.name = 'PlanRestrictionError';
  }
}
