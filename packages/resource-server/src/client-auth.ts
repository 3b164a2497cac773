/**
 * How the SDK authenticates as a client of Latch (RFC 6749 §2.3, RFC 7523, OIDC Core §9), at the
 * introspection endpoint (RFC 7662 §2.1 requires it) and at the token endpoint for stream
 * management tokens.
 */
import { randomBytes } from 'node:crypto';
import { type CryptoKey, type JWK, type KeyObject, SignJWT } from 'jose';

export type ClientCredentials =
  | { clientId: string; method?: 'client_secret_basic'; clientSecret: string }
  | { clientId: string; method: 'client_secret_post'; clientSecret: string }
  | {
      clientId: string;
      method: 'private_key_jwt';
      /** The private key registered (as its public half) in the client's `jwks` or `jwks_uri`. */
      privateKey: CryptoKey | KeyObject | JWK | Uint8Array;
      /** JWS algorithm of the assertion (default RS256). */
      alg?: string;
      kid?: string;
    };

export const JWT_BEARER_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** RFC 6749 §2.3.1: each half is form-urlencoded before the Basic encoding. */
const formEncode = (value: string) => encodeURIComponent(value).replace(/%20/g, '+');

/**
 * Adds the client's authentication to a request's headers and form parameters. `audience` is the
 * authorization server's issuer identifier, the `aud` RFC 7523 §3 asks an assertion to carry.
 */
export async function authenticateRequest(
  credentials: ClientCredentials,
  audience: string,
  nowMs: number,
): Promise<{ headers: Record<string, string>; params: Record<string, string> }> {
  if (credentials.method === 'client_secret_post') {
    return { headers: {}, params: { client_id: credentials.clientId, client_secret: credentials.clientSecret } };
  }
  if (credentials.method === 'private_key_jwt') {
    const now = Math.floor(nowMs / 1000);
    const alg = credentials.alg ?? 'RS256';
    const assertion = await new SignJWT({})
      .setProtectedHeader({ alg, ...(credentials.kid ? { kid: credentials.kid } : {}) })
      .setIssuer(credentials.clientId)
      .setSubject(credentials.clientId)
      .setAudience(audience)
      .setIssuedAt(now)
      .setExpirationTime(now + 60)
      // Each assertion is used once: the server records its jti (RFC 7523 §3 item 7).
      .setJti(randomBytes(18).toString('base64url'))
      .sign(credentials.privateKey);
    return { headers: {}, params: { client_id: credentials.clientId, client_assertion_type: JWT_BEARER_ASSERTION_TYPE, client_assertion: assertion } };
  }
  const basic = Buffer.from(`${formEncode(credentials.clientId)}:${formEncode(credentials.clientSecret)}`).toString('base64');
  return { headers: { authorization: `Basic ${basic}` }, params: {} };
}
