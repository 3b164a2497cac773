import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { OAuthError } from '../domain/errors.ts';
import { s256Challenge, verifyPkce } from './pkce.ts';

const invalidGrant = (e: unknown) => e instanceof OAuthError && e.code === 'invalid_grant';

describe('PKCE verification (RFC 7636 §4.6)', () => {
  // RFC 7636 Appendix B test vector.
  const verifier = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
  const challenge = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';

  test('the RFC 7636 Appendix B example verifies', () => {
    assert.equal(s256Challenge(verifier), challenge);
    verifyPkce({ codeChallenge: challenge, codeChallengeMethod: 'S256' }, verifier, true);
  });

  test('wrong, missing or malformed verifiers fail with invalid_grant', () => {
    const stored = { codeChallenge: challenge, codeChallengeMethod: 'S256' };
    assert.throws(() => verifyPkce(stored, `${verifier.slice(0, -1)}Z`, false), invalidGrant);
    assert.throws(() => verifyPkce(stored, undefined, false), invalidGrant);
    assert.throws(() => verifyPkce(stored, 'too-short', false), invalidGrant);
    assert.throws(() => verifyPkce(stored, 'a'.repeat(129), false), invalidGrant);
    assert.throws(() => verifyPkce(stored, `${'a'.repeat(42)}+`, false), invalidGrant);
  });

  test('plain is refused even when the verifier equals the challenge', () => {
    assert.throws(() => verifyPkce({ codeChallenge: 'a'.repeat(43), codeChallengeMethod: 'plain' }, 'a'.repeat(43), false), invalidGrant);
  });

  test('no stored challenge: a verifier is refused (downgrade), public clients are refused, confidential ones pass', () => {
    const none = { codeChallenge: null, codeChallengeMethod: null };
    assert.throws(() => verifyPkce(none, verifier, false), invalidGrant);
    assert.throws(() => verifyPkce(none, undefined, true), invalidGrant);
    verifyPkce(none, undefined, false);
  });
});
