/**
 * The UserInfo endpoint (OIDC Core §5.3): an OAuth 2.0 protected resource that returns claims about
 * the End-User the access token was issued for. The token must be live in every way introspection
 * checks (not revoked, not expired, its session not ended, its user still active) and carry `openid`.
 */

import { tokenKey } from '../crypto/random.ts';
import type { Clock } from '../domain/clock.ts';
import { OAuthError } from '../domain/errors.ts';
import { checkToken } from '../domain/token-format.ts';
import type { Repositories } from '../storage/repositories.ts';
import { userInfoClaims } from './claims.ts';

/** RFC 6750 §3.1 invalid_token: one public description for every reason (the reason is only logged). */
const invalidToken = (detail: string) => new OAuthError('invalid_token', 'The access token is invalid, expired or revoked.', { detail });

export class UserInfoService {
  constructor(private readonly deps: { repos: Pick<Repositories, 'accessTokens' | 'users'>; clock: Clock }) {}

  /** The §5.3.2 response for a presented access token. */
  async claims(accessToken: string): Promise<Record<string, unknown>> {
    // Self-describing tokens: anything that is not a well-formed access token fails before any read.
    if (checkToken(accessToken) !== 'at') throw invalidToken('not a Latch access token');
    const token = await this.deps.repos.accessTokens.findByHash(tokenKey('at', accessToken));
    const now = this.deps.clock();
    if (!token) throw invalidToken('unknown token');
    if (token.revokedAt !== null) throw invalidToken('revoked');
    if (token.expiresAt <= now) throw invalidToken('expired');
    if (token.sessionFinishedAt !== null) throw invalidToken('session ended');
    // client_credentials tokens have no End-User to describe.
    if (!token.userId) throw invalidToken('no user behind this token');
    if (token.userDeactivatedAt !== null) throw invalidToken('user deactivated');
    // OIDC Core §5.3: the token must have been obtained through an OpenID Connect request; RFC 6750 §3.1 insufficient_scope.
    if (!token.scope.includes('openid')) {
      throw new OAuthError('insufficient_scope', 'The access token was not granted the openid scope.', { extra: { status: 403 } });
    }
    const user = await this.deps.repos.users.lookup(token.userId);
    if (!user || user.deactivatedAt !== null) throw invalidToken('user gone');
    return userInfoClaims(user, token.scope);
  }
}
