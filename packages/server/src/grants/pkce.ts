/** PKCE verification at the token endpoint (RFC 7636 §4.5, §4.6). */
import { createHash, timingSafeEqual } from 'node:crypto';
import { invalidGrant } from '../domain/errors.ts';

/** RFC 7636 §4.1: code-verifier = 43*128unreserved */
const VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/;

/** RFC 7636 §4.2: S256 challenge = BASE64URL(SHA256(ASCII(code_verifier))). */
export function s256Challenge(verifier: string): string {
  return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}

/**
 * Checks the presented `code_verifier` against what the authorization request stored.
 * - A stored challenge requires a verifier that hashes to it (§4.6); only S256 is accepted (plain is
 *   refused: it protects nothing once the authorization request leaks).
 * - A verifier without a stored challenge is refused (RFC 9700 §2.1.1: otherwise an attacker who
 *   injects a stolen code can downgrade PKCE away).
 * - Public clients must have used PKCE (RFC 9700 §2.1.1, RFC 8252 §8.1).
 * Every failure is invalid_grant (§4.6).
 */
export function verifyPkce(
  stored: { codeChallenge: string | null; codeChallengeMethod: string | null },
  verifier: string | undefined,
  publicClient: boolean,
): void {
  if (stored.codeChallenge === null) {
    if (verifier !== undefined) throw invalidGrant('code_verifier was sent but the authorization request had no code_challenge.');
    if (publicClient) throw invalidGrant('PKCE is required for public clients.');
    return;
  }
  if (stored.codeChallengeMethod !== 'S256') throw invalidGrant('Only the S256 code_challenge_method is supported.');
  if (verifier === undefined) throw invalidGrant('code_verifier is required: the authorization request used PKCE.');
  if (!VERIFIER.test(verifier)) throw invalidGrant('code_verifier must be 43-128 characters of [A-Za-z0-9-._~] (RFC 7636 §4.1).');
  const expected = Buffer.from(stored.codeChallenge);
  const actual = Buffer.from(s256Challenge(verifier));
  if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) throw invalidGrant('code_verifier does not match the code_challenge.');
}
