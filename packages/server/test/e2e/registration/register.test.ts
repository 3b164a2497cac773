import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import * as client from 'openid-client';
import { checkToken } from '../../../src/domain/token-format.ts';
import { backends } from '../../support/backends.ts';
import { startLatch, type TestLatch } from '../../support/latch.ts';
import { call, confidentialWebClient, register, WIDE_LIMITS } from './helpers.ts';

const sha256 = (v: string) => createHash('sha256').update(v).digest();

for (const backend of backends()) {
  describe(`[${backend}] dynamic client registration (RFC 7591), open policy`, () => {
    let t: TestLatch;
    before(async () => {
      t = await startLatch(backend, { config: { 'registration.policy': 'open', ...WIDE_LIMITS } });
    });
    after(() => t.close());

    test('discovery advertises the registration endpoint', async () => {
      for (const path of ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server']) {
        const doc = (await (await fetch(t.issuer + path)).json()) as Record<string, unknown>;
        assert.equal(doc.registration_endpoint, `${t.issuer}/oauth2/register`);
      }
    });

    test('openid-client registers a confidential client; the response follows RFC 7591 §3.2.1 and the secret is stored only as a hash', async () => {
      const config = await client.dynamicClientRegistration(new URL(t.issuer), { ...confidentialWebClient, software_id: 'runner-1' }, undefined, {
        execute: [client.allowInsecureRequests],
      });
      const m = config.clientMetadata();
      assert.equal(typeof m.client_id, 'string');
      assert.equal(checkToken(m.client_secret as string), 'cs');
      assert.equal(m.client_secret_expires_at, 0);
      assert.equal(typeof m.client_id_issued_at, 'number');
      assert.ok(Math.abs((m.client_id_issued_at as number) - Date.now() / 1000) < 60);
      assert.equal(checkToken(m.registration_access_token as string), 'rat');
      assert.equal(m.registration_client_uri, `${t.issuer}/oauth2/register/${m.client_id}`);
      // The registered metadata comes back, with RFC 7591 §2 defaults applied.
      assert.deepEqual(m.redirect_uris, confidentialWebClient.redirect_uris);
      assert.deepEqual(m.grant_types, ['authorization_code', 'refresh_token']);
      assert.deepEqual(m.response_types, ['code']);
      assert.equal(m.token_endpoint_auth_method, 'client_secret_basic');
      assert.equal(m.application_type, 'web');
      assert.equal(m.client_name, 'Workflow Runner');
      assert.equal(m.scope, 'openid read:*');
      assert.equal(m.software_id, 'runner-1');
      // Latch admin-only fields never appear in the RFC 7591 response.
      for (const field of ['skip_consent', 'introspect_any_token', 'access_token_ttl', 'source', 'refresh_token_policy'])
        assert.equal(m[field], undefined, field);

      const stored = await t.latch.storage.clients.lookup(m.client_id as string);
      assert.ok(stored);
      assert.equal(stored.source, 'dynamic');
      assert.deepEqual(stored.secretHash, sha256(m.client_secret as string));
      assert.deepEqual(stored.registrationAccessTokenHash, sha256(m.registration_access_token as string));
    });

    test('the response is 201, JSON and not cacheable', async () => {
      const res = await register(t, { redirect_uris: ['https://app.example.com/cb'] });
      assert.equal(res.status, 201);
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
      assert.equal(res.headers.get('cache-control'), 'no-store');
      assert.equal(res.headers.get('pragma'), 'no-cache');
      // Defaults (RFC 7591 §2): authorization_code, code, client_secret_basic.
      assert.deepEqual(res.body.grant_types, ['authorization_code']);
      assert.equal(res.body.token_endpoint_auth_method, 'client_secret_basic');
      assert.equal(checkToken(res.body.client_secret as string), 'cs');
    });

    test('a public native client registers loopback redirect URIs without a port (RFC 8252 §7.3) and a private-use scheme (§7.1)', async () => {
      const redirectUris = ['http://127.0.0.1/callback', 'http://[::1]/callback', 'com.example.notes:/oauth2redirect'];
      const config = await client.dynamicClientRegistration(
        new URL(t.issuer),
        {
          client_name: 'Notes for Desktop',
          application_type: 'native',
          token_endpoint_auth_method: 'none',
          redirect_uris: redirectUris,
          grant_types: ['authorization_code', 'refresh_token'],
        },
        client.None(),
        { execute: [client.allowInsecureRequests] },
      );
      const m = config.clientMetadata();
      assert.equal(m.client_secret, undefined, 'a public client gets no secret');
      assert.equal(m.client_secret_expires_at, undefined);
      assert.equal(m.token_endpoint_auth_method, 'none');
      assert.equal(m.application_type, 'native');
      assert.deepEqual(m.redirect_uris, redirectUris);
      assert.equal(checkToken(m.registration_access_token as string), 'rat');
      const stored = await t.latch.storage.clients.lookup(m.client_id as string);
      assert.equal(stored?.secretHash, null);
    });

    test('a private-use scheme needs application_type native and a reverse-domain scheme', async () => {
      const web = await register(t, { token_endpoint_auth_method: 'none', redirect_uris: ['com.example.notes:/cb'] });
      assert.equal(web.status, 400);
      assert.equal(web.body.error, 'invalid_redirect_uri');
      assert.equal(web.body.field, 'redirect_uris');
      const notReverseDomain = await register(t, { application_type: 'native', token_endpoint_auth_method: 'none', redirect_uris: ['myapp:/cb'] });
      assert.equal(notReverseDomain.status, 400);
      assert.equal(notReverseDomain.body.error, 'invalid_redirect_uri');
      assert.match(notReverseDomain.body.error_description as string, /RFC 8252/);
    });

    test('Latch policy fields cannot be set by dynamic registration; unknown metadata is ignored (RFC 7591 §2)', async () => {
      const res = await register(t, {
        redirect_uris: ['https://app.example.com/cb'],
        skip_consent: true,
        introspect_any_token: true,
        access_token_ttl: 86400,
        refresh_token_policy: 'never',
        client_id: 'chosen-by-client',
        client_secret: 'chosen-by-client',
        some_future_extension: { x: 1 },
      });
      assert.equal(res.status, 201);
      assert.notEqual(res.body.client_id, 'chosen-by-client');
      assert.notEqual(res.body.client_secret, 'chosen-by-client');
      assert.equal(res.body.some_future_extension, undefined);
      const view = await t.admin('GET', `/admin/v1/clients/${res.body.client_id}`);
      assert.equal(view.status, 200);
      assert.equal(view.body.skip_consent, false);
      assert.equal(view.body.introspect_any_token, false);
      assert.equal(view.body.access_token_ttl, null);
      assert.equal(view.body.source, 'dynamic');
      assert.equal(view.body.some_future_extension, undefined);
    });

    test('each registration is audited', async () => {
      const res = await register(t, { redirect_uris: ['https://audited.example.com/cb'] });
      const events = await t.admin<{ events: { actor: string; action: string; target_id: string }[] }>(
        'GET',
        `/admin/v1/audit?target_type=client&target_id=${res.body.client_id}`,
      );
      assert.deepEqual(
        events.body.events.map((e) => [e.actor, e.action]),
        [['dynamic-registration', 'client.create']],
      );
    });

    const invalid: [string, unknown, string, string][] = [
      ['a redirect URI with a fragment', { redirect_uris: ['https://app.example.com/cb#x'] }, 'invalid_redirect_uri', 'redirect_uris'],
      ['a relative redirect URI', { redirect_uris: ['/cb'] }, 'invalid_redirect_uri', 'redirect_uris'],
      ['plain http to a non-loopback host', { redirect_uris: ['http://app.example.com/cb'] }, 'invalid_redirect_uri', 'redirect_uris'],
      ['a javascript: redirect URI', { application_type: 'native', redirect_uris: ['javascript:alert(1)'] }, 'invalid_redirect_uri', 'redirect_uris'],
      ['authorization_code without redirect URIs', { grant_types: ['authorization_code'] }, 'invalid_redirect_uri', 'redirect_uris'],
      ['redirect_uris as a string', { redirect_uris: 'https://app.example.com/cb' }, 'invalid_client_metadata', 'redirect_uris'],
      ['an unsupported grant type', { grant_types: ['password'], redirect_uris: ['https://a.example/cb'] }, 'invalid_client_metadata', 'grant_types'],
      ['the implicit response type', { response_types: ['token'], redirect_uris: ['https://a.example/cb'] }, 'invalid_client_metadata', 'response_types'],
      [
        'an unknown auth method',
        { token_endpoint_auth_method: 'tls_client_auth', grant_types: ['client_credentials'] },
        'invalid_client_metadata',
        'token_endpoint_auth_method',
      ],
      [
        'client_credentials for a public client',
        { token_endpoint_auth_method: 'none', grant_types: ['client_credentials'] },
        'invalid_client_metadata',
        'grant_types',
      ],
      ['a bad application_type', { application_type: 'desktop', redirect_uris: ['https://a.example/cb'] }, 'invalid_client_metadata', 'application_type'],
      ['a scope with a bad character', { scope: 'read "all"', grant_types: ['client_credentials'] }, 'invalid_client_metadata', 'scope'],
      ['client_name as a number', { client_name: 42, grant_types: ['client_credentials'] }, 'invalid_client_metadata', 'client_name'],
      ['a NUL character in client_name', { client_name: 'evil\u0000name', grant_types: ['client_credentials'] }, 'invalid_client_metadata', 'client_name'],
      [
        'a newline in a contact',
        { contacts: ['ops@example.com\nBcc: x@example.com'], grant_types: ['client_credentials'] },
        'invalid_client_metadata',
        'contacts',
      ],
      ['a logo_uri that is not a URL', { logo_uri: 'logo.png', grant_types: ['client_credentials'] }, 'invalid_client_metadata', 'logo_uri'],
      ['jwks with a private key', { jwks: { keys: [{ kty: 'EC', d: 'x' }] }, grant_types: ['client_credentials'] }, 'invalid_client_metadata', 'jwks'],
    ];
    for (const [name, body, error, field] of invalid) {
      test(`rejects ${name}: 400 ${error} naming ${field}`, async () => {
        const res = await register(t, body);
        assert.equal(res.status, 400, JSON.stringify(res.body));
        assert.equal(res.body.error, error);
        assert.equal(res.body.field, field);
        assert.match(res.body.error_description as string, new RegExp(`^${field}: `));
        assert.equal(res.headers.get('cache-control'), 'no-store');
      });
    }

    test('malformed requests get a 4xx JSON error, never a 500', async () => {
      const cases: [string, RequestInit, number, string][] = [
        ['invalid JSON', { body: '{"redirect_uris": [', headers: { 'content-type': 'application/json' } }, 400, 'invalid_request'],
        ['an empty body', { body: '', headers: { 'content-type': 'application/json' } }, 400, 'invalid_client_metadata'],
        ['a JSON array', { body: '[]', headers: { 'content-type': 'application/json' } }, 400, 'invalid_client_metadata'],
        ['a JSON string', { body: '"hello"', headers: { 'content-type': 'application/json' } }, 400, 'invalid_client_metadata'],
        ['JSON null', { body: 'null', headers: { 'content-type': 'application/json' } }, 400, 'invalid_client_metadata'],
        [
          'a form body',
          { body: 'redirect_uris=https://a.example/cb', headers: { 'content-type': 'application/x-www-form-urlencoded' } },
          415,
          'invalid_request',
        ],
        ['text/plain', { body: '{}', headers: { 'content-type': 'text/plain' } }, 415, 'invalid_request'],
        [
          'a body over 64 KiB',
          { body: JSON.stringify({ client_name: 'x'.repeat(70_000) }), headers: { 'content-type': 'application/json' } },
          413,
          'invalid_request',
        ],
        [
          'a 2001-character redirect URI',
          { body: JSON.stringify({ redirect_uris: [`https://a.example/${'x'.repeat(2000)}`] }), headers: { 'content-type': 'application/json' } },
          400,
          'invalid_client_metadata',
        ],
        [
          '101 redirect URIs',
          {
            body: JSON.stringify({ redirect_uris: Array.from({ length: 101 }, (_, i) => `https://a.example/${i}`) }),
            headers: { 'content-type': 'application/json' },
          },
          400,
          'invalid_client_metadata',
        ],
        [
          'a prototype-polluting key',
          { body: '{"__proto__": {"skip_consent": true}, "grant_types": ["client_credentials"]}', headers: { 'content-type': 'application/json' } },
          201,
          '',
        ],
      ];
      for (const [name, init, status, error] of cases) {
        const res = await call(`${t.issuer}/oauth2/register`, { method: 'POST', ...init });
        assert.equal(res.status, status, `${name}: ${JSON.stringify(res.body)}`);
        if (error) assert.equal((res.body as Record<string, unknown>).error, error, name);
        if (status === 201) {
          const view = await t.admin('GET', `/admin/v1/clients/${res.body.client_id}`);
          assert.equal(view.body.skip_consent, false, name);
        }
      }
    });

    test('under the open policy an Authorization header is ignored', async () => {
      const res = await register(t, { grant_types: ['client_credentials'] }, { authorization: 'Bearer whatever' });
      assert.equal(res.status, 201);
    });

    test('GET on the registration endpoint itself is not a registration', async () => {
      const res = await call(`${t.issuer}/oauth2/register`);
      assert.equal(res.status, 404);
      assert.equal((res.body as Record<string, unknown>).error, 'not_found');
    });
  });
}
