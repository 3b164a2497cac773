/**
 * The whole code flow with openid-client as the relying party: it builds the authorization URL,
 * a cookie-keeping HTTP "browser" signs in and allows on the real login and consent pages, and
 * openid-client redeems the code at the token endpoint, refreshes, introspects and revokes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as oidc from 'openid-client';
import { backends } from '../../support/backends.ts';
import { startLatch, type TestLatch } from '../../support/latch.ts';
import { Browser, signInAndAllow } from '../authorize/helpers.ts';
import { createClient, createUser, oauthError, rp, type TestClient } from './helpers.ts';

for (const backend of backends()) {
  describe(`[${backend}] code + PKCE end to end through the login and consent pages`, () => {
    let t: TestLatch;
    let web: TestClient;
    let native: TestClient;
    before(async () => {
      t = await startLatch(backend);
      web = await createClient(t);
      native = await createClient(t, { application_type: 'native', token_endpoint_auth_method: 'none', redirect_uris: ['http://127.0.0.1/callback'] });
      await createUser(t, 'alice');
    });
    after(() => t.close());

    async function authorize(config: oidc.Configuration, client: TestClient, scope: string) {
      const verifier = oidc.randomPKCECodeVerifier();
      const state = oidc.randomState();
      const url = oidc.buildAuthorizationUrl(config, {
        redirect_uri: client.redirect_uris[0] as string,
        scope,
        state,
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
      });
      const done = await signInAndAllow(t, new Browser(t.issuer), url.href, 'alice');
      assert.ok(done.status === 302 || done.status === 303, `${done.status} ${done.text.slice(0, 200)}`);
      return { callback: new URL(done.location as string), verifier, state };
    }

    for (const kind of ['confidential', 'public'] as const) {
      test(`${kind} client: authorize, redeem, refresh, introspect, revoke`, async () => {
        const client = kind === 'confidential' ? web : native;
        const config = await rp(t, client, kind === 'public' ? oidc.None() : undefined);
        const { callback, verifier, state } = await authorize(config, client, 'profile offline_access read:syn42');
        const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state });
        assert.equal(tokens.scope, 'profile offline_access read:syn42');
        assert.match(tokens.refresh_token as string, /^lat_rt_/);

        // The code is single use.
        assert.equal(
          (await oauthError(oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state }))).error,
          'invalid_grant',
        );

        // The replay above ended the session of the first redemption, so authorize again.
        const again = await authorize(config, client, 'profile offline_access read:syn42');
        const fresh = await oidc.authorizationCodeGrant(config, again.callback, { pkceCodeVerifier: again.verifier, expectedState: again.state });
        const refreshed = await oidc.refreshTokenGrant(config, fresh.refresh_token as string, { scope: 'read:syn42' });
        assert.equal(refreshed.scope, 'read:syn42');

        const introspector = await createClient(t, { grant_types: ['client_credentials'], redirect_uris: [], introspect_any_token: true, scope: '' });
        const rs = await rp(t, introspector);
        const info = await oidc.tokenIntrospection(rs, refreshed.access_token);
        assert.equal(info.active, true);
        assert.equal(info.username, 'alice');
        assert.equal(info.client_id, client.client_id);
        assert.equal(info.scope, 'read:syn42');

        await oidc.tokenRevocation(config, refreshed.refresh_token as string);
        assert.equal((await oidc.tokenIntrospection(rs, refreshed.access_token)).active, false);
        assert.equal((await oidc.tokenIntrospection(rs, fresh.access_token)).active, false);
      });
    }
  });
}
