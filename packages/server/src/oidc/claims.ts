/**
 * Standard claims about the End-User (OIDC Core §5.1) released per scope (§5.4). Pure: no I/O.
 *
 * Where they go: §5.4 says the claims of the `profile`, `email`, `address` and `phone` scopes "are
 * returned from the UserInfo Endpoint ... when a response_type value is used that results in an
 * Access Token being issued", and in the ID token only when no access token is issued. Latch only
 * has response_type=code, which always issues an access token, so these claims are served by
 * userinfo and kept out of ID tokens. That also keeps personal data out of the ID token, which
 * relying parties send back through the browser as `id_token_hint` (in URLs, often logged).
 */
import type { User } from '../domain/user.ts';

/** Claims each scope releases (OIDC Core §5.4), limited to what Latch stores about users. */
export const SCOPE_CLAIMS = {
  profile: ['preferred_username', 'name', 'updated_at'],
  email: ['email', 'email_verified'],
} as const;

/** Every claim this server can put in an ID token or a userinfo response (Discovery `claims_supported`). */
export const CLAIMS_SUPPORTED = [
  'sub',
  'iss',
  'aud',
  'exp',
  'iat',
  'auth_time',
  'nonce',
  'at_hash',
  'sid',
  'amr',
  'acr',
  ...SCOPE_CLAIMS.profile,
  ...SCOPE_CLAIMS.email,
] as const;

/** The scopes OIDC defines that Latch understands (Discovery `scopes_supported`). */
export const OIDC_SCOPES = ['openid', 'profile', 'email'] as const;

/**
 * The userinfo claims (§5.3.2) for `user` under `scope`. `sub` is always present and equals the
 * ID token's `sub` (the user id: stable and opaque). A claim without a value is omitted (§5.3.2:
 * "If a Claim is not returned, that Claim Name SHOULD be omitted ... rather than being present with a null").
 */
export function userInfoClaims(user: User, scope: readonly string[]): Record<string, unknown> {
  const claims: Record<string, unknown> = { sub: user.id };
  if (scope.includes('profile')) {
    claims.preferred_username = user.username;
    if (user.name) claims.name = user.name;
    // §5.1: updated_at is a number of seconds since the epoch.
    claims.updated_at = Math.floor(user.updatedAt / 1000);
  }
  if (scope.includes('email') && user.email) {
    claims.email = user.email;
    claims.email_verified = user.emailVerified;
  }
  return claims;
}
