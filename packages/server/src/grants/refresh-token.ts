/**
 * refresh_token (RFC 6749 §6) with rotation exactly as docs/architecture.md §3:
 * - every use consumes the token and issues a successor (a new pair);
 * - a consumed token whose successor was never used may be presented again (the client lost the
 *   response): it yields a fresh pair and the unused successor dies;
 * - a consumed token whose successor was used is a replay: the whole session ends. So does
 *   presenting a successor that died that way: someone held it, so the response was not lost;
 * - concurrent refreshes of one token never produce two live families: every transition is a
 *   guarded UPDATE inside the transaction whose affected-row count decides the winner (fosite's
 *   flow_refresh.go; the race MAS and older Hydra left open). The loser gets invalid_grant.
 * Scope may be narrowed for the access token (§6), never widened; the new refresh token keeps the
 * original scope ("MUST be identical to that of the refresh token included by the client").
 */
import { tokenKey } from '../crypto/random.ts';
import { invalidGrant, invalidRequest, invalidScope } from '../domain/errors.ts';
import { isSubset, parseScope } from '../domain/scope.ts';
import { checkToken } from '../domain/token-format.ts';
import type { User } from '../domain/user.ts';
import { retryOnConflict } from '../services/retry.ts';
import {
  accessTokenTtlFor,
  type IssuedAccessToken,
  type IssuedRefreshToken,
  issueAccessToken,
  issueRefreshToken,
  mayIssueRefreshToken,
} from '../services/tokens.ts';
import type { RefreshTokenRecord, Session } from '../storage/repositories.ts';
import { bearerResponse } from './response.ts';
import type { GrantDeps, GrantHandler } from './types.ts';

const INVALID_TOKEN = 'The refresh token is invalid, expired or revoked.';

/** Another request changed the token first; the transaction rolls back and this request fails. */
class LostRace extends Error {}

type Deps = Pick<GrantDeps, 'storage' | 'lifetimes' | 'sessions' | 'idTokens'>;

interface Rotation {
  kind: 'rotate' | 'replay-lost-response';
  record: RefreshTokenRecord;
  /** For a lost-response retry: the unused successor that dies. */
  successor?: RefreshTokenRecord;
}

/** Ends the session because a refresh token was replayed; commits, then the request fails. */
async function endForReplay(deps: Deps, session: Session, now: number): Promise<never> {
  await retryOnConflict(() => deps.storage.transaction((repos) => deps.sessions.end(repos, session, 'refresh_token_replay', now)));
  throw invalidGrant(INVALID_TOKEN);
}

/** RFC 6749 §6: the requested scope "MUST NOT include any scope not originally granted". */
function narrowedScope(requested: string | undefined, granted: string[]): string[] {
  if (requested === undefined) return granted;
  const asked = parseScope(requested);
  if (asked === undefined) throw invalidScope('scope must be space-separated scope tokens (RFC 6749 §3.3).');
  if (asked.length === 0) return granted;
  if (!isSubset(asked, granted)) throw invalidScope('The requested scope exceeds the scope originally granted (RFC 6749 §6).');
  return asked;
}

export const refreshTokenGrant: GrantHandler<'storage' | 'lifetimes' | 'sessions' | 'idTokens'> = {
  grantType: 'refresh_token',
  parameters: ['refresh_token', 'scope'],
  // Public clients may refresh: possession of the (rotating, sender-bound-by-session) token is the proof.
  clientAuth: 'any',

  async handle({ client, params, now }, deps) {
    const presented = params.get('refresh_token');
    if (presented === undefined) throw invalidRequest('refresh_token is required.');
    if (checkToken(presented) !== 'rt') throw invalidGrant(INVALID_TOKEN);
    const record = await deps.storage.refreshTokens.findByHash(tokenKey('rt', presented));
    if (!record) throw invalidGrant(INVALID_TOKEN);
    const session = await deps.storage.sessions.lookup(record.sessionId);
    // §6: "validate the refresh token ... and ensure that the refresh token was issued to the authenticated client".
    if (!session || session.clientId !== client.clientId) throw invalidGrant(INVALID_TOKEN);
    if (session.finishedAt !== null || record.expiresAt <= now) throw invalidGrant(INVALID_TOKEN);
    let user: User | undefined;
    if (session.userId !== null) {
      user = await deps.storage.users.lookup(session.userId);
      if (!user || user.deactivatedAt !== null) throw invalidGrant(INVALID_TOKEN);
    }

    // Work out which transition this presentation asks for; replays are detected before anything else can fail.
    let rotation: Rotation;
    if (record.revokedAt !== null) {
      // A revoked token in a live session was superseded by a lost-response retry; its holder exists.
      return endForReplay(deps, session, now);
    } else if (record.consumedAt === null) {
      rotation = { kind: 'rotate', record };
    } else {
      const successor = record.successorId === null ? undefined : await deps.storage.refreshTokens.lookup(record.successorId);
      if (!successor || successor.consumedAt !== null || successor.revokedAt !== null) {
        // The two reads above are not one snapshot: a concurrent lost-response retry of this same token
        // may have revoked that successor and pointed this token at a new one in between. That is a
        // lost race, not a replay; only a successor that is still this token's successor proves one.
        const current = await deps.storage.refreshTokens.lookup(record.id);
        if (current && current.successorId !== record.successorId) throw invalidGrant(INVALID_TOKEN);
        return endForReplay(deps, session, now);
      }
      rotation = { kind: 'replay-lost-response', record, successor };
    }
    if (!mayIssueRefreshToken(client, record.scope)) throw invalidGrant('Refresh tokens are no longer issued to this client.');
    const scope = narrowedScope(params.get('scope'), record.scope);

    const ttlSeconds = accessTokenTtlFor(client, deps.lifetimes);
    let issued: { accessToken: IssuedAccessToken; refreshToken: IssuedRefreshToken };
    try {
      issued = await retryOnConflict(() =>
        deps.storage.transaction(async (repos) => {
          const accessToken = await issueAccessToken(repos, { sessionId: session.id, clientId: client.clientId, scope, now, ttlSeconds });
          const refreshToken = await issueRefreshToken(repos, {
            sessionId: session.id,
            accessTokenId: accessToken.record.id,
            scope: record.scope,
            now,
            ttlSeconds: deps.lifetimes.refreshTokenTtl,
          });
          if (rotation.kind === 'rotate') {
            // WHERE consumed_at IS NULL AND revoked_at IS NULL: exactly one concurrent request wins.
            if (!(await repos.refreshTokens.consume(record.id, refreshToken.record.id, now))) throw new LostRace();
          } else {
            const dead = rotation.successor as RefreshTokenRecord;
            // The unused successor dies only while still unused (a concurrent use of it wins instead) ...
            if (!(await repos.refreshTokens.revokeUnused(dead.id, now))) throw new LostRace();
            // ... and the presented token now points at the new pair (guarded by the successor it had).
            if (!(await repos.refreshTokens.replaceSuccessor(record.id, dead.id, refreshToken.record.id))) throw new LostRace();
            if (dead.accessTokenId !== null) await repos.accessTokens.revoke(dead.accessTokenId, now);
          }
          await repos.sessions.touch(session.id, now);
          return { accessToken, refreshToken };
        }),
      );
    } catch (err) {
      if (err instanceof LostRace) throw invalidGrant(INVALID_TOKEN);
      throw err;
    }

    // OIDC Core §12.2: a refreshed ID token keeps auth_time and carries no nonce.
    const idToken =
      deps.idTokens && user && record.scope.includes('openid')
        ? await deps.idTokens.mint({
            client,
            session,
            user,
            nonce: null,
            accessToken: issued.accessToken.token,
            authTime: session.authTime,
            amr: session.amr,
            acr: session.acr,
          })
        : undefined;
    return bearerResponse(issued.accessToken, { scope, refreshToken: issued.refreshToken.token, idToken });
  },
};
