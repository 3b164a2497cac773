/**
 * ID tokens (OIDC Core §2, §3.1.3.6, §12.2): minted for the code and refresh grants when `openid`
 * was granted, and verified again when a relying party sends one back as `id_token_hint`.
 */
import { createHash } from 'node:crypto';
import { compactVerify, createLocalJWKSet, type JSONWebKeySet, SignJWT } from 'jose';
import type { KeyStore, SigningAlg } from '../crypto/keys.ts';
import type { Client } from '../domain/client.ts';
import type { Clock } from '../domain/clock.ts';
import type { User } from '../domain/user.ts';
import type { Session } from '../storage/repositories.ts';

/** What the code and refresh grants pass (structurally A's `IdTokenMinter` port in grants/types.ts). */
export interface IdTokenRequest {
  client: Pick<Client, 'clientId' | 'metadata'>;
  /** The session (device) the tokens belong to: `sid`, and `sub` through its user. */
  session: Pick<Session, 'sid' | 'userId'>;
  user?: Pick<User, 'id'> | undefined;
  /**
   * The authorization request's nonce: echoed by the code grant (§2: "passed through unmodified from
   * the Authentication Request"), null on refresh (§12.2 as clarified by the errata: a refresh is not
   * an authentication request, so there is nothing for a nonce to bind).
   */
  nonce?: string | null | undefined;
  /** The access token issued alongside: its hash becomes `at_hash` (§3.1.3.6). */
  accessToken?: string | undefined;
  /** An authorization code issued alongside (hybrid flows only): its hash becomes `c_hash` (§3.3.2.11). */
  code?: string | undefined;
  /** ms; the original authentication, also on refresh (§12.2). */
  authTime: number | null;
  amr: string[] | null;
  acr: string | null;
}

export interface MintedIdToken {
  idToken: string;
  /** ms */
  expiresAt: number;
}

/**
 * §3.1.3.6 at_hash / §3.3.2.11 c_hash: "the base64url encoding of the left-most half of the hash
 * of the octets of the ASCII representation" of the value, with the hash of the JWS `alg` (SHA-256
 * for RS256 and ES256).
 */
export function halfHash(value: string, _alg: SigningAlg): string {
  const digest = createHash('sha256').update(value, 'ascii').digest();
  return digest.subarray(0, digest.length / 2).toString('base64url');
}

/** The client's `id_token_signed_response_alg` (OIDC Registration §2), RS256 by default (Discovery §3 requires it). */
export function idTokenAlg(client: Pick<Client, 'metadata'>): SigningAlg {
  return client.metadata.id_token_signed_response_alg === 'ES256' ? 'ES256' : 'RS256';
}

export interface IdTokenHint {
  sub: string;
  /** Every audience of the token (its client ids). */
  aud: string[];
  sid: string | undefined;
  /** seconds */
  exp: number;
}

export type HintResult = { ok: true; hint: IdTokenHint } | { ok: false; reason: string };

export class IdTokenService {
  constructor(
    private readonly deps: {
      issuer: string;
      keys: Pick<KeyStore, 'signingKey' | 'jwks'>;
      clock: Clock;
      /** seconds (`tokens.idTokenTtl`) */
      ttlSeconds: number;
    },
  ) {}

  /** Mints an ID token (OIDC Core §2): the grants' `IdTokenMinter` port. */
  async mint(request: IdTokenRequest): Promise<string> {
    return (await this.mintWithExpiry(request)).idToken;
  }

  /** Only for sessions with a user: an ID token asserts an End-User authentication. */
  async mintWithExpiry(request: IdTokenRequest): Promise<MintedIdToken> {
    const { client, session } = request;
    const sub = request.user?.id ?? session.userId;
    if (!sub) throw new Error('an ID token needs a user; client_credentials sessions have none');
    const alg = idTokenAlg(client);
    const key = await this.deps.keys.signingKey(alg);
    const iat = Math.floor(this.deps.clock() / 1000);
    const exp = iat + this.deps.ttlSeconds;
    const claims: Record<string, unknown> = {};
    // §2 auth_time: "Time when the End-User authentication occurred" — the original one, also on refresh (§12.2).
    if (request.authTime !== null) claims.auth_time = Math.floor(request.authTime / 1000);
    if (request.nonce) claims.nonce = request.nonce;
    if (request.acr) claims.acr = request.acr;
    if (request.amr?.length) claims.amr = request.amr;
    // Back-Channel Logout §2.1 / Front-Channel Logout §3: `sid` names the session at the OP; logout tokens carry the same value.
    claims.sid = session.sid;
    if (request.accessToken) claims.at_hash = halfHash(request.accessToken, alg);
    if (request.code) claims.c_hash = halfHash(request.code, alg);
    const idToken = await new SignJWT(claims)
      .setProtectedHeader({ alg, kid: key.kid, typ: 'JWT' })
      .setIssuer(this.deps.issuer)
      // §2 sub: "A locally unique and never reassigned identifier" — the user id, the same in every ID token and in userinfo.
      .setSubject(sub)
      // §2 aud: "It MUST contain the OAuth 2.0 client_id of the Relying Party"; a single audience, so no azp.
      .setAudience(client.clientId)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .sign(key.privateKey);
    return { idToken, expiresAt: exp * 1000 };
  }

  /**
   * Checks an `id_token_hint` (OIDC Core §3.1.2.1, RP-Initiated Logout §2): an ID token this server
   * signed with a key it still publishes, for this issuer. It may have expired: RP-Initiated Logout
   * §2 says the OP "SHOULD accept ID Tokens ... even when the exp time has passed"; `expiredGraceMs`
   * bounds how long after (`Infinity` for no bound). Logout tokens are refused (they carry `events`).
   */
  async verifyHint(token: string, options: { expiredGraceMs: number }): Promise<HintResult> {
    if (token.length > 8192) return { ok: false, reason: 'too long' };
    let payload: Record<string, unknown>;
    try {
      const jwks = createLocalJWKSet((await this.deps.keys.jwks()) as JSONWebKeySet);
      const verified = await compactVerify(token, jwks, { algorithms: ['RS256', 'ES256'] });
      const typ = verified.protectedHeader.typ;
      if (typ !== undefined && !/^(JWT|application\/jwt)$/i.test(typ)) return { ok: false, reason: `typ ${typ}` };
      payload = JSON.parse(new TextDecoder().decode(verified.payload));
    } catch {
      return { ok: false, reason: 'signature does not verify with a published key' };
    }
    if (payload.iss !== this.deps.issuer) return { ok: false, reason: 'other issuer' };
    if (payload.events !== undefined) return { ok: false, reason: 'a logout token, not an ID token' };
    const aud = (Array.isArray(payload.aud) ? payload.aud : [payload.aud]).filter((a): a is string => typeof a === 'string');
    if (typeof payload.sub !== 'string' || aud.length === 0 || typeof payload.exp !== 'number') return { ok: false, reason: 'missing claims' };
    if (payload.exp * 1000 + options.expiredGraceMs <= this.deps.clock()) return { ok: false, reason: 'expired' };
    return { ok: true, hint: { sub: payload.sub, aud, sid: typeof payload.sid === 'string' ? payload.sid : undefined, exp: payload.exp } };
  }
}
