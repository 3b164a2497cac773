/**
 * openid-client v6 as the relying party for the OpenID Connect side of the front channel: it builds
 * the authorization request (nonce, max_age, PKCE), checks the RFC 9207 `iss` of the response and the
 * ID token (signature via JWKS, nonce, auth_time against max_age). The login and consent pages are
 * driven with plain HTTP requests. Covers a confidential and a public client, form_post responses,
 * and a silent prompt=none re-authorization with the ID token as id_token_hint.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as oidc from 'openid-client';
import { backends } from '../../support/backends.ts';
import { startLatch, type TestLatch } from '../../support/latch.ts';
import { Browser, createClient, createUser, hidden, signInAndAllow, type TestClient } from './helpers.ts';

function rp(t: TestLatch, client: TestClient): Promise<oidc.Configuration> {
  const auth = client.client_secret ? oidc.ClientSecretBasic(client.client_secret) : oidc.None();
  return oidc.discovery(new URL(t.issuer), client.client_id, undefined, auth, { execute: [oidc.allowInsecureRequests] });
}

interface Started {
  url: URL;
  verifier: string;
  state: string;
  nonce: string;
}

async function start(config: oidc.Configuration, client: TestClient, extra: Record<string, string> = {}): Promise<Started> {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: client.redirect_uris[0] as string,
    scope: 'openid profile email',
    state,
    nonce,
    max_age: '300',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    ...extra,
  });
  return { url, verifier, state, nonce };
}

for (const backend of backends()) {
  describe(`[${backend}] openid-client: code + PKCE through the login form`, () => {
    let t: TestLatch;
    let confidential: TestClient;
    let publicClient: TestClient;
    let alice: { id: string };
    before(async () => {
      t = await startLatch(backend);
      confidential = await createClient(t, { client_name: 'Confidential RP' });
      publicClient = await createClient(t, {
        client_name: 'Native RP',
        application_type: 'native',
        token_endpoint_auth_method: 'none',
        redirect_uris: ['http://127.0.0.1/callback'],
      });
      alice = await createUser(t, 'alice', { email: 'alice@example.org', name: 'Alice Example' });
    });
    after(() => t.close());

    for (const kind of ['confidential', 'public'] as const) {
      test(`${kind} client: the ID token verifies (signature, nonce, auth_time within max_age), iss is checked, then prompt=none with id_token_hint`, async () => {
        const client = kind === 'confidential' ? confidential : publicClient;
        const config = await rp(t, client);
        const browser = new Browser(t.issuer);
        // The public client's loopback redirect URI gets an ephemeral port (RFC 8252 §7.3).
        const redirectUri = kind === 'public' ? 'http://127.0.0.1:49152/callback' : (client.redirect_uris[0] as string);
        const first = await start(config, client, { redirect_uri: redirectUri });
        const done = await signInAndAllow(t, browser, first.url.href, 'alice');
        assert.equal(done.status, 303, done.text.slice(0, 300));
        const callback = new URL(done.location as string);
        assert.equal(`${callback.origin}${callback.pathname}`, redirectUri);

        // A tampered iss in the response is refused by the RP before it spends the code (RFC 9207 §2.4);
        // the genuine redemption below would fail if the forged one had reached the token endpoint.
        const forged = new URL(callback);
        forged.searchParams.set('iss', 'https://evil.example');
        await assert.rejects(oidc.authorizationCodeGrant(config, forged, { pkceCodeVerifier: first.verifier, expectedState: first.state }), (err: Error) =>
          /"iss"/.test(String((err.cause as Error | undefined)?.message)),
        );

        const tokens = await oidc.authorizationCodeGrant(config, callback, {
          pkceCodeVerifier: first.verifier,
          expectedState: first.state,
          expectedNonce: first.nonce,
          maxAge: 300,
          idTokenExpected: true,
        });
        const claims = tokens.claims();
        assert.ok(claims);
        assert.equal(claims.iss, t.issuer);
        assert.equal(claims.sub, alice.id);
        assert.equal(claims.aud, client.client_id);
        assert.equal(claims.nonce, first.nonce);
        assert.equal(typeof claims.auth_time, 'number');
        assert.deepEqual(claims.amr, ['pwd']);

        // Silent re-authorization in the same browser with the ID token as hint: no page at all.
        const second = await start(config, client, { redirect_uri: redirectUri, prompt: 'none', id_token_hint: tokens.id_token as string });
        const silent = await browser.get(second.url.href);
        assert.equal(silent.status, 302, silent.text.slice(0, 300));
        const again = await oidc.authorizationCodeGrant(config, new URL(silent.location as string), {
          pkceCodeVerifier: second.verifier,
          expectedState: second.state,
          expectedNonce: second.nonce,
        });
        assert.equal(again.claims()?.sub, alice.id);
        assert.equal(again.claims()?.auth_time, claims.auth_time, 'same sign-in, no new authentication');

        // In a browser without the session, prompt=none answers login_required to the RP.
        const third = await start(config, client, { redirect_uri: redirectUri, prompt: 'none', id_token_hint: tokens.id_token as string });
        const refused = await new Browser(t.issuer).get(third.url.href);
        const error = await oidc
          .authorizationCodeGrant(config, new URL(refused.location as string), { pkceCodeVerifier: third.verifier, expectedState: third.state })
          .then(
            () => assert.fail('expected an error response'),
            (err: { error?: string; cause?: URLSearchParams }) => err.error ?? err.cause?.get?.('error'),
          );
        assert.equal(error, 'login_required');
      });
    }

    test('response_mode=form_post: openid-client accepts the posted response', async () => {
      const config = await rp(t, confidential);
      const started = await start(config, confidential, { response_mode: 'form_post' });
      const page = await signInAndAllow(t, new Browser(t.issuer), started.url.href, 'alice');
      assert.equal(page.status, 200);
      const body = new URLSearchParams({ code: hidden(page, 'code'), state: hidden(page, 'state'), iss: hidden(page, 'iss') });
      const request = new Request(confidential.redirect_uris[0] as string, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body,
      });
      const tokens = await oidc.authorizationCodeGrant(config, request, {
        pkceCodeVerifier: started.verifier,
        expectedState: started.state,
        expectedNonce: started.nonce,
      });
      assert.equal(tokens.claims()?.sub, alice.id);
    });
  });
}
