/**
 * Dynamic registration, then real flows with the new client through openid-client v6.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import * as client from 'openid-client';
import { backends } from '../../support/backends.ts';
import { startLatch, type TestLatch } from '../../support/latch.ts';
import { Browser, createUser, signInAndAllow } from '../authorize/helpers.ts';
import { bearer, call, WIDE_LIMITS } from './helpers.ts';

const insecure = { execute: [client.allowInsecureRequests] };

/** A native app's loopback redirect listener on an ephemeral port (RFC 8252 §7.3): it records the URL it is sent to. */
async function loopbackListener(): Promise<{ server: Server; port: number; received: Promise<URL> }> {
  let resolve!: (url: URL) => void;
  const received = new Promise<URL>((r) => {
    resolve = r;
  });
  const server = createServer((req, res) => {
    resolve(new URL(req.url ?? '/', `http://127.0.0.1:${(server.address() as AddressInfo).port}`));
    res.writeHead(200, { 'content-type': 'text/plain' }).end('You can close this window.');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port, received };
}

/** The token endpoint refuses the client: 401 invalid_client with a WWW-Authenticate challenge (RFC 6749 §5.2). */
async function expectInvalidClient(request: Promise<unknown>): Promise<void> {
  const err = await request.then(
    () => assert.fail('the token endpoint must refuse a deleted client'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof client.WWWAuthenticateChallengeError, String(err));
  assert.equal(err.status, 401);
  assert.equal(((await err.response.json()) as { error: string }).error, 'invalid_client');
}

for (const backend of backends()) {
  describe(`[${backend}] dynamic registration, then flows with the new client (openid-client)`, () => {
    let t: TestLatch;
    before(async () => {
      t = await startLatch(backend, { config: { 'registration.policy': 'initial_access_token', ...WIDE_LIMITS } });
    });
    after(() => t.close());

    const initialAccessToken = async () => {
      const res = await t.admin('POST', '/admin/v1/initial-access-tokens', { max_uses: 1, description: 'flow test' });
      assert.equal(res.status, 201);
      return res.body.initial_access_token as string;
    };

    test('a confidential client registered dynamically gets a client_credentials token; after RFC 7592 DELETE the token is dead and the client cannot authenticate', async () => {
      const config = await client.dynamicClientRegistration(
        new URL(t.issuer),
        { client_name: 'Nightly export', grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_basic', scope: 'read:* export' },
        undefined,
        { ...insecure, initialAccessToken: await initialAccessToken() },
      );
      const registered = config.clientMetadata();
      // The registration said client_secret_basic; authenticate that way.
      const basic = new client.Configuration(
        config.serverMetadata(),
        registered.client_id,
        registered,
        client.ClientSecretBasic(registered.client_secret as string),
      );
      client.allowInsecureRequests(basic);

      const tokens = await client.clientCredentialsGrant(basic, { scope: 'read:syn123' });
      assert.equal(tokens.token_type.toLowerCase(), 'bearer');
      assert.match(tokens.access_token, /^lat_at_/);
      assert.equal(tokens.refresh_token, undefined);

      // A resource server (admin-made, allowed to introspect any token) sees the token as active.
      const rs = await t.admin('POST', '/admin/v1/clients', {
        client_name: 'notes-api',
        grant_types: ['client_credentials'],
        introspect_any_token: true,
      });
      assert.equal(rs.status, 201);
      const rsConfig = new client.Configuration(
        config.serverMetadata(),
        rs.body.client_id as string,
        {},
        client.ClientSecretBasic(rs.body.client_secret as string),
      );
      client.allowInsecureRequests(rsConfig);
      const before = await client.tokenIntrospection(rsConfig, tokens.access_token);
      assert.equal(before.active, true);
      assert.equal(before.client_id, registered.client_id);
      assert.equal(before.scope, 'read:syn123');

      const del = await call(registered.registration_client_uri as string, {
        method: 'DELETE',
        headers: bearer(registered.registration_access_token as string),
      });
      assert.equal(del.status, 204);

      const afterDelete = await client.tokenIntrospection(rsConfig, tokens.access_token);
      assert.deepEqual({ ...afterDelete }, { active: false });
      // The deleted client's credentials no longer authenticate: 401 invalid_client with a challenge (RFC 6749 §5.2).
      await expectInvalidClient(client.clientCredentialsGrant(basic, { scope: 'read:syn123' }));
    });

    test('a public native client registered dynamically with a loopback redirect URI runs code + PKCE on an ephemeral port, refreshes, and loses every token on RFC 7592 DELETE', async () => {
      await createUser(t, 'native-user');
      const config = await client.dynamicClientRegistration(
        new URL(t.issuer),
        {
          client_name: 'Notes for Desktop',
          application_type: 'native',
          token_endpoint_auth_method: 'none',
          // RFC 8252 §7.3: registered without a port; the app picks one at run time.
          redirect_uris: ['http://127.0.0.1/callback'],
          grant_types: ['authorization_code', 'refresh_token'],
          scope: 'openid profile offline_access read:*',
        },
        client.None(),
        { ...insecure, initialAccessToken: await initialAccessToken() },
      );
      const listener = await loopbackListener();
      try {
        const redirectUri = `http://127.0.0.1:${listener.port}/callback`;
        const verifier = client.randomPKCECodeVerifier();
        const state = client.randomState();
        const url = client.buildAuthorizationUrl(config, {
          redirect_uri: redirectUri,
          scope: 'read:syn123',
          code_challenge: await client.calculatePKCECodeChallenge(verifier),
          code_challenge_method: 'S256',
          state,
        });

        const browser = new Browser(t.issuer);
        const final = await signInAndAllow(t, browser, url.href, 'native-user');
        assert.ok([302, 303].includes(final.status), `${final.status} ${final.text.slice(0, 300)}`);
        assert.ok(final.location?.startsWith(`${redirectUri}?`), final.location ?? '');
        // The "browser" follows the redirect to the app's loopback listener.
        await fetch(final.location as string);
        const callback = await listener.received;
        assert.equal(callback.port, String(listener.port));

        const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state });
        assert.match(tokens.access_token, /^lat_at_/);
        assert.match(tokens.refresh_token ?? '', /^lat_rt_/);
        const registered = config.clientMetadata();

        // The new client's token works, and it refreshes as a public client (no secret).
        const rs = await t.admin('POST', '/admin/v1/clients', { client_name: 'notes-api', grant_types: ['client_credentials'], introspect_any_token: true });
        const rsConfig = new client.Configuration(
          config.serverMetadata(),
          rs.body.client_id as string,
          {},
          client.ClientSecretBasic(rs.body.client_secret as string),
        );
        client.allowInsecureRequests(rsConfig);
        const info = await client.tokenIntrospection(rsConfig, tokens.access_token);
        assert.equal(info.active, true);
        assert.equal(info.client_id, registered.client_id);
        assert.equal(info.username, 'native-user');
        assert.equal(info.scope, 'read:syn123');
        const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token as string);
        assert.match(refreshed.access_token, /^lat_at_/);

        // RFC 7592 DELETE: the session's tokens stop working at once.
        const del = await call(registered.registration_client_uri as string, {
          method: 'DELETE',
          headers: bearer(registered.registration_access_token as string),
        });
        assert.equal(del.status, 204);
        assert.deepEqual({ ...(await client.tokenIntrospection(rsConfig, refreshed.access_token)) }, { active: false });
        assert.deepEqual({ ...(await client.tokenIntrospection(rsConfig, refreshed.refresh_token as string)) }, { active: false });
        await expectInvalidClient(client.refreshTokenGrant(config, refreshed.refresh_token as string));
      } finally {
        listener.server.close();
      }
    });
  });
}
