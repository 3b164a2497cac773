/**
 * Latch could not give an answer (network error, timeout, 5xx, an unexpected reply). A guard turns
 * this into 503: a token that cannot be checked is never allowed, and the failure is never cached.
 */
export class AuthorityUnavailableError extends Error {
  override readonly name = 'AuthorityUnavailableError';
  constructor(
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A configuration mistake the caller must fix (wrong issuer, missing credential). */
export class ConfigurationError extends Error {
  override readonly name = 'ConfigurationError';
}
