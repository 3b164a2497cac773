/**
 * Token revocation (RFC 7009). Revoking an access token revokes that token; revoking a refresh token
 * ends its session (docs/architecture.md §3), which revokes every access and refresh token of the session
 * ("SHOULD also invalidate all access tokens based on the same authorization grant", §2.1).
 *
 * The answer is 200 whatever happened (§2.2: "invalid tokens do not cause an error response"):
 * unknown and malformed tokens, tokens of other kinds, and tokens issued to another client (revoked
 * only by their own client; answering alike means a client cannot probe whether someone else's
 * token exists). `token_type_hint` is not needed: the prefix identifies the type, and unknown hints
 * are ignored (§2.1), so `unsupported_token_type` never applies.
 */
import { tokenKey } from '../crypto/random.ts';
import type { Client } from '../domain/client.ts';
import type { Clock } from '../domain/clock.ts';
import { checkToken } from '../domain/token-format.ts';
import type { Storage } from '../storage/repositories.ts';
import { retryOnConflict } from './retry.ts';
import type { SessionService } from './sessions.ts';

export interface RevocationDeps {
  storage: Pick<Storage, 'accessTokens' | 'refreshTokens' | 'sessions' | 'transaction'>;
  sessions: Pick<SessionService, 'end'>;
  clock: Clock;
}

export type RevocationResult = 'revoked' | 'ignored';

export async function revokeToken(deps: RevocationDeps, caller: Pick<Client, 'clientId'>, token: string): Promise<RevocationResult> {
  const kind = checkToken(token);
  const now = deps.clock();
  if (kind === 'at') {
    const t = await deps.storage.accessTokens.findByHash(tokenKey(kind, token));
    if (!t || t.clientId !== caller.clientId) return 'ignored';
    return (await deps.storage.accessTokens.revoke(t.id, now)) ? 'revoked' : 'ignored';
  }
  if (kind === 'rt') {
    const t = await deps.storage.refreshTokens.findByHash(tokenKey(kind, token));
    if (!t) return 'ignored';
    const session = await deps.storage.sessions.lookup(t.sessionId);
    if (!session || session.clientId !== caller.clientId) return 'ignored';
    const ended = await retryOnConflict(() => deps.storage.transaction((repos) => deps.sessions.end(repos, session, 'revoked', now)));
    return ended ? 'revoked' : 'ignored';
  }
  return 'ignored';
}
