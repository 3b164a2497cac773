/**
 * authorization_code (RFC 6749 §4.1.3, RFC 7636 §4.6): redeems a code from the authorize endpoint
 * for an access token (and a refresh token when the client's policy allows), starting the session
 * (device) of this grant. Codes are single use: a second redemption fails and ends the session
 * created by the first (§4.1.2: "SHOULD revoke (when possible) all tokens previously issued based on
 * that authorization code").
 */
import { hashSecret } from '../crypto/random.ts';
import { isPublicClient } from '../domain/client.ts';
import { assertThat, invalidGrant, invalidRequest } from '../domain/errors.ts';
import { checkToken } from '../domain/token-format.ts';
import { retryOnConflict } from '../services/retry.ts';
import { accessTokenTtlFor, issueAccessToken, issueRefreshToken, mayIssueRefreshToken } from '../services/tokens.ts';
import type { AuthorizationCodeRecord } from '../storage/repositories.ts';
import { verifyPkce } from './pkce.ts';
import { bearerResponse } from './response.ts';
import type { GrantDeps, GrantHandler } from './types.ts';

const INVALID_CODE = 'The authorization code is invalid, expired, already used or was issued to another client.';

/** Thrown inside the transaction when another request redeemed the code first; rolls it back. */
class AlreadyRedeemed extends Error {}

/**
 * RFC 6749 §4.1.3: "ensure that the redirect_uri parameter is present if the redirect_uri parameter
 * was included in the initial authorization request ..., and if included ensure that their values
 * are identical." A redirect_uri sent when none was in the request must still be the one used.
 */
function checkRedirectUri(code: AuthorizationCodeRecord, sent: string | undefined): void {
  if (code.redirectUriSent) {
    assertThat(sent !== undefined, () => invalidGrant('redirect_uri is required: it was part of the authorization request (RFC 6749 §4.1.3).'));
  }
  if (sent !== undefined && sent !== code.redirectUri) throw invalidGrant('redirect_uri does not match the authorization request (RFC 6749 §4.1.3).');
}

/** §4.1.2: a code presented again revokes what its first redemption issued. */
async function revokeFirstRedemption(
  deps: Pick<GrantDeps, 'storage' | 'sessions'>,
  code: AuthorizationCodeRecord & { hash: Buffer },
  now: number,
): Promise<void> {
  const current = code.sessionId === null ? await deps.storage.authorizationCodes.findByHash(code.hash) : code;
  const sessionId = current?.sessionId;
  if (sessionId === null || sessionId === undefined) return;
  await retryOnConflict(() =>
    deps.storage.transaction(async (repos) => {
      const session = await repos.sessions.lookup(sessionId);
      if (session) await deps.sessions.end(repos, session, 'code_replay', now);
    }),
  );
}

export const authorizationCodeGrant: GrantHandler<'storage' | 'lifetimes' | 'sessions' | 'idTokens'> = {
  grantType: 'authorization_code',
  parameters: ['code', 'redirect_uri', 'code_verifier'],
  clientAuth: 'any',

  async handle({ client, params, now }, deps) {
    const presented = params.get('code');
    if (presented === undefined) throw invalidRequest('code is required.');
    // The checksum rejects garbage before any database read (docs/architecture.md §3).
    if (checkToken(presented) !== 'ac') throw invalidGrant(INVALID_CODE);
    const hash = hashSecret(presented);
    const found = await deps.storage.authorizationCodes.findByHash(hash);
    if (!found) throw invalidGrant(INVALID_CODE);
    const code = { ...found, hash };
    // §4.1.3: "ensure that the authorization code was issued to the authenticated confidential client,
    // or if the client is public, ensure that the code was issued to client_id in the request".
    if (code.clientId !== client.clientId) throw invalidGrant(INVALID_CODE);
    if (code.consumedAt !== null) {
      await revokeFirstRedemption(deps, code, now);
      throw invalidGrant(INVALID_CODE);
    }
    if (code.expiresAt <= now) throw invalidGrant(INVALID_CODE);
    checkRedirectUri(code, params.get('redirect_uri'));
    verifyPkce(code, params.get('code_verifier'), isPublicClient(client));
    const user = await deps.storage.users.lookup(code.userId);
    if (!user || user.deactivatedAt !== null) throw invalidGrant('The user who authorized this code is no longer active.');

    const withRefresh = mayIssueRefreshToken(client, code.scope);
    const ttlSeconds = accessTokenTtlFor(client, deps.lifetimes);
    const redeem = () =>
      deps.storage.transaction(async (repos) => {
        const session = await deps.sessions.start(repos, {
          userId: code.userId,
          clientId: client.clientId,
          browserSessionId: code.browserSessionId,
          scope: code.scope,
          authTime: code.authTime,
          amr: code.amr,
          acr: code.acr,
          now,
        });
        // Guarded single use: of two concurrent redemptions exactly one gets here with `true`.
        if (!(await repos.authorizationCodes.consume(code.id, session.id, now))) throw new AlreadyRedeemed();
        const accessToken = await issueAccessToken(repos, { sessionId: session.id, clientId: client.clientId, scope: code.scope, now, ttlSeconds });
        const refreshToken = withRefresh
          ? await issueRefreshToken(repos, {
              sessionId: session.id,
              accessTokenId: accessToken.record.id,
              scope: code.scope,
              now,
              ttlSeconds: deps.lifetimes.refreshTokenTtl,
            })
          : undefined;
        return { session, accessToken, refreshToken };
      });
    let issued: Awaited<ReturnType<typeof redeem>>;
    try {
      issued = await retryOnConflict(redeem);
    } catch (err) {
      if (!(err instanceof AlreadyRedeemed)) throw err;
      await revokeFirstRedemption(deps, { ...code, sessionId: null }, now);
      throw invalidGrant(INVALID_CODE);
    }

    // OIDC Core §3.1.3.3: an ID token when openid was granted (signing happens after the commit, off the connection).
    const idToken =
      deps.idTokens && code.scope.includes('openid')
        ? await deps.idTokens.mint({
            client,
            session: issued.session,
            user,
            nonce: code.nonce,
            accessToken: issued.accessToken.token,
            authTime: code.authTime,
            amr: code.amr,
            acr: code.acr,
          })
        : undefined;
    return bearerResponse(issued.accessToken, { scope: code.scope, refreshToken: issued.refreshToken?.token, idToken });
  },
};
