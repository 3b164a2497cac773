/**
 * One error catalogue for the whole server. `description` is public (it reaches the client
 * as `error_description`); `detail` is private and only logged.
 */
export type OAuthErrorCode =
  // RFC 6749 §4.1.2.1 and §5.2
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'access_denied'
  | 'unsupported_response_type'
  | 'server_error'
  | 'temporarily_unavailable'
  // RFC 6750 §3.1
  | 'invalid_token'
  | 'insufficient_scope'
  // RFC 7009 §2.2.1
  | 'unsupported_token_type'
  // RFC 7591 §3.2.2
  | 'invalid_redirect_uri'
  | 'invalid_client_metadata'
  | 'invalid_software_statement'
  // OIDC Core §3.1.2.6
  | 'interaction_required'
  | 'login_required'
  | 'consent_required'
  | 'account_selection_required'
  | 'invalid_request_uri'
  | 'invalid_request_object'
  | 'request_not_supported'
  | 'request_uri_not_supported'
  | 'registration_not_supported'
  // Non-OAuth codes used by the admin API
  | 'not_found'
  | 'conflict'
  | 'unauthorized'
  | 'rate_limited';

export class OAuthError extends Error {
  readonly code: OAuthErrorCode;
  readonly description: string;
  readonly detail: string | undefined;
  /** Extra members for the JSON body, e.g. `field` for admin validation errors. */
  readonly extra: Record<string, unknown> | undefined;
  /** Seconds until the request may be retried (`rate_limited`; RFC 9110 §10.2.3 Retry-After). */
  readonly retryAfter: number | undefined;

  constructor(code: OAuthErrorCode, description: string, options: { detail?: string; extra?: Record<string, unknown>; retryAfter?: number } = {}) {
    super(`${code}: ${description}`);
    this.name = 'OAuthError';
    this.code = code;
    this.description = description;
    this.detail = options.detail;
    this.extra = options.extra;
    this.retryAfter = options.retryAfter;
  }
}

/** Typed assertion: narrows `condition` and throws the given error when it does not hold. */
export function assertThat(condition: unknown, error: OAuthError | (() => OAuthError)): asserts condition {
  if (!condition) throw typeof error === 'function' ? error() : error;
}

export const invalidRequest = (description: string, extra?: Record<string, unknown>) => new OAuthError('invalid_request', description, { extra });
export const invalidClient = (description = 'Client authentication failed.') => new OAuthError('invalid_client', description);
export const invalidGrant = (description: string) => new OAuthError('invalid_grant', description);
export const invalidScope = (description: string) => new OAuthError('invalid_scope', description);
export const notFound = (what: string) => new OAuthError('not_found', `${what} not found.`);
