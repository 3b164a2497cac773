/**
 * ID tokens and userinfo with openid-client as the relying party (OIDC Core §2, §3.1.3.6, §5.3, §12.2):
 * the code grant and refresh both return ID tokens that openid-client validates (signature against
 * the JWKS, issuer, audience, expiry, nonce), at_hash matches the access token, and userinfo's `sub`
 * equals the ID token's.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { decodeProtectedHeader } from 'jose';
import * as oidc from 'openid-client';
import { backends } from '../../support/backends.ts';
import { startLatch, type TestLatch } from '../../support/latch.ts';
import { Browser, createUser, relyingParty, signIn } from './helpers.ts';

const atHash = (accessToken: string) => createHash('sha256').update(accessToken, 'ascii').digest().subarray(0, 16).toString('base64url');

for (const backend of backends()) {
  describe(`[${backend}] OpenID Connect ID tokens and userinfo (openid-client)`, () => {
    let t: TestLatch;
    before(async () => {
      t = await startLatch(backend, { config: { 'tokens.idTokenTtl': 900 } });
    });
    after(() => t.close());

    test('discovery lists userinfo, end_session, back-channel logout, signing algs, claims and subject types', async () => {
      const doc = (await (await fetch(`${t.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
      assert.equal(doc.userinfo_endpoint, `${t.issuer}/oauth2/userinfo`);
      assert.equal(doc.end_session_endpoint, `${t.issuer}/oauth2/logout`);
      assert.equal(doc.backchannel_logout_supported, true);
      assert.equal(doc.backchannel_logout_session_supported, true);
      assert.deepEqual(doc.id_token_signing_alg_values_supported, ['RS256', 'ES256']);
      assert.deepEqual(doc.subject_types_supported, ['public']);
      for (const claim of ['sub', 'iss', 'auth_time', 'nonce', 'at_hash', 'sid', 'amr', 'preferred_username', 'name', 'email', 'email_verified']) {
        assert.ok((doc.claims_supported as string[]).includes(claim), claim);
      }
      for (const scope of ['openid', 'profile', 'email']) assert.ok((doc.scopes_supported as string[]).includes(scope), scope);
    });

    test('code grant: openid-client validates the ID token; nonce, at_hash, sid, auth_time, amr; userinfo sub matches', async () => {
      const user = await createUser(t, 'ada', { email: 'ada@example.com', email_verified: true, name: 'Ada Lovelace' });
      const rp = await relyingParty(t);
      const before = Math.floor(Date.now() / 1000);
      const { tokens, nonce } = await signIn(t, rp, new Browser(t.issuer), 'ada');
      const claims = tokens.claims();
      assert.ok(claims && tokens.id_token);
      assert.equal(decodeProtectedHeader(tokens.id_token).alg, 'RS256');
      assert.equal(claims.iss, t.issuer);
      assert.equal(claims.sub, user.id);
      assert.equal(claims.aud, rp.clientId);
      assert.equal(claims.nonce, nonce);
      assert.equal(claims.at_hash, atHash(tokens.access_token));
      assert.equal(typeof claims.sid, 'string');
      assert.ok((claims.auth_time as number) >= before - 1 && (claims.auth_time as number) <= claims.iat);
      assert.deepEqual(claims.amr, ['pwd']);
      assert.equal(claims.exp - claims.iat, 900);
      assert.equal(claims.email, undefined, 'with response_type=code the profile and email claims are served by userinfo (OIDC Core §5.4)');

      const info = await oidc.fetchUserInfo(rp.config, tokens.access_token, claims.sub);
      assert.deepEqual(
        { ...info, updated_at: undefined },
        { sub: user.id, preferred_username: 'ada', name: 'Ada Lovelace', email: 'ada@example.com', email_verified: true, updated_at: undefined },
      );
      assert.equal(typeof info.updated_at, 'number');
      // openid-client refuses a userinfo response for another subject (OIDC Core §5.3.2).
      await assert.rejects(oidc.fetchUserInfo(rp.config, tokens.access_token, 'someone-else'));

      // The session in the ID token is the one introspection reports for the access token.
      const intro = await oidc.tokenIntrospection(rp.config, tokens.access_token);
      assert.equal(intro.sid, claims.sid);
    });

    test('refresh: a new ID token with the same sub, sid and auth_time, a new iat, no nonce, at_hash of the new access token', async () => {
      await createUser(t, 'grace');
      const rp = await relyingParty(t);
      const { tokens } = await signIn(t, rp, new Browser(t.issuer), 'grace');
      const first = tokens.claims();
      assert.ok(first && tokens.refresh_token);
      await new Promise((r) => setTimeout(r, 1100));
      const refreshed = await oidc.refreshTokenGrant(rp.config, tokens.refresh_token);
      const second = refreshed.claims();
      assert.ok(second, 'an ID token on refresh');
      assert.equal(second.sub, first.sub);
      assert.equal(second.sid, first.sid);
      assert.equal(second.aud, first.aud);
      assert.equal(second.auth_time, first.auth_time, 'auth_time is the original authentication (§12.2)');
      assert.ok(second.iat > first.iat);
      assert.equal(second.nonce, undefined);
      assert.equal(second.at_hash, atHash(refreshed.access_token));
      const info = await oidc.fetchUserInfo(rp.config, refreshed.access_token, second.sub);
      assert.equal(info.sub, first.sub);
    });

    test('a client registered for ES256 gets ES256 ID tokens, still validated by openid-client', async () => {
      await createUser(t, 'edsger');
      const rp = await relyingParty(t, { id_token_signed_response_alg: 'ES256' });
      const { tokens } = await signIn(t, rp, new Browser(t.issuer), 'edsger');
      assert.ok(tokens.id_token);
      assert.equal(decodeProtectedHeader(tokens.id_token).alg, 'ES256');
      const refreshed = await oidc.refreshTokenGrant(rp.config, tokens.refresh_token as string);
      assert.equal(decodeProtectedHeader(refreshed.id_token as string).alg, 'ES256');
    });

    test('without openid there is no ID token, and userinfo refuses the access token with insufficient_scope', async () => {
      await createUser(t, 'barbara');
      const rp = await relyingParty(t);
      const { tokens } = await signIn(t, rp, new Browser(t.issuer), 'barbara', 'profile');
      assert.equal(tokens.id_token, undefined);
      const res = await fetch(`${t.issuer}/oauth2/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
      assert.equal(res.status, 403);
      assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer .*error="insufficient_scope"/);
      assert.equal(((await res.json()) as { error: string }).error, 'insufficient_scope');
    });

    test('scopes decide the userinfo claims: openid alone gives sub only; email without an address gives nothing more', async () => {
      const user = await createUser(t, 'linus');
      const rp = await relyingParty(t);
      const { tokens } = await signIn(t, rp, new Browser(t.issuer), 'linus', 'openid email');
      assert.deepEqual(await oidc.fetchUserInfo(rp.config, tokens.access_token, user.id), { sub: user.id });
    });
  });
}
