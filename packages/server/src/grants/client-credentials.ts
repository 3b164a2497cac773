/**
 * client_credentials (RFC 6749 §4.4): a confidential client asks for tokens for itself. Each request
 * starts a session without a user (docs/architecture.md §2), so introspection can report `sid`/`device_id` and
 * the session can be ended like any other; no refresh token is issued (§4.4.3).
 */
import { invalidScope } from '../domain/errors.ts';
import { defaultScopes, disallowedScopes, parseScope } from '../domain/scope.ts';
import { accessTokenTtlFor, issueAccessToken } from '../services/tokens.ts';
import { bearerResponse } from './response.ts';
import type { GrantHandler } from './types.ts';

/** Scopes that only make sense with a user; never granted to a client acting for itself. */
const USER_SCOPES = ['openid', 'offline_access'];

/**
 * RFC 6749 §3.3: the requested scope must lie inside the client's allowed set (which may hold
 * `prefix*` patterns); when none is requested the client gets its allowed set without patterns.
 */
export function clientCredentialsScope(requested: string | undefined, allowedScope: string | undefined): string[] {
  const allowed = parseScope(allowedScope) ?? [];
  const asked = parseScope(requested);
  if (asked === undefined) throw invalidScope('scope must be space-separated scope tokens (RFC 6749 §3.3).');
  if (asked.length === 0) return defaultScopes(allowed).filter((s) => !USER_SCOPES.includes(s));
  const refused = [...disallowedScopes(asked, allowed), ...asked.filter((s) => USER_SCOPES.includes(s))];
  if (refused.length > 0) throw invalidScope(`The client may not request: ${[...new Set(refused)].join(' ')}`);
  return asked;
}

export const clientCredentialsGrant: GrantHandler<'storage' | 'lifetimes' | 'sessions'> = {
  grantType: 'client_credentials',
  parameters: ['scope'],
  // RFC 6749 §4.4: "The client credentials grant type MUST only be used by confidential clients."
  clientAuth: 'confidential',

  async handle({ client, params, now }, deps) {
    const scope = clientCredentialsScope(params.get('scope'), client.metadata.scope);
    const ttlSeconds = accessTokenTtlFor(client, deps.lifetimes);
    const accessToken = await deps.storage.transaction(async (repos) => {
      const session = await deps.sessions.start(repos, {
        userId: null,
        clientId: client.clientId,
        browserSessionId: null,
        scope,
        authTime: null,
        amr: null,
        acr: null,
        now,
      });
      return issueAccessToken(repos, { sessionId: session.id, clientId: client.clientId, scope, now, ttlSeconds });
    });
    return bearerResponse(accessToken, { scope });
  },
};
