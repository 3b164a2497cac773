/**
 * GET/POST /oauth2/userinfo (OIDC Core §5.3.1). The access token comes as a bearer credential in
 * the Authorization header (RFC 6750 §2.1) or, with POST, in a form-encoded body (§2.2) — never in
 * the query (§2.3 is refused: URLs end up in logs and Referer headers). Errors follow RFC 6750 §3:
 * 401 + `WWW-Authenticate: Bearer error="invalid_token"`, 403 + `error="insufficient_scope"`.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { OAuthError } from '../../domain/errors.ts';
import type { UserInfoService } from '../../oidc/userinfo.ts';
import { sendError, toOAuthError } from '../errors.ts';
import { FormParams } from '../form.ts';

export const USERINFO_PATH = '/oauth2/userinfo';

/** RFC 6750 §2.1 b64token. */
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

type Presented = { token: string } | { none: true };

function presentedToken(request: FastifyRequest): Presented {
  const query = request.url.includes('?') ? new URLSearchParams(request.url.slice(request.url.indexOf('?') + 1)) : undefined;
  if (query?.has('access_token')) {
    throw new OAuthError('invalid_request', 'Send the access token in the Authorization header or a form body, not in the URL (RFC 6750 §2).');
  }
  const header = request.headers.authorization;
  const form = request.body instanceof FormParams ? request.body : undefined;
  if (form?.duplicates.includes('access_token')) throw new OAuthError('invalid_request', 'access_token was sent more than once.');
  const inBody = request.method === 'POST' ? form?.get('access_token') : undefined;
  // RFC 6750 §2: "Clients MUST NOT use more than one method to transmit the token in each request."
  if (header !== undefined && inBody !== undefined) throw new OAuthError('invalid_request', 'The access token was sent in more than one way (RFC 6750 §2).');
  if (inBody !== undefined) return { token: inBody };
  if (header === undefined) return { none: true };
  const match = BEARER.exec(header);
  // A malformed or non-Bearer Authorization header fails like a wrong token.
  return { token: match ? (match[1] as string) : '' };
}

export function userInfoRoutes(app: FastifyInstance, deps: { userinfo: UserInfoService; realm: string }): void {
  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    let presented: Presented | undefined;
    try {
      presented = presentedToken(request);
      // RFC 6750 §3.1: without any credential the challenge carries no error code.
      if ('none' in presented) throw new OAuthError('invalid_token', 'An access token is required.', { detail: 'no credentials' });
      const claims = await deps.userinfo.claims(presented.token);
      // Personal data: never cached by intermediaries (the response is per token).
      return reply.header('Cache-Control', 'no-store').header('Pragma', 'no-cache').type('application/json').send(claims);
    } catch (err) {
      const error = toOAuthError(err);
      if (error.code === 'server_error') request.log.error({ err }, 'unexpected error');
      else if (error.detail) request.log.info({ detail: error.detail, code: error.code }, 'userinfo rejected');
      const realm = `realm="${deps.realm}"`;
      if (error.code === 'invalid_token') {
        reply.header(
          'WWW-Authenticate',
          presented && 'none' in presented ? `Bearer ${realm}` : `Bearer ${realm}, error="invalid_token", error_description="${error.description}"`,
        );
        if (presented && 'none' in presented) return reply.code(401).header('Cache-Control', 'no-store').send();
      } else if (error.code === 'insufficient_scope') {
        reply.header('WWW-Authenticate', `Bearer ${realm}, error="insufficient_scope", scope="openid"`);
      } else if (error.code === 'invalid_request') {
        reply.header('WWW-Authenticate', `Bearer ${realm}, error="invalid_request"`);
      }
      return sendError(reply, error);
    }
  };
  app.get(USERINFO_PATH, handler);
  app.post(USERINFO_PATH, handler);
}
