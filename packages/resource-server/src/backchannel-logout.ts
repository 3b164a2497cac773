/**
 * OpenID Connect Back-Channel Logout 1.0 receiver, for an API that is also an OIDC client of Latch
 * (its `backchannel_logout_uri`): validates the logout token as §2.6 says, evicts the session's
 * cached tokens (by `sid`, or every token of `sub` when the token names no session), reports it,
 * and answers 200 (§2.8) or 400 with an OAuth-style error body.
 */
import type { SessionEnded } from './effects.ts';
import { AuthorityUnavailableError } from './errors.ts';
import { isObject } from './http.ts';
import type { Introspector } from './introspector.ts';
import { SetError, verifySignedJwt } from './ssf/set-verifier.ts';
import { MemoryReplayGuard, type ReplayGuard } from './store.ts';

export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

export interface BackchannelLogoutOptions {
  introspector: Introspector;
  /** The client the logout tokens are addressed to (`aud`); default the introspector's client. */
  clientId?: string;
  onSessionEnded?: (event: SessionEnded) => void | Promise<void>;
  /** Oldest logout token accepted, by `iat` (default 2 min, as §4 suggests for their lifetime). */
  maxAgeMs?: number;
  clockSkewMs?: number;
  replay?: ReplayGuard;
  onError?: (err: unknown) => void;
}

export interface LogoutRequest {
  contentType: string | undefined;
  body: string | Buffer;
}

export interface LogoutReply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

const MAX_BODY_BYTES = 64 * 1024;

export class BackchannelLogoutReceiver {
  private readonly replay: ReplayGuard;

  constructor(private readonly options: BackchannelLogoutOptions) {
    this.replay = options.replay ?? options.introspector.store ?? new MemoryReplayGuard(options.introspector.authority.clock);
  }

  async handle(req: LogoutRequest): Promise<LogoutReply> {
    const metrics = this.options.introspector.metrics;
    const body = typeof req.body === 'string' ? req.body : req.body.toString('utf8');
    // §2.5: a form POST with one `logout_token` parameter.
    if (req.contentType?.split(';')[0]?.trim().toLowerCase() !== 'application/x-www-form-urlencoded' || Buffer.byteLength(body) > MAX_BODY_BYTES) {
      return reply(400, 'invalid_request', 'Expected an application/x-www-form-urlencoded body with logout_token.');
    }
    const token = new URLSearchParams(body).get('logout_token');
    if (!token) return reply(400, 'invalid_request', 'logout_token is required.');
    let ended: Omit<SessionEnded, 'eventId'> & { jti: string };
    try {
      ended = await this.validate(token);
    } catch (err) {
      if (err instanceof SetError) {
        metrics.event?.('backchannel-logout', 'rejected');
        return reply(400, 'invalid_request', `Invalid logout token: ${err.message}.`);
      }
      metrics.event?.('backchannel-logout', 'failed');
      this.options.onError?.(err);
      return { status: 503, headers: { 'retry-after': '5', 'cache-control': 'no-store' }, body: '' };
    }
    const { jti, ...rest } = ended;
    // §2.6 step 10: a jti seen before may be refused.
    if (!(await this.replay.claim(jti, (this.options.maxAgeMs ?? 120_000) + (this.options.clockSkewMs ?? 60_000)))) {
      metrics.event?.('backchannel-logout', 'duplicate');
      return reply(400, 'invalid_request', 'This logout token was already received.');
    }
    try {
      if (rest.sid !== undefined) await this.options.introspector.revoke('sid', rest.sid);
      else await this.options.introspector.revoke('sub', rest.sub as string);
      await this.options.onSessionEnded?.({ ...rest, eventId: jti });
    } catch (err) {
      await this.replay.release(jti);
      metrics.event?.('backchannel-logout', 'failed');
      this.options.onError?.(err);
      // §2.8: "If the logout failed, the RP MUST respond with 400"; Latch retries until its attempts run out.
      return reply(400, 'logout_failed', 'The logout could not be completed.');
    }
    metrics.event?.('backchannel-logout', 'applied');
    return { status: 200, headers: { 'cache-control': 'no-store' }, body: '' };
  }

  /** §2.6 steps 1–9 (the JWS, iss, aud, iat, typ; events; sid or sub; no nonce). */
  private async validate(token: string): Promise<Omit<SessionEnded, 'eventId'> & { jti: string }> {
    const authority = this.options.introspector.authority;
    const jwksUri = await authority.endpoint('jwks_uri');
    const { payload } = await verifySignedJwt(token, {
      keys: authority.jwks(jwksUri),
      issuer: authority.issuer,
      audience: this.options.clientId ?? authority.clientId,
      now: authority.clock(),
      maxAgeMs: this.options.maxAgeMs ?? 120_000,
      clockSkewMs: this.options.clockSkewMs ?? 60_000,
      // §2.4: logout tokens are typed logout+jwt, which also keeps ID tokens from passing as one.
      typ: 'logout+jwt',
    }).catch((err) => {
      if (err instanceof AuthorityUnavailableError) throw err;
      throw err instanceof SetError ? err : new SetError('invalid_request', String(err));
    });
    if (!isObject(payload.events) || !isObject(payload.events[BACKCHANNEL_LOGOUT_EVENT])) {
      throw new SetError('invalid_request', `events must contain ${BACKCHANNEL_LOGOUT_EVENT}`);
    }
    if ('nonce' in payload) throw new SetError('invalid_request', 'a logout token must not contain a nonce');
    const sid = typeof payload.sid === 'string' && payload.sid !== '' ? payload.sid : undefined;
    const sub = typeof payload.sub === 'string' && payload.sub !== '' ? payload.sub : undefined;
    if (sid === undefined && sub === undefined) throw new SetError('invalid_request', 'a logout token must contain sid or sub');
    return {
      jti: payload.jti as string,
      sub,
      sid,
      // Logout tokens do not name the device; an API keyed by device finds it through the sid.
      deviceId: undefined,
      deviceKey: undefined,
      clientId: this.options.clientId ?? authority.clientId,
      reason: 'backchannel-logout',
      initiatingEntity: undefined,
      reasonAdmin: undefined,
      reasonUser: undefined,
    };
  }
}

function reply(status: number, error: string, description: string): LogoutReply {
  return {
    status,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
    body: JSON.stringify({ error, error_description: description }),
  };
}

export function createBackchannelLogoutReceiver(options: BackchannelLogoutOptions): BackchannelLogoutReceiver {
  return new BackchannelLogoutReceiver(options);
}
