/**
 * GET/POST /oauth2/logout: OpenID Connect RP-Initiated Logout 1.0 (`end_session_endpoint`).
 * Thin: parse -> LogoutService -> page or redirect. Every error is an HTML page and never a redirect
 * (§3: the OP must not redirect to a target it could not validate).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { OAuthError } from '../../domain/errors.ts';
import { type LogoutOutcome, type LogoutService, readLogoutParams } from '../../oidc/logout.ts';
import { CONFIRM_FIELD, LOGOUT_PATH, logoutConfirmPage, signedOutPage } from '../../oidc/logout-pages.ts';
import type { InteractionSealer } from '../../services/interaction.ts';
import { toOAuthError } from '../errors.ts';
import { FormParams } from '../form.ts';
import { type CookieNames, readCookie, securityHeaders, sendErrorPage, sendPage, setCookie } from '../html-reply.ts';

export { LOGOUT_PATH };

/** The CSRF token of the confirmation form is bound to this purpose (signed double-submit, services/interaction.ts). */
const CSRF_PURPOSE = 'rp-initiated-logout';

export interface LogoutRouteDeps {
  logout: LogoutService;
  interactions: Pick<InteractionSealer, 'newCsrfCookie' | 'csrfToken' | 'verifyCsrf'>;
  cookies: CookieNames;
}

function pageErrorHandler(err: unknown, request: FastifyRequest, reply: FastifyReply) {
  const error = toOAuthError(err);
  if (error.code === 'server_error') request.log.error({ err }, 'unexpected error');
  else if (error.detail) request.log.info({ detail: error.detail, code: error.code }, 'logout rejected');
  return sendErrorPage(reply, error);
}

export function logoutRoutes(app: FastifyInstance, deps: LogoutRouteDeps): void {
  const reply = async (request: FastifyRequest, res: FastifyReply, outcome: LogoutOutcome) => {
    if (outcome.kind === 'confirm') {
      let cookie = readCookie(request, deps.cookies.csrf);
      if (!cookie) {
        cookie = deps.interactions.newCsrfCookie();
        setCookie(res, deps.cookies, deps.cookies.csrf, cookie);
      }
      const page = logoutConfirmPage({
        params: outcome.params,
        client: outcome.client,
        username: outcome.username,
        csrf: deps.interactions.csrfToken(cookie, CSRF_PURPOSE),
      });
      return sendPage(res, page);
    }
    // The browser session is over: drop its cookie too.
    // (Max-Age=0 deletes it; the value only has to be a valid cookie value.)
    if (readCookie(request, deps.cookies.browserSession) !== undefined) setCookie(res, deps.cookies, deps.cookies.browserSession, 'deleted', 0);
    if (outcome.redirectTo) {
      // 303 after a form POST so the browser follows with GET; 302 for GET.
      return securityHeaders(res, "default-src 'none'; frame-ancestors 'none'")
        .code(request.method === 'GET' ? 302 : 303)
        .header('Location', outcome.redirectTo)
        .send();
    }
    return sendPage(res, signedOutPage({ client: outcome.client }));
  };

  app.get(LOGOUT_PATH, { errorHandler: pageErrorHandler }, async (request, res) => {
    const at = request.url.indexOf('?');
    const query = new FormParams(at < 0 ? '' : request.url.slice(at + 1));
    const params = readLogoutParams((n) => query.get(n), query.duplicates);
    return reply(request, res, await deps.logout.request(params, readCookie(request, deps.cookies.browserSession)));
  });

  app.post(LOGOUT_PATH, { errorHandler: pageErrorHandler }, async (request, res) => {
    // §2: "the OP MUST support the use of the HTTP GET and POST methods"; POST uses form serialization.
    if (!(request.body instanceof FormParams)) throw new OAuthError('invalid_request', 'The form must be sent as application/x-www-form-urlencoded.');
    const form = request.body;
    const params = readLogoutParams((n) => form.get(n), form.duplicates);
    const browserCookie = readCookie(request, deps.cookies.browserSession);
    if (form.has(CONFIRM_FIELD)) {
      if (!deps.interactions.verifyCsrf(readCookie(request, deps.cookies.csrf), CSRF_PURPOSE, form.get('csrf'))) {
        throw new OAuthError('access_denied', 'The form was not sent from this site or has expired. Go back to the application and sign out again.', {
          extra: { status: 403 },
          detail: 'logout csrf mismatch',
        });
      }
      return reply(request, res, await deps.logout.confirm(params, browserCookie));
    }
    return reply(request, res, await deps.logout.request(params, browserCookie));
  });
}
