/**
 * Redirect URI matching at the authorization endpoint. Pure: no I/O.
 *
 * RFC 6749 §3.1.2.3 and RFC 9700 §4.1.3 (OAuth 2.0 Security BCP): the redirect URI in the request is
 * compared with the registered ones by **exact string match**; no normalization, no prefix or
 * pattern matching.
 *
 * The one exception is RFC 8252 §7.3 (native apps, loopback interface redirection): "The
 * authorization server MUST allow any port to be specified at the time of the request for loopback
 * IP redirect URIs, to accommodate clients that obtain an available ephemeral port from the operating
 * system at the time of the request." It applies to native clients and to loopback IP literals
 * (RFC 8252 §8.3: `localhost` is NOT RECOMMENDED, so it keeps exact matching). Everything except the
 * port must still match exactly.
 */
import type { ClientMetadata } from './client.ts';

const LOOPBACK_HTTP = /^http:\/\/(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\])(?::(\d{1,5}))?([/?].*)?$/s;

interface LoopbackParts {
  host: string;
  rest: string;
}

function loopbackParts(uri: string): LoopbackParts | undefined {
  const m = LOOPBACK_HTTP.exec(uri);
  if (!m) return undefined;
  const port = m[2];
  if (port !== undefined && Number(port) > 65535) return undefined;
  return { host: m[1] as string, rest: m[3] ?? '' };
}

/** True when `requested` matches `registered` under the rules above. */
export function redirectUriMatches(requested: string, registered: string, applicationType: ClientMetadata['application_type']): boolean {
  if (requested === registered) return true;
  if (applicationType !== 'native') return false;
  const a = loopbackParts(requested);
  const b = loopbackParts(registered);
  return a !== undefined && b !== undefined && a.host === b.host && a.rest === b.rest;
}

export type RedirectResolution = { ok: true; redirectUri: string; sent: boolean } | { ok: false; reason: string };

/**
 * Picks the redirect URI for an authorization request. RFC 6749 §3.1.2.3: when the parameter is
 * omitted the registered URI is used, which is only unambiguous when exactly one is registered
 * (OIDC Core §3.1.2.1 makes it REQUIRED for OpenID requests; we accept the omission only in that case).
 * The URI the response goes to is the one the client sent (with its port), never a rewritten one.
 */
export function resolveRedirectUri(requested: string | undefined, metadata: Pick<ClientMetadata, 'redirect_uris' | 'application_type'>): RedirectResolution {
  const registered = metadata.redirect_uris;
  if (requested === undefined) {
    if (registered.length === 1) return { ok: true, redirectUri: registered[0] as string, sent: false };
    return {
      ok: false,
      reason: registered.length === 0 ? 'The client has no registered redirect URI.' : 'redirect_uri is required: the client has several registered.',
    };
  }
  if (registered.some((r) => redirectUriMatches(requested, r, metadata.application_type))) return { ok: true, redirectUri: requested, sent: true };
  return { ok: false, reason: 'redirect_uri does not match any redirect URI registered for this client.' };
}
