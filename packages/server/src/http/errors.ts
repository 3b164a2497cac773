/**
 * The one place that maps errors to HTTP: RFC 6749 §5.2 JSON bodies, 401 + WWW-Authenticate for
 * invalid_client (§5.2) and invalid_token (RFC 6750 §3), 503 when the database is unreachable,
 * 500 (as `server_error`, details only logged) for anything unexpected.
 */
import type { FastifyBaseLogger, FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { OAuthError, type OAuthErrorCode } from '../domain/errors.ts';

const STATUS: Partial<Record<OAuthErrorCode, number>> = {
  invalid_client: 401,
  invalid_token: 401,
  unauthorized: 401,
  insufficient_scope: 403,
  access_denied: 403,
  not_found: 404,
  conflict: 409,
  rate_limited: 429,
  server_error: 500,
  temporarily_unavailable: 503,
};

export function statusOf(error: OAuthError): number {
  return STATUS[error.code] ?? 400;
}

/** Errors from the database driver that mean "not reachable right now" rather than a bug. */
export function isDatabaseUnavailable(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | undefined;
  if (!e) return false;
  if (
    [
      'ECONNREFUSED',
      'ECONNRESET',
      'ETIMEDOUT',
      'ENOTFOUND',
      'EPIPE',
      'SQLITE_BUSY',
      'SQLITE_CANTOPEN',
      'SQLITE_IOERR',
      '57P01',
      '57P03',
      '53300',
      '08006',
      '08001',
      '08003',
    ].includes(e.code ?? '')
  ) {
    return true;
  }
  // pg: a client whose connection died mid-transaction refuses further queries ("… is not queryable").
  return /Connection terminated|timeout exceeded when trying to connect|database connection is not open|Cannot use a pool after calling end|is not queryable/i.test(
    e.message ?? '',
  );
}

export function toOAuthError(err: unknown): OAuthError {
  if (err instanceof OAuthError) return err;
  const fe = err as FastifyError;
  if (isDatabaseUnavailable(err)) return new OAuthError('temporarily_unavailable', 'The service is temporarily unavailable; try again shortly.');
  if ((err as Error)?.name === 'InvalidCursorError')
    return new OAuthError('invalid_request', 'cursor: not a cursor returned by this endpoint', { extra: { field: 'cursor' } });
  // Raised by the router before any route runs (handed over through fastify's `frameworkErrors`).
  if (fe?.code === 'FST_ERR_BAD_URL') return new OAuthError('invalid_request', 'The request path is not valid: malformed percent-encoding.');
  if (fe?.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    return new OAuthError('invalid_request', 'A segment of the request path is too long.', { extra: { status: 414 } });
  }
  if (fe?.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new OAuthError('invalid_request', 'The request body is too large.', { extra: { status: 413 } });
  if (fe?.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return new OAuthError('invalid_request', 'Unsupported Content-Type.', { extra: { status: 415 } });
  if (fe?.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || fe?.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err instanceof SyntaxError) {
    return new OAuthError('invalid_request', 'The request body is not valid JSON.');
  }
  if (fe?.validation) {
    const first = fe.validation[0];
    const field =
      (first?.instancePath || '').replace(/^\//, '').replace(/\//g, '.') ||
      (first?.params as { missingProperty?: string })?.missingProperty ||
      first?.params?.additionalProperty;
    return new OAuthError('invalid_request', `${field ? `${field}: ` : ''}${first?.message ?? 'invalid input'}`, { extra: field ? { field } : {} });
  }
  if (typeof fe?.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return new OAuthError('invalid_request', fe.message || 'Bad request.', { extra: { status: fe.statusCode } });
  }
  return new OAuthError('server_error', 'An unexpected error occurred.');
}

/** An error response: status, RFC 6749 §5.2 JSON body and the challenge, if any. */
export interface ErrorResponse {
  status: number;
  body: { error: string; error_description: string; [extra: string]: unknown };
  /** RFC 6749 §5.2: invalid_client with HTTP authentication "MUST include the WWW-Authenticate" header. */
  wwwAuthenticate?: string;
  /** Retry-After in seconds (RFC 9110 §10.2.3). */
  retryAfter?: number;
}

/** `extra.status` overrides the status; the other `extra` members join the body. */
export function describeError(error: OAuthError, realm?: string): ErrorResponse {
  const { status: override, ...extra } = error.extra ?? {};
  const status = typeof override === 'number' ? override : statusOf(error);
  const response: ErrorResponse = { status, body: { error: error.code, error_description: error.description, ...extra } };
  if (error.code === 'invalid_client' && realm !== undefined) response.wwwAuthenticate = `Basic realm="${realm}"`;
  if (error.retryAfter !== undefined) response.retryAfter = error.retryAfter;
  return response;
}

/** Serializes an error as RFC 6749 §5.2 JSON. */
export function sendError(reply: FastifyReply, error: OAuthError, realm?: string): FastifyReply {
  const { status, body, wwwAuthenticate, retryAfter } = describeError(error, realm);
  if (wwwAuthenticate !== undefined) reply.header('WWW-Authenticate', wwwAuthenticate);
  if (retryAfter !== undefined) reply.header('Retry-After', String(retryAfter));
  reply.header('Cache-Control', 'no-store');
  return reply.code(status).send(body);
}

/** Logs why a request failed: unexpected errors in full, outages briefly, refusals with their detail. */
export function logFailure(log: Pick<FastifyBaseLogger, 'error' | 'warn' | 'info'>, err: unknown, oauth: OAuthError): void {
  if (oauth.code === 'server_error') log.error({ err }, 'unexpected error');
  else if (oauth.code === 'temporarily_unavailable') log.warn({ err: (err as Error).message }, 'database unavailable');
  else if (oauth.detail) log.info({ detail: oauth.detail, code: oauth.code }, 'request rejected');
}

/**
 * The answer written straight to the socket when Node's HTTP parser rejects a connection's bytes
 * (not HTTP, headers over the size limit, conflicting lengths, request timeout): no request object
 * exists yet, so this is the one error response not built by sendError. Same JSON shape and headers.
 */
export function clientErrorResponse(err: { code?: string }): string {
  const [status, reason, description] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'Request Header Fields Too Large', 'The request line or headers are too large.']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout', 'The request did not arrive in time.']
        : [400, 'Bad Request', 'The request is not valid HTTP/1.1.'];
  const body = JSON.stringify({ error: 'invalid_request', error_description: description });
  return [
    `HTTP/1.1 ${status} ${reason}`,
    'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Cache-Control: no-store',
    'X-Content-Type-Options: nosniff',
    'Connection: close',
    '',
    body,
  ].join('\r\n');
}

export function errorHandler(realm?: string) {
  return (err: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const oauth = toOAuthError(err);
    logFailure(request.log, err, oauth);
    return sendError(reply, oauth, realm);
  };
}
