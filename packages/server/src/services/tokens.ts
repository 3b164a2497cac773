/**
 * Minting access and refresh tokens (docs/architecture.md §3): opaque `lat_at_…` / `lat_rt_…` strings from
 * crypto/random.ts; only their SHA-256 reaches the database (fosite's "store signatures, not tokens").
 */
import { mintToken, type Random, systemRandom } from '../crypto/random.ts';
import type { Client } from '../domain/client.ts';
import type { AccessTokenRecord, RefreshTokenRecord, Repositories } from '../storage/repositories.ts';

export interface TokenLifetimes {
  /** Default access token lifetime in seconds (config `tokens.accessTokenTtl`). */
  accessTokenTtl: number;
  /** Refresh token lifetime in seconds; each rotation starts a new one (config `tokens.refreshTokenTtl`). */
  refreshTokenTtl: number;
}

/** Access token lifetime in seconds: the client's own, else the configured default (5 minutes). */
export function accessTokenTtlFor(client: Pick<Client, 'accessTokenTtl'>, lifetimes: TokenLifetimes): number {
  return client.accessTokenTtl ?? lifetimes.accessTokenTtl;
}

/**
 * Whether a user grant gets a refresh token: the client must have the refresh_token grant type
 * (RFC 7591 §2) and its Latch `refresh_token_policy` must allow it; `offline_access` issues one only
 * when that scope was granted (OIDC Core §11).
 */
export function mayIssueRefreshToken(client: Pick<Client, 'metadata' | 'refreshTokenPolicy'>, scope: readonly string[]): boolean {
  if (!client.metadata.grant_types.includes('refresh_token')) return false;
  switch (client.refreshTokenPolicy) {
    case 'never':
      return false;
    case 'offline_access':
      return scope.includes('offline_access');
    default:
      return true;
  }
}

export interface IssuedAccessToken {
  token: string;
  record: AccessTokenRecord;
  /** Seconds, for `expires_in` (RFC 6749 §5.1). */
  expiresIn: number;
}

export async function issueAccessToken(
  repos: Pick<Repositories, 'accessTokens'>,
  input: { sessionId: number; clientId: string; scope: string[]; now: number; ttlSeconds: number },
  random: Random = systemRandom,
): Promise<IssuedAccessToken> {
  const minted = mintToken('at', random, input.now);
  const record = await repos.accessTokens.add({
    hash: minted.hash,
    sessionId: input.sessionId,
    clientId: input.clientId,
    scope: input.scope,
    createdAt: input.now,
    expiresAt: input.now + input.ttlSeconds * 1000,
  });
  return { token: minted.token, record, expiresIn: input.ttlSeconds };
}

export interface IssuedRefreshToken {
  token: string;
  record: RefreshTokenRecord;
}

export async function issueRefreshToken(
  repos: Pick<Repositories, 'refreshTokens'>,
  input: { sessionId: number; accessTokenId: number | null; scope: string[]; now: number; ttlSeconds: number },
  random: Random = systemRandom,
): Promise<IssuedRefreshToken> {
  const minted = mintToken('rt', random, input.now);
  const record = await repos.refreshTokens.add({
    hash: minted.hash,
    sessionId: input.sessionId,
    accessTokenId: input.accessTokenId,
    scope: input.scope,
    createdAt: input.now,
    expiresAt: input.now + input.ttlSeconds * 1000,
  });
  return { token: minted.token, record };
}
