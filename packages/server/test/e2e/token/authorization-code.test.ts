import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as oidc from 'openid-client';
import { hashSecret } from '../../../src/crypto/random.ts';
import { backends } from '../../support/backends.ts';
import { startLatch, type TestLatch } from '../../support/latch.ts';
import {
  basic,
  callbackUrl,
  createClient,
  createUser,
  introspectAs,
  issueCode,
  oauthError,
  pkce,
  post,
  REDIRECT_URI,
  rp,
  type TestClient,
  tokenRequest,
} from './helpers.ts';

for (const backend of backends()) {
  describe(`[${backend}] authorization_code grant (codes stored through the repository)`, () => {
    let t: TestLatch;
    let now = Date.parse('2030-01-01T00:00:00Z');
    const clock = () => now;
    let web: TestClient;
    let native: TestClient;
    let alice: { id: string; username: string };
    before(async () => {
      t = await startLatch(backend, { clock });
      web = await createClient(t);
      native = await createClient(t, {
        application_type: 'native',
        token_endpoint_auth_method: 'none',
        redirect_uris: ['http://127.0.0.1/callback'],
      });
      alice = await createUser(t, 'alice');
    });
    after(() => t.close());

    test('confidential client with PKCE via openid-client: access and refresh token, scope, session with a device', async () => {
      const { verifier, challenge } = pkce();
      const code = await issueCode(t, { clientId: web.client_id, userId: alice.id, codeChallenge: challenge, now });
      const config = await rp(t, web);
      const tokens = await oidc.authorizationCodeGrant(config, callbackUrl(t, code), { pkceCodeVerifier: verifier });
      assert.match(tokens.access_token, /^lat_at_/);
      assert.match(tokens.refresh_token as string, /^lat_rt_/);
      assert.equal(tokens.scope, 'profile read:syn1');
      assert.equal(tokens.expires_in, 300);
      const info = await oidc.tokenIntrospection(config, tokens.access_token);
      assert.equal(info.active, true);
      assert.equal(info.sub, alice.id);
      assert.equal(info.username, 'alice');
      assert.equal(info.client_id, web.client_id);
      const session = await t.latch.storage.sessions.findBySid(info.sid as string);
      assert.equal(session?.userId, alice.id);
      assert.equal(session?.deviceId, info.device_id);
      assert.deepEqual(session?.amr, ['pwd']);
      assert.equal(session?.authTime, now - 1000);
    });

    test('confidential client without PKCE (allowed for confidential clients)', async () => {
      const code = await issueCode(t, { clientId: web.client_id, userId: alice.id, now });
      const tokens = await oidc.authorizationCodeGrant(await rp(t, web), callbackUrl(t, code));
      assert.match(tokens.access_token, /^lat_at_/);
    });

    test('public client with PKCE via openid-client (client auth none)', async () => {
      const { verifier, challenge } = pkce();
      const code = await issueCode(t, {
        clientId: native.client_id,
        userId: alice.id,
        codeChallenge: challenge,
        redirectUri: 'http://127.0.0.1/callback',
        now,
      });
      const config = await rp(t, native, oidc.None());
      const tokens = await oidc.authorizationCodeGrant(config, callbackUrl(t, code, 'http://127.0.0.1/callback'), { pkceCodeVerifier: verifier });
      assert.match(tokens.access_token, /^lat_at_/);
      assert.match(tokens.refresh_token as string, /^lat_rt_/);
      // The public client refreshes with its client_id only.
      const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token as string);
      assert.match(refreshed.access_token, /^lat_at_/);
    });

    test('a public client must have used PKCE', async () => {
      const code = await issueCode(t, { clientId: native.client_id, userId: alice.id, redirectUri: 'http://127.0.0.1/callback', now });
      const res = await post(t, '/oauth2/token', {
        grant_type: 'authorization_code',
        code,
        redirect_uri: 'http://127.0.0.1/callback',
        client_id: native.client_id,
      });
      assert.equal(res.status, 400);
      assert.equal(res.body.error, 'invalid_grant');
    });

    test('PKCE: wrong verifier, missing verifier, malformed verifier, verifier without challenge, plain method: invalid_grant', async () => {
      const { challenge } = pkce();
      const cases: { codeChallenge?: string; codeChallengeMethod?: string; verifier?: string }[] = [
        { codeChallenge: challenge, verifier: pkce().verifier },
        { codeChallenge: challenge },
        { codeChallenge: challenge, verifier: 'short' },
        { codeChallenge: challenge, verifier: `${'a'.repeat(43)}!` },
        { verifier: pkce().verifier },
        { codeChallenge: 'a'.repeat(43), codeChallengeMethod: 'plain', verifier: 'a'.repeat(43) },
      ];
      for (const c of cases) {
        const code = await issueCode(t, {
          clientId: web.client_id,
          userId: alice.id,
          codeChallenge: c.codeChallenge ?? null,
          ...(c.codeChallengeMethod ? { codeChallengeMethod: c.codeChallengeMethod } : {}),
          now,
        });
        const res = await tokenRequest(t, web, {
          grant_type: 'authorization_code',
          code,
          redirect_uri: REDIRECT_URI,
          ...(c.verifier ? { code_verifier: c.verifier } : {}),
        });
        assert.equal(res.status, 400, JSON.stringify(c));
        assert.equal(res.body.error, 'invalid_grant', JSON.stringify(c));
      }
    });

    test('redirect_uri must match when it was in the authorization request; may be omitted otherwise', async () => {
      const code = await issueCode(t, { clientId: web.client_id, userId: alice.id, now });
      for (const redirect_uri of [undefined, 'https://app.example/other', `${REDIRECT_URI}/`]) {
        const res = await tokenRequest(t, web, { grant_type: 'authorization_code', code, ...(redirect_uri ? { redirect_uri } : {}) });
        assert.equal(res.status, 400, String(redirect_uri));
        assert.equal(res.body.error, 'invalid_grant', String(redirect_uri));
      }
      // The failed attempts did not use the code up.
      assert.equal((await tokenRequest(t, web, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI })).status, 200);

      const unsent = await issueCode(t, { clientId: web.client_id, userId: alice.id, redirectUriSent: false, now });
      assert.equal((await tokenRequest(t, web, { grant_type: 'authorization_code', code: unsent })).status, 200);
    });

    test('a reused code fails with invalid_grant and revokes the tokens issued from it (RFC 6749 §4.1.2)', async () => {
      const code = await issueCode(t, { clientId: web.client_id, userId: alice.id, now });
      const first = await tokenRequest(t, web, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI });
      assert.equal(first.status, 200);
      assert.equal((await introspectAs(t, web, first.body.access_token as string)).active, true);
      const second = await tokenRequest(t, web, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI });
      assert.equal(second.status, 400);
      assert.equal(second.body.error, 'invalid_grant');
      assert.deepEqual(await introspectAs(t, web, first.body.access_token as string), { active: false });
      assert.deepEqual(await introspectAs(t, web, first.body.refresh_token as string), { active: false });
      const refresh = await tokenRequest(t, web, { grant_type: 'refresh_token', refresh_token: first.body.refresh_token as string });
      assert.equal(refresh.body.error, 'invalid_grant');
      const info = await t.latch.storage.authorizationCodes.findByHash(hashSecret(code));
      const session = await t.latch.storage.sessions.lookup(info?.sessionId as number);
      assert.equal(session?.finishReason, 'code_replay');
    });

    test('concurrent redemptions of one code: exactly one succeeds, and the replay revokes it', async () => {
      const code = await issueCode(t, { clientId: web.client_id, userId: alice.id, now });
      const results = await Promise.all(
        Array.from({ length: 6 }, () => tokenRequest(t, web, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI })),
      );
      assert.ok(results.every((r) => r.status === 200 || r.status === 400));
      const winners = results.filter((r) => r.status === 200);
      assert.equal(winners.length, 1);
      for (const loser of results.filter((r) => r.status === 400)) assert.equal(loser.body.error, 'invalid_grant');
      assert.deepEqual(await introspectAs(t, web, winners[0]?.body.access_token as string), { active: false });
    });

    test('an expired code is invalid_grant', async () => {
      const code = await issueCode(t, { clientId: web.client_id, userId: alice.id, now, ttlMs: 60_000 });
      now += 61_000;
      const res = await tokenRequest(t, web, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI });
      assert.equal(res.status, 400);
      assert.equal(res.body.error, 'invalid_grant');
    });

    test('a code issued to another client is invalid_grant and stays usable by its own client', async () => {
      const other = await createClient(t);
      const code = await issueCode(t, { clientId: web.client_id, userId: alice.id, now });
      const stolen = await tokenRequest(t, other, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI });
      assert.equal(stolen.body.error, 'invalid_grant');
      assert.equal((await tokenRequest(t, web, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI })).status, 200);
    });

    test('unknown, malformed and missing codes', async () => {
      for (const code of ['lat_ac_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA_AAAAAA', 'garbage', 'lat_rt_x']) {
        const res = await tokenRequest(t, web, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI });
        assert.equal(res.body.error, 'invalid_grant', code);
      }
      const missing = await tokenRequest(t, web, { grant_type: 'authorization_code', redirect_uri: REDIRECT_URI });
      assert.equal(missing.status, 400);
      assert.equal(missing.body.error, 'invalid_request');
    });

    test('a deactivated user cannot redeem a code', async () => {
      const bob = await createUser(t, 'bob');
      const code = await issueCode(t, { clientId: web.client_id, userId: bob.id, now });
      assert.equal((await t.admin('PATCH', `/admin/v1/users/${bob.id}`, { active: false })).status, 200);
      const res = await tokenRequest(t, web, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI });
      assert.equal(res.body.error, 'invalid_grant');
    });

    test('refresh_token_policy: never gives no refresh token; offline_access only with that scope', async () => {
      const never = await createClient(t, { refresh_token_policy: 'never' });
      assert.equal(never.refresh_token_policy, 'never');
      const a = await tokenRequest(t, never, {
        grant_type: 'authorization_code',
        code: await issueCode(t, { clientId: never.client_id, userId: alice.id, now }),
        redirect_uri: REDIRECT_URI,
      });
      assert.equal(a.status, 200);
      assert.equal(a.body.refresh_token, undefined);

      const offline = await createClient(t, { refresh_token_policy: 'offline_access' });
      const without = await tokenRequest(t, offline, {
        grant_type: 'authorization_code',
        code: await issueCode(t, { clientId: offline.client_id, userId: alice.id, scope: ['profile'], now }),
        redirect_uri: REDIRECT_URI,
      });
      assert.equal(without.body.refresh_token, undefined);
      const withScope = await tokenRequest(t, offline, {
        grant_type: 'authorization_code',
        code: await issueCode(t, { clientId: offline.client_id, userId: alice.id, scope: ['profile', 'offline_access'], now }),
        redirect_uri: REDIRECT_URI,
      });
      assert.match(withScope.body.refresh_token as string, /^lat_rt_/);

      // Without the refresh_token grant type there is no refresh token whatever the policy.
      const noGrant = await createClient(t, { grant_types: ['authorization_code'] });
      assert.equal(noGrant.refresh_token_policy, 'always');
      const b = await tokenRequest(t, noGrant, {
        grant_type: 'authorization_code',
        code: await issueCode(t, { clientId: noGrant.client_id, userId: alice.id, now }),
        redirect_uri: REDIRECT_URI,
      });
      assert.equal(b.body.refresh_token, undefined);
      assert.equal((await tokenRequest(t, noGrant, { grant_type: 'refresh_token', refresh_token: 'lat_rt_x' })).body.error, 'unauthorized_client');
    });

    test('refresh_token_policy is validated and can be changed in the admin API', async () => {
      const bad = await t.admin('POST', '/admin/v1/clients', { redirect_uris: [REDIRECT_URI], refresh_token_policy: 'sometimes' });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error, 'invalid_client_metadata');
      const c = await createClient(t);
      const patched = await t.admin('PATCH', `/admin/v1/clients/${c.client_id}`, { refresh_token_policy: 'offline_access' });
      assert.equal(patched.status, 200);
      assert.equal(patched.body.refresh_token_policy, 'offline_access');
    });

    test('client_secret_basic with form-urlencoded credentials and client_id repeated in the body', async () => {
      const code = await issueCode(t, { clientId: web.client_id, userId: alice.id, now });
      const res = await post(
        t,
        '/oauth2/token',
        { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, client_id: web.client_id },
        { authorization: basic(web.client_id, web.client_secret as string) },
      );
      assert.equal(res.status, 200, res.text);
      const mismatch = await post(
        t,
        '/oauth2/token',
        { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, client_id: native.client_id },
        { authorization: basic(web.client_id, web.client_secret as string) },
      );
      assert.equal(mismatch.status, 400);
      assert.equal(mismatch.body.error, 'invalid_request');
    });

    test('openid-client reports invalid_grant for a reused code', async () => {
      const code = await issueCode(t, { clientId: web.client_id, userId: alice.id, now });
      const config = await rp(t, web);
      await oidc.authorizationCodeGrant(config, callbackUrl(t, code));
      const err = await oauthError(oidc.authorizationCodeGrant(config, callbackUrl(t, code)));
      assert.equal(err.error, 'invalid_grant');
    });
  });
}
