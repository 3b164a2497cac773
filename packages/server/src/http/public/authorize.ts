/**
 * The front channel: GET/POST /oauth2/authorize (RFC 6749 §4.1.1, OIDC Core §3.1.2.1 allows both),
 * the login form (POST /oauth2/login), the consent form (POST /oauth2/consent) and the stylesheet.
 * Thin: parse -> AuthorizeService -> render. Every error on these routes is an HTML page, never JSON
 * and never a redirect (the service has already turned redirectable errors into responses).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { responseLocation } from '../../domain/authorization-request.ts';
import { invalidRequest } from '../../domain/errors.ts';
import type { AuthorizeOutcome, AuthorizeService } from '../../services/authorize.ts';
import type { InteractionSealer } from '../../services/interaction.ts';
import { STYLESHEET_PATH } from '../../ui/layout.ts';
import { CONSENT_ACTION, consentPage, formPostPage, LOGIN_ACTION, loginPage } from '../../ui/pages.ts';
import { toOAuthError } from '../errors.ts';
import { FormParams } from '../form.ts';
import { type CookieNames, readCookie, securityHeaders, sendErrorPage, sendPage, setCookie } from '../html-reply.ts';

export const AUTHORIZATION_PATH = '/oauth2/authorize';

export interface AuthorizeRouteDeps {
  authorize: AuthorizeService;
  interactions: InteractionSealer;
  cookies: CookieNames;
}

const STYLESHEET = readFileSync(new URL('../../ui/latch.css', import.meta.url), 'utf8');
const STYLESHEET_ETAG = `"${createHash('sha256').update(STYLESHEET).digest('base64url').slice(0, 16)}"`;

function pageErrorHandler(err: unknown, request: FastifyRequest, reply: FastifyReply) {
  const error = toOAuthError(err);
  if (error.code === 'server_error') request.log.error({ err }, 'unexpected error');
  else if (error.detail) request.log.info({ detail: error.detail, code: error.code }, 'request rejected');
  return sendErrorPage(reply, error);
}

function formBody(request: FastifyRequest): FormParams {
  if (!(request.body instanceof FormParams)) throw invalidRequest('The form must be sent as application/x-www-form-urlencoded.');
  return request.body;
}

/** The raw query string, parsed here so duplicated parameters stay visible (RFC 6749 §3.1). */
function queryParams(request: FastifyRequest): FormParams {
  const at = request.url.indexOf('?');
  return new FormParams(at < 0 ? '' : request.url.slice(at + 1));
}

export function authorizeRoutes(app: FastifyInstance, deps: AuthorizeRouteDeps): void {
  const csrfFor = (request: FastifyRequest, reply: FastifyReply, interactionId: string) => {
    let cookie = readCookie(request, deps.cookies.csrf);
    if (!cookie) {
      cookie = deps.interactions.newCsrfCookie();
      setCookie(reply, deps.cookies, deps.cookies.csrf, cookie);
    }
    return deps.interactions.csrfToken(cookie, interactionId);
  };

  const send = (request: FastifyRequest, reply: FastifyReply, outcome: AuthorizeOutcome) => {
    if (outcome.setBrowserSession) {
      setCookie(reply, deps.cookies, deps.cookies.browserSession, outcome.setBrowserSession.value, outcome.setBrowserSession.maxAgeSeconds);
    }
    switch (outcome.kind) {
      case 'respond': {
        const { response } = outcome;
        if (response.responseMode === 'form_post') {
          // OAuth 2.0 Form Post Response Mode §2: an auto-submitting form to the redirect URI.
          return sendPage(reply, formPostPage({ action: response.redirectUri, fields: response.params }));
        }
        // 303 after a form POST so the browser follows with GET (RFC 9700 §4.12); 302 for GET.
        return securityHeaders(reply, "default-src 'none'; frame-ancestors 'none'")
          .code(request.method === 'GET' ? 302 : 303)
          .header('Location', responseLocation(response))
          .send();
      }
      case 'login': {
        const page = loginPage({
          client: outcome.client,
          interaction: outcome.sealed,
          csrf: csrfFor(request, reply, outcome.interaction.id),
          username: outcome.username,
          error: outcome.error,
        });
        const error = outcome.error;
        if (error?.kind === 'locked') reply.header('Retry-After', String(error.retryAfterSeconds));
        const status = error === undefined ? 200 : error.kind === 'locked' ? 429 : error.kind === 'invalid_credentials' ? 401 : 400;
        return sendPage(reply, page, status);
      }
      case 'consent':
        return sendPage(
          reply,
          consentPage({
            client: outcome.client,
            username: outcome.username,
            scopes: outcome.scopes,
            interaction: outcome.sealed,
            csrf: csrfFor(request, reply, outcome.interaction.id),
          }),
        );
    }
  };

  app.route({
    method: ['GET', 'POST'],
    url: AUTHORIZATION_PATH,
    errorHandler: pageErrorHandler,
    handler: async (request, reply) => {
      const params = request.method === 'GET' ? queryParams(request) : formBody(request);
      return send(request, reply, await deps.authorize.authorize(params, readCookie(request, deps.cookies.browserSession)));
    },
  });

  app.post(LOGIN_ACTION, { errorHandler: pageErrorHandler }, async (request, reply) => {
    const form = formBody(request);
    const outcome = await deps.authorize.signIn({
      interaction: form.get('interaction'),
      csrf: form.get('csrf'),
      csrfCookie: readCookie(request, deps.cookies.csrf),
      browserCookie: readCookie(request, deps.cookies.browserSession),
      username: form.get('username'),
      password: form.get('password'),
      ip: request.ip,
    });
    return send(request, reply, outcome);
  });

  app.post(CONSENT_ACTION, { errorHandler: pageErrorHandler }, async (request, reply) => {
    const form = formBody(request);
    const outcome = await deps.authorize.decide({
      interaction: form.get('interaction'),
      csrf: form.get('csrf'),
      csrfCookie: readCookie(request, deps.cookies.csrf),
      browserCookie: readCookie(request, deps.cookies.browserSession),
      decision: form.get('decision'),
    });
    return send(request, reply, outcome);
  });

  app.get(STYLESHEET_PATH, async (request, reply) => {
    reply.header('Cache-Control', 'public, max-age=3600').header('ETag', STYLESHEET_ETAG);
    if (request.headers['if-none-match'] === STYLESHEET_ETAG) return reply.code(304).send();
    return reply.type('text/css; charset=utf-8').send(STYLESHEET);
  });
}
