import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as client from 'openid-client';
import { mintToken } from '../../../src/crypto/random.ts';
import { backends } from '../../support/backends.ts';
import { startLatch, type TestLatch } from '../../support/latch.ts';
import { bearer, call, register, testClock, WIDE_LIMITS } from './helpers.ts';

const minimal = { grant_types: ['client_credentials'], client_name: 'batch job' };

for (const backend of backends()) {
  describe(`[${backend}] registration policy initial_access_token (RFC 7591 §3)`, () => {
    let t: TestLatch;
    const clock = testClock();
    const newToken = async (body: Record<string, unknown> = {}) => {
      const res = await t.admin('POST', '/admin/v1/initial-access-tokens', body);
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body as { id: number; initial_access_token: string };
    };
    before(async () => {
      t = await startLatch(backend, { config: { 'registration.policy': 'initial_access_token', ...WIDE_LIMITS }, clock });
    });
    after(() => t.close());

    test('is the default policy and discovery advertises the endpoint', async () => {
      const other = await startLatch(backend);
      try {
        const doc = (await (await fetch(`${other.issuer}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
        assert.equal(doc.registration_endpoint, `${other.issuer}/oauth2/register`);
        assert.equal((await register(other, minimal)).status, 401);
      } finally {
        await other.close();
      }
    });

    test('without a token: 401 with a Bearer challenge that carries no error code (RFC 6750 §3.1)', async () => {
      const res = await register(t, minimal);
      assert.equal(res.status, 401);
      assert.equal(res.body.error, 'invalid_token');
      assert.equal(res.headers.get('www-authenticate'), `Bearer realm="${t.issuer}"`);
      assert.equal(res.headers.get('cache-control'), 'no-store');
    });

    test('with a wrong token: 401 invalid_token and error="invalid_token" in the challenge', async () => {
      const wrong = [
        'garbage',
        mintToken('iat').token, // well-formed, never issued
        mintToken('rat').token, // a token of another kind
        (await newToken()).initial_access_token.replace(/_(\w{6})$/, '_AAAAAA'), // bad checksum
      ];
      for (const token of wrong) {
        const res = await register(t, minimal, bearer(token));
        assert.equal(res.status, 401, token);
        assert.equal(res.body.error, 'invalid_token');
        assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer realm="[^"]+", error="invalid_token", error_description="[^"]+"$/);
      }
      const basic = await register(t, minimal, { authorization: 'Basic dXNlcjpwYXNz' });
      assert.equal(basic.status, 401);
      assert.match(basic.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
    });

    test('openid-client registers with an initial access token', async () => {
      const { initial_access_token } = await newToken({ description: 'openid-client' });
      const config = await client.dynamicClientRegistration(
        new URL(t.issuer),
        { client_name: 'Nightly export', grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_post' },
        undefined,
        { execute: [client.allowInsecureRequests], initialAccessToken: initial_access_token },
      );
      const m = config.clientMetadata();
      assert.equal(m.client_name, 'Nightly export');
      assert.equal(typeof m.client_secret, 'string');
      assert.equal(typeof m.registration_access_token, 'string');
    });

    test('max_uses: the token registers exactly that many clients; failed registrations do not spend a use', async () => {
      const { id, initial_access_token } = await newToken({ max_uses: 2 });
      const invalid = await register(t, { grant_types: ['password'] }, bearer(initial_access_token));
      assert.equal(invalid.status, 400);
      assert.equal(invalid.body.field, 'grant_types');
      assert.equal((await register(t, minimal, bearer(initial_access_token))).status, 201);
      assert.equal((await register(t, minimal, bearer(initial_access_token))).status, 201);
      const third = await register(t, minimal, bearer(initial_access_token));
      assert.equal(third.status, 401);
      assert.equal(third.body.error, 'invalid_token');
      const list = await t.admin<{ initial_access_tokens: { id: number; uses: number; status: string }[] }>('GET', '/admin/v1/initial-access-tokens');
      const row = list.body.initial_access_tokens.find((x) => x.id === id);
      assert.equal(row?.uses, 2);
      assert.equal(row?.status, 'exhausted');
    });

    test('max_uses holds under concurrent registrations: exactly one of ten succeeds with max_uses 1', async () => {
      const { initial_access_token } = await newToken({ max_uses: 1 });
      const results = await Promise.all(Array.from({ length: 10 }, () => register(t, minimal, bearer(initial_access_token))));
      const statuses = results.map((r) => r.status).sort();
      assert.deepEqual(statuses, [201, 401, 401, 401, 401, 401, 401, 401, 401, 401]);
    });

    test('expiry: the token works until expires_in has passed, then 401', async () => {
      const { id, initial_access_token } = await newToken({ expires_in: 600 });
      clock.advance(599_000);
      assert.equal((await register(t, minimal, bearer(initial_access_token))).status, 201);
      clock.advance(1_000);
      const res = await register(t, minimal, bearer(initial_access_token));
      assert.equal(res.status, 401);
      const list = await t.admin<{ initial_access_tokens: { id: number; status: string }[] }>('GET', '/admin/v1/initial-access-tokens');
      assert.equal(list.body.initial_access_tokens.find((x) => x.id === id)?.status, 'expired');
    });

    test('revocation through the admin API takes effect at once', async () => {
      const { id, initial_access_token } = await newToken();
      assert.equal((await register(t, minimal, bearer(initial_access_token))).status, 201);
      assert.equal((await t.admin('DELETE', `/admin/v1/initial-access-tokens/${id}`)).status, 204);
      assert.equal((await register(t, minimal, bearer(initial_access_token))).status, 401);
    });

    test('the initial access token is not a registration access token: it cannot manage the client it registered', async () => {
      const { initial_access_token } = await newToken();
      const created = await register(t, minimal, bearer(initial_access_token));
      const res = await call(created.body.registration_client_uri as string, { headers: bearer(initial_access_token) });
      assert.equal(res.status, 401);
    });
  });

  describe(`[${backend}] registration policy disabled`, () => {
    let t: TestLatch;
    before(async () => {
      t = await startLatch(backend, { config: { 'registration.policy': 'open', ...WIDE_LIMITS } });
    });
    after(() => t.close());

    test('403 access_denied in JSON, no registration_endpoint in discovery; clients registered earlier can still manage themselves', async () => {
      const earlier = await register(t, minimal);
      assert.equal(earlier.status, 201);
      await t.stop();
      t = await startLatch(backend, { database: t.database, config: { 'registration.policy': 'disabled', ...WIDE_LIMITS } });

      for (const path of ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server']) {
        const doc = (await (await fetch(t.issuer + path)).json()) as Record<string, unknown>;
        assert.equal(doc.registration_endpoint, undefined, path);
      }
      const res = await register(t, minimal);
      assert.equal(res.status, 403);
      assert.equal(res.body.error, 'access_denied');
      assert.match(res.body.error_description as string, /disabled/);
      assert.equal(res.headers.get('www-authenticate'), null);
      // Even with a valid initial access token.
      const iat = await t.admin('POST', '/admin/v1/initial-access-tokens', {});
      assert.equal((await register(t, minimal, bearer(iat.body.initial_access_token as string))).status, 403);

      // RFC 7592 management is authenticated by a token this server issued; it keeps working.
      const token = earlier.body.registration_access_token as string;
      const uri = `${t.issuer}/oauth2/register/${earlier.body.client_id}`;
      const read = await call(uri, { headers: bearer(token) });
      assert.equal(read.status, 200);
      assert.equal(read.body.client_id, earlier.body.client_id);
      assert.equal((await call(uri, { method: 'DELETE', headers: bearer(token) })).status, 204);
    });
  });
}
