import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { mintToken } from '../../../src/crypto/random.ts';
import { backends } from '../../support/backends.ts';
import { startLatch, type TestLatch } from '../../support/latch.ts';
import { bearer, call, confidentialWebClient, type JsonResponse, register, WIDE_LIMITS } from './helpers.ts';

const sha256 = (v: string) => createHash('sha256').update(v).digest();

for (const backend of backends()) {
  describe(`[${backend}] client management (RFC 7592)`, () => {
    let t: TestLatch;
    before(async () => {
      t = await startLatch(backend, { config: { 'registration.policy': 'open', ...WIDE_LIMITS } });
    });
    after(() => t.close());

    const registered = async (body: Record<string, unknown> = confidentialWebClient) => {
      const res = await register(t, body);
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body as Record<string, unknown> & { client_id: string; registration_access_token: string; registration_client_uri: string };
    };
    const put = (uri: string, token: string, body: unknown): Promise<JsonResponse> =>
      call(uri, { method: 'PUT', headers: { 'content-type': 'application/json', ...bearer(token) }, body: JSON.stringify(body) });

    test('GET reads the registration; the token is echoed, not rotated, and the secret is never shown again', async () => {
      const reg = await registered();
      const res = await call(reg.registration_client_uri, { headers: bearer(reg.registration_access_token) });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('cache-control'), 'no-store');
      assert.equal(res.body.client_id, reg.client_id);
      assert.equal(res.body.client_secret, undefined);
      assert.equal(res.body.client_secret_expires_at, 0);
      assert.equal(res.body.client_id_issued_at, reg.client_id_issued_at);
      assert.equal(res.body.registration_access_token, reg.registration_access_token);
      assert.equal(res.body.registration_client_uri, reg.registration_client_uri);
      for (const field of ['redirect_uris', 'grant_types', 'response_types', 'token_endpoint_auth_method', 'client_name', 'scope', 'application_type']) {
        assert.deepEqual(res.body[field], reg[field], field);
      }
      // Reading twice works: no rotation, so a lost response never locks the client out.
      assert.equal((await call(reg.registration_client_uri, { headers: bearer(reg.registration_access_token) })).status, 200);
    });

    test('wrong, missing or foreign tokens: 401 invalid_token with a Bearer challenge, whatever the operation', async () => {
      const reg = await registered();
      const other = await registered();
      const cases: [string, Record<string, string>, boolean][] = [
        ['no Authorization header', {}, false],
        ['a garbage token', bearer('not-a-token'), true],
        ['a well-formed token never issued', bearer(mintToken('rat').token), true],
        ["another client's registration access token", bearer(other.registration_access_token), true],
        ['a Basic credential', { authorization: `Basic ${Buffer.from(`${reg.client_id}:${reg.client_secret}`).toString('base64')}` }, true],
        ['the client secret as a bearer token', bearer(reg.client_secret as string), true],
      ];
      for (const method of ['GET', 'PUT', 'DELETE']) {
        for (const [name, headers, presented] of cases) {
          const res = await call(reg.registration_client_uri, {
            method,
            headers: { ...headers, ...(method === 'PUT' ? { 'content-type': 'application/json' } : {}) },
            ...(method === 'PUT' ? { body: JSON.stringify({ ...confidentialWebClient, client_id: reg.client_id }) } : {}),
          });
          assert.equal(res.status, 401, `${method} with ${name}`);
          assert.equal(res.body.error, 'invalid_token', `${method} with ${name}`);
          const challenge = res.headers.get('www-authenticate') ?? '';
          if (presented) assert.match(challenge, /^Bearer realm="[^"]+", error="invalid_token"/, `${method} with ${name}`);
          else assert.equal(challenge, `Bearer realm="${t.issuer}"`);
        }
      }
      // Nothing changed: the client still reads as registered.
      const read = await call(reg.registration_client_uri, { headers: bearer(reg.registration_access_token) });
      assert.equal(read.status, 200);
      assert.equal(read.body.client_name, confidentialWebClient.client_name);
    });

    test('an unknown client id gives the same 401 as a wrong token (RFC 7592 §2.1)', async () => {
      const reg = await registered();
      const res = await call(`${t.issuer}/oauth2/register/no-such-client`, { headers: bearer(reg.registration_access_token) });
      assert.equal(res.status, 401);
      assert.equal(res.body.error, 'invalid_token');
    });

    test('odd client ids in the path are unknown clients (401) or a 4xx, never a 500', async () => {
      const reg = await registered();
      for (const id of ['%00', '%7F', 'a%20b', encodeURIComponent('é'), 'x'.repeat(150)]) {
        const res = await call(`${t.issuer}/oauth2/register/${id}`, { headers: bearer(reg.registration_access_token) });
        assert.equal(res.status, 401, id);
        assert.equal(res.body.error, 'invalid_token');
      }
      const long = await call(`${t.issuer}/oauth2/register/${'x'.repeat(300)}`, { headers: bearer(reg.registration_access_token) });
      assert.ok(long.status >= 400 && long.status < 500, String(long.status));
    });

    test('a client registered through the admin API has no registration access token and cannot be managed here', async () => {
      const admin = await t.admin('POST', '/admin/v1/clients', { client_name: 'admin made', grant_types: ['client_credentials'] });
      assert.equal(admin.status, 201);
      assert.equal(admin.body.registration_access_token, undefined);
      const stored = await t.latch.storage.clients.lookup(admin.body.client_id as string);
      assert.equal(stored?.registrationAccessTokenHash, null);
      const res = await call(`${t.issuer}/oauth2/register/${admin.body.client_id}`, { headers: bearer(mintToken('rat').token) });
      assert.equal(res.status, 401);
      const del = await call(`${t.issuer}/oauth2/register/${admin.body.client_id}`, { method: 'DELETE', headers: bearer(mintToken('rat').token) });
      assert.equal(del.status, 401);
      assert.equal((await t.admin('GET', `/admin/v1/clients/${admin.body.client_id}`)).status, 200);
    });

    test('PUT replaces the registration: omitted fields are removed, the same token keeps working, the secret stays', async () => {
      const reg = await registered({ ...confidentialWebClient, client_uri: 'https://runner.example.org', logo_uri: 'https://runner.example.org/logo.png' });
      const res = await put(reg.registration_client_uri, reg.registration_access_token, {
        client_id: reg.client_id,
        client_name: 'Workflow Runner 2',
        redirect_uris: ['https://runner.example.org/callback2'],
        grant_types: ['authorization_code'],
        token_endpoint_auth_method: 'client_secret_basic',
        // Echoing server-assigned fields back is tolerated (they are ignored).
        client_id_issued_at: reg.client_id_issued_at,
        client_secret_expires_at: 0,
        registration_client_uri: reg.registration_client_uri,
        registration_access_token: reg.registration_access_token,
      });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.headers.get('cache-control'), 'no-store');
      assert.equal(res.body.client_name, 'Workflow Runner 2');
      assert.deepEqual(res.body.redirect_uris, ['https://runner.example.org/callback2']);
      assert.deepEqual(res.body.grant_types, ['authorization_code']);
      assert.equal(res.body.client_uri, undefined, 'omitted means deleted (RFC 7592 §2.2)');
      assert.equal(res.body.logo_uri, undefined);
      // RFC 7591 §2: an omitted scope registers the server's default set, the allowed one (RFC 7591 §5).
      assert.equal(res.body.scope, WIDE_LIMITS['registration.allowedScopes']);
      assert.equal(res.body.client_secret, undefined, 'the secret is not re-issued');
      assert.equal(res.body.registration_access_token, reg.registration_access_token);
      const stored = await t.latch.storage.clients.lookup(reg.client_id);
      assert.deepEqual(stored?.secretHash, sha256(reg.client_secret as string), 'the secret still works');
      const read = await call(reg.registration_client_uri, { headers: bearer(reg.registration_access_token) });
      assert.equal(read.body.client_name, 'Workflow Runner 2');
      assert.equal(read.body.client_uri, undefined);
    });

    test('PUT requires the matching client_id; a client_secret must be the current one and cannot be chosen', async () => {
      const reg = await registered();
      const body = { ...confidentialWebClient };
      const missing = await put(reg.registration_client_uri, reg.registration_access_token, body);
      assert.equal(missing.status, 400);
      assert.equal(missing.body.error, 'invalid_client_metadata');
      assert.equal(missing.body.field, 'client_id');
      const mismatch = await put(reg.registration_client_uri, reg.registration_access_token, { ...body, client_id: 'someone-else' });
      assert.equal(mismatch.status, 400);
      assert.equal(mismatch.body.field, 'client_id');
      const chosen = await put(reg.registration_client_uri, reg.registration_access_token, {
        ...body,
        client_id: reg.client_id,
        client_secret: 'my-own-secret',
      });
      assert.equal(chosen.status, 400);
      assert.equal(chosen.body.error, 'invalid_client_metadata');
      assert.equal(chosen.body.field, 'client_secret');
      const current = await put(reg.registration_client_uri, reg.registration_access_token, {
        ...body,
        client_id: reg.client_id,
        client_secret: reg.client_secret,
      });
      assert.equal(current.status, 200);
      const stored = await t.latch.storage.clients.lookup(reg.client_id);
      assert.deepEqual(stored?.secretHash, sha256(reg.client_secret as string));
    });

    test('PUT validates like registration, naming the field, and changes nothing on error', async () => {
      const reg = await registered();
      const bad = await put(reg.registration_client_uri, reg.registration_access_token, {
        ...confidentialWebClient,
        client_id: reg.client_id,
        redirect_uris: ['http://evil.example.com/cb'],
      });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error, 'invalid_redirect_uri');
      assert.equal(bad.body.field, 'redirect_uris');
      for (const raw of ['[1,2]', '{"client_id":', 'null']) {
        const res = await call(reg.registration_client_uri, {
          method: 'PUT',
          headers: { 'content-type': 'application/json', ...bearer(reg.registration_access_token) },
          body: raw,
        });
        assert.equal(res.status, 400, raw);
      }
      const form = await call(reg.registration_client_uri, {
        method: 'PUT',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...bearer(reg.registration_access_token) },
        body: `client_id=${reg.client_id}`,
      });
      assert.equal(form.status, 415);
      const read = await call(reg.registration_client_uri, { headers: bearer(reg.registration_access_token) });
      assert.deepEqual(read.body.redirect_uris, confidentialWebClient.redirect_uris);
    });

    test('PUT cannot grant Latch policy fields', async () => {
      const reg = await registered();
      const res = await put(reg.registration_client_uri, reg.registration_access_token, {
        ...confidentialWebClient,
        client_id: reg.client_id,
        skip_consent: true,
        introspect_any_token: true,
        access_token_ttl: 86400,
      });
      assert.equal(res.status, 200);
      const view = await t.admin('GET', `/admin/v1/clients/${reg.client_id}`);
      assert.equal(view.body.skip_consent, false);
      assert.equal(view.body.introspect_any_token, false);
      assert.equal(view.body.access_token_ttl, null);
    });

    test('PUT turning a public client confidential issues a secret once; the reverse drops it', async () => {
      const reg = await registered({ application_type: 'native', token_endpoint_auth_method: 'none', redirect_uris: ['http://127.0.0.1/cb'] });
      assert.equal(reg.client_secret, undefined);
      const confidential = await put(reg.registration_client_uri, reg.registration_access_token, {
        client_id: reg.client_id,
        grant_types: ['client_credentials'],
        token_endpoint_auth_method: 'client_secret_post',
      });
      assert.equal(confidential.status, 200, JSON.stringify(confidential.body));
      assert.equal(typeof confidential.body.client_secret, 'string');
      assert.equal(confidential.body.client_secret_expires_at, 0);
      const stored = await t.latch.storage.clients.lookup(reg.client_id);
      assert.deepEqual(stored?.secretHash, sha256(confidential.body.client_secret as string));
      const publicAgain = await put(reg.registration_client_uri, reg.registration_access_token, {
        client_id: reg.client_id,
        application_type: 'native',
        token_endpoint_auth_method: 'none',
        redirect_uris: ['http://127.0.0.1/cb'],
      });
      assert.equal(publicAgain.status, 200);
      assert.equal(publicAgain.body.client_secret, undefined);
      assert.equal((await t.latch.storage.clients.lookup(reg.client_id))?.secretHash, null);
    });

    test('DELETE answers 204; afterwards the client and its registration access token are gone', async () => {
      const reg = await registered();
      const del = await call(reg.registration_client_uri, { method: 'DELETE', headers: bearer(reg.registration_access_token) });
      assert.equal(del.status, 204);
      assert.equal(del.body, undefined);
      assert.equal((await call(reg.registration_client_uri, { headers: bearer(reg.registration_access_token) })).status, 401);
      assert.equal((await call(reg.registration_client_uri, { method: 'DELETE', headers: bearer(reg.registration_access_token) })).status, 401);
      assert.equal((await t.admin('GET', `/admin/v1/clients/${reg.client_id}`)).status, 404);
      const events = await t.admin<{ events: { actor: string; action: string }[] }>('GET', `/admin/v1/audit?target_type=client&target_id=${reg.client_id}`);
      assert.deepEqual(events.body.events.map((e) => `${e.actor} ${e.action}`).sort(), [
        'dynamic-registration client.create',
        'dynamic-registration client.delete',
      ]);
    });
  });
}
