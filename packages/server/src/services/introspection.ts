/**
 * Token introspection (RFC 7662). The token's prefix says what it is (docs/architecture.md §3), and the
 * checksum rejects garbage before any database read; an access token is answered from one point
 * query that joins its session and user (the hot path, docs/architecture.md §8).
 *
 * Everything that is not a live token of the caller's own gives exactly `{"active":false}` (§2.2):
 * unknown, malformed, expired, revoked, consumed (refresh), its session finished, its user
 * deactivated, or issued to another client when the caller is not allowed to introspect those
 * (§4: "the authorization server MAY respond differently to different protected resources").
 */
import { tokenJti, tokenKey } from '../crypto/random.ts';
import type { Client } from '../domain/client.ts';
import type { Clock } from '../domain/clock.ts';
import { formatScope } from '../domain/scope.ts';
import { checkToken } from '../domain/token-format.ts';
import type { AccessTokenRepository, RefreshTokenRepository, SessionRepository, UserRepository } from '../storage/repositories.ts';

export interface InactiveToken {
  active: false;
}

/** RFC 7662 §2.2 members (docs/architecture.md §6), plus `sid` and `device_id`. */
export interface ActiveToken {
  active: true;
  scope: string;
  client_id: string;
  /** The user; for client_credentials the client itself (as RFC 9068 §2.2 recommends for JWTs). */
  sub: string;
  username?: string;
  /** `Bearer` for access tokens (RFC 6749 §7.1 token type), `refresh_token` for refresh tokens. */
  token_type: 'Bearer' | 'refresh_token';
  exp: number;
  iat: number;
  iss: string;
  jti: string;
  sid: string;
  device_id: string;
}

export type IntrospectionResponse = InactiveToken | ActiveToken;

export interface IntrospectionDeps {
  accessTokens: Pick<AccessTokenRepository, 'findByHash'>;
  refreshTokens: Pick<RefreshTokenRepository, 'findByHash'>;
  sessions: Pick<SessionRepository, 'lookup'>;
  users: Pick<UserRepository, 'lookup'>;
  issuer: string;
  clock: Clock;
}

const INACTIVE: InactiveToken = Object.freeze({ active: false });
const seconds = (ms: number) => Math.floor(ms / 1000);

/** May `caller` see tokens issued to `owner`? */
const mayIntrospect = (caller: Pick<Client, 'clientId' | 'introspectAnyToken'>, owner: string) => owner === caller.clientId || caller.introspectAnyToken;

/**
 * `token_type_hint` is not needed: the prefix identifies the type, which also satisfies §2.1 ("If
 * the server is unable to locate the token using the given hint, it MUST extend its search").
 */
export async function introspect(
  deps: IntrospectionDeps,
  caller: Pick<Client, 'clientId' | 'introspectAnyToken'>,
  token: string,
): Promise<IntrospectionResponse> {
  const kind = checkToken(token);
  if (kind === 'at') return introspectAccessToken(deps, caller, token);
  if (kind === 'rt') return introspectRefreshToken(deps, caller, token);
  return INACTIVE;
}

async function introspectAccessToken(
  deps: IntrospectionDeps,
  caller: Pick<Client, 'clientId' | 'introspectAnyToken'>,
  token: string,
): Promise<IntrospectionResponse> {
  const key = tokenKey('at', token);
  const t = await deps.accessTokens.findByHash(key);
  if (!t || !mayIntrospect(caller, t.clientId)) return INACTIVE;
  if (t.revokedAt !== null || t.sessionFinishedAt !== null || t.userDeactivatedAt !== null || t.expiresAt <= deps.clock()) return INACTIVE;
  return {
    active: true,
    scope: formatScope(t.scope),
    client_id: t.clientId,
    sub: t.userId ?? t.clientId,
    ...(t.username !== null ? { username: t.username } : {}),
    token_type: 'Bearer',
    exp: seconds(t.expiresAt),
    iat: seconds(t.createdAt),
    iss: deps.issuer,
    jti: tokenJti('at', key),
    sid: t.sid,
    device_id: t.deviceId,
  };
}

async function introspectRefreshToken(
  deps: IntrospectionDeps,
  caller: Pick<Client, 'clientId' | 'introspectAnyToken'>,
  token: string,
): Promise<IntrospectionResponse> {
  const key = tokenKey('rt', token);
  const t = await deps.refreshTokens.findByHash(key);
  if (!t || t.revokedAt !== null || t.consumedAt !== null || t.expiresAt <= deps.clock()) return INACTIVE;
  const session = await deps.sessions.lookup(t.sessionId);
  if (!session || session.finishedAt !== null || !mayIntrospect(caller, session.clientId)) return INACTIVE;
  let username: string | undefined;
  if (session.userId !== null) {
    const user = await deps.users.lookup(session.userId);
    if (!user || user.deactivatedAt !== null) return INACTIVE;
    username = user.username;
  }
  return {
    active: true,
    scope: formatScope(t.scope),
    client_id: session.clientId,
    sub: session.userId ?? session.clientId,
    ...(username !== undefined ? { username } : {}),
    token_type: 'refresh_token',
    exp: seconds(t.expiresAt),
    iat: seconds(t.createdAt),
    iss: deps.issuer,
    jti: tokenJti('rt', key),
    sid: session.sid,
    device_id: session.deviceId,
  };
}
