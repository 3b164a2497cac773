/**
 * OpenID Connect Back-Channel Logout 1.0. When a session ends — for whatever reason — and its
 * client registered a `backchannel_logout_uri` (§2.2), a logout token is queued in the outbox in
 * the same transaction that ends the session (docs/architecture.md §4), so it is sent exactly when the end is
 * committed and survives restarts and receiver outages.
 *
 * The token is signed at delivery time, not at enqueue time: §4 asks for short-lived logout tokens
 * ("preferably at most two minutes in the future"), and a token signed before a receiver outage
 * would arrive expired. Every attempt carries a freshly signed token with the SAME `jti`, so a
 * receiver that got an earlier attempt recognizes the repeat (§2.6 step 10 lets it reject a jti it
 * has seen; either answer is fine for us, see okStatuses).
 */
import { SignJWT } from 'jose';
import type { KeyStore, SigningAlg } from '../crypto/keys.ts';
import { randomId } from '../crypto/random.ts';
import type { Clock } from '../domain/clock.ts';
import type { EventRenderer } from '../events/dispatcher.ts';
import type { FinishReason, Repositories, Session } from '../storage/repositories.ts';
import { idTokenAlg } from './id-token.ts';

export const BACKCHANNEL_LOGOUT_KIND = 'oidc.backchannel_logout';
/** §2.4 `events`: the member that makes a JWT a logout token. */
export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
/** §4: "preferably at most two minutes in the future". */
export const LOGOUT_TOKEN_TTL_SECONDS = 120;

/** What the outbox row holds (no secret: the token is made at delivery time). */
export interface LogoutTokenPayload {
  clientId: string;
  sub: string;
  sid: string;
  jti: string;
  alg: SigningAlg;
  reason: FinishReason;
}

/**
 * Queues logout tokens for ended sessions. Called by the session service inside the transaction that
 * finishes a session (`SessionEvents.sessionFinished`), with that transaction's repositories.
 */
export class BackchannelLogout {
  constructor(private readonly options: { onEnqueued?: () => void } = {}) {}

  async sessionFinished(repos: Pick<Repositories, 'clients' | 'outbox'>, session: Session, reason: FinishReason, now: number): Promise<void> {
    // Only sessions with an End-User were ever announced to the RP (client_credentials sessions have no `sub`).
    if (!session.userId) return;
    const client = await repos.clients.lookup(session.clientId);
    const uri = client?.metadata.backchannel_logout_uri;
    if (!client || !uri) return;
    const payload: LogoutTokenPayload = {
      clientId: client.clientId,
      sub: session.userId,
      // §2.4: "A Logout Token MUST contain either a sub or a sid Claim, and MAY contain both." Latch
      // always sends both: sid names exactly the session that ended (what backchannel_logout_session_required
      // asks for), sub lets RPs that do not track sids log the user out.
      sid: session.sid,
      jti: randomId(24),
      alg: idTokenAlg(client),
      reason,
    };
    // One logout per session: the dedupe key makes a repeated call a no-op.
    await repos.outbox.enqueue({
      kind: BACKCHANNEL_LOGOUT_KIND,
      target: uri,
      payload: payload as unknown as Record<string, unknown>,
      dedupeKey: `bcl:${session.sid}`,
      now,
    });
    this.options.onEnqueued?.();
  }
}

/** Signs the logout token and builds the §2.5 request: a form POST with `logout_token`. */
export function logoutTokenRenderer(deps: { issuer: string; keys: Pick<KeyStore, 'signingKey'>; clock: Clock }): EventRenderer {
  return async (event) => {
    const p = event.payload as unknown as LogoutTokenPayload;
    const key = await deps.keys.signingKey(p.alg);
    const iat = Math.floor(deps.clock() / 1000);
    const token = await new SignJWT({ sid: p.sid, events: { [BACKCHANNEL_LOGOUT_EVENT]: {} } })
      // §2.4: "Logout Tokens SHOULD be explicitly typed ... using the typ header value logout+jwt".
      .setProtectedHeader({ alg: p.alg, kid: key.kid, typ: 'logout+jwt' })
      .setIssuer(deps.issuer)
      .setAudience(p.clientId)
      .setSubject(p.sub)
      .setIssuedAt(iat)
      .setExpirationTime(iat + LOGOUT_TOKEN_TTL_SECONDS)
      .setJti(p.jti)
      // §2.4: "A nonce Claim MUST NOT be present" — none is ever set.
      .sign(key.privateKey);
    return {
      url: event.target,
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'cache-control': 'no-store' },
      body: new URLSearchParams({ logout_token: token }).toString(),
      // §2.8: "If the logout succeeded, the RP MUST respond with HTTP 200 OK", and 204 is to be
      // accepted as well since some frameworks send it; anything else (including the 400 for a
      // failed logout) is retried until the attempts run out.
      okStatuses: [200, 204],
    };
  };
}
