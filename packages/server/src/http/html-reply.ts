/**
 * HTML responses and browser cookies for the server-rendered pages. Every page gets the same
 * protective headers; cookies are HttpOnly, SameSite=Lax, Path=/, and Secure (with the `__Host-`
 * prefix, RFC 6265bis §4.1.3.2) when the issuer is https.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { OAuthError } from '../domain/errors.ts';
import type { RenderedPage } from '../ui/layout.ts';
import { errorPage } from '../ui/pages.ts';

/** Headers every HTML page carries (clickjacking, referrer leaks of codes, caching of personal pages). */
export function securityHeaders(reply: FastifyReply, csp: string): FastifyReply {
  return reply
    .header('Content-Security-Policy', csp)
    .header('X-Frame-Options', 'DENY')
    .header('Referrer-Policy', 'no-referrer')
    .header('Cache-Control', 'no-store')
    .header('Pragma', 'no-cache');
}

export function sendPage(reply: FastifyReply, page: RenderedPage, status = 200): FastifyReply {
  return securityHeaders(reply, page.csp).code(status).type('text/html; charset=utf-8').send(page.body);
}

const PAGE_STATUS: Partial<Record<OAuthError['code'], number>> = { server_error: 500, temporarily_unavailable: 503 };

const TITLES: Partial<Record<OAuthError['code'], string>> = {
  server_error: 'Something went wrong',
  temporarily_unavailable: 'Temporarily unavailable',
  access_denied: 'Request refused',
};

/** An error shown to the user instead of being redirected (RFC 6749 §4.1.2.1). */
export function sendErrorPage(reply: FastifyReply, error: OAuthError): FastifyReply {
  const override = error.extra?.status;
  const status = typeof override === 'number' ? override : (PAGE_STATUS[error.code] ?? 400);
  const page = errorPage({ title: TITLES[error.code] ?? 'This request cannot be completed', message: error.description, code: error.code });
  return sendPage(reply, page, status);
}

export interface CookieNames {
  browserSession: string;
  csrf: string;
  secure: boolean;
}

export function cookieNames(issuer: string): CookieNames {
  const secure = issuer.startsWith('https:');
  const prefix = secure ? '__Host-' : '';
  return { browserSession: `${prefix}latch_session`, csrf: `${prefix}latch_csrf`, secure };
}

/**
 * Reads one cookie from the Cookie header (RFC 6265 §5.4). Our cookie values are base62 or
 * base64url, so no decoding is needed; anything longer than any value we set is ignored.
 */
export function readCookie(request: FastifyRequest, name: string): string | undefined {
  const header = request.headers.cookie;
  if (!header || header.length > 8192) return undefined;
  for (const part of header.split(';')) {
    const at = part.indexOf('=');
    if (at < 0 || part.slice(0, at).trim() !== name) continue;
    const value = part.slice(at + 1).trim();
    return value === '' || value.length > 200 ? undefined : value;
  }
  return undefined;
}

/** Appends a Set-Cookie header; maxAgeSeconds undefined makes a session cookie. */
export function setCookie(reply: FastifyReply, names: CookieNames, name: string, value: string, maxAgeSeconds?: number): void {
  if (!/^[A-Za-z0-9_-]+$/.test(value)) throw new Error('cookie values are base62 or base64url');
  const attributes = [`${name}=${value}`, 'Path=/', 'HttpOnly', 'SameSite=Lax'];
  if (names.secure) attributes.push('Secure');
  if (maxAgeSeconds !== undefined) attributes.push(`Max-Age=${maxAgeSeconds}`);
  const existing = reply.getHeader('set-cookie');
  const list = existing === undefined ? [] : Array.isArray(existing) ? existing : [String(existing)];
  reply.header('set-cookie', [...list, attributes.join('; ')]);
}
