/**
 * Admin API: /admin/v1/clients: RFC 7591 metadata, a secret shown once and stored as
 * SHA-256, rotation, validation per RFC 7591 §2 / RFC 6749 §3.1.2 / RFC 8252 §7, pagination, audit.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { secretMatches } from '../../../src/crypto/random.ts';
import { checkToken } from '../../../src/domain/token-format.ts';
import { backends } from '../../support/backends.ts';
import { startLatch, type TestLatch } from '../../support/latch.ts';
import { adminJson, adminRaw, assertAudit, assertFieldError, assertJsonError, auditFor } from './helpers.ts';

// biome-ignore lint/suspicious/noExplicitAny: client views are inspected field by field
type ClientView = Record<string, any>;

const web = {
  client_name: 'Notes web app',
  redirect_uris: ['https://notes.example.com/callback'],
  grant_types: ['authorization_code', 'refresh_token'],
  scope: 'openid profile notes:read',
};

const sha256 = (s: string) => createHash('sha256').update(s).digest();

for (const backend of backends()) {
  describe(`[${backend}] admin API: clients`, () => {
    let t: TestLatch;
    before(async () => {
      t = await startLatch(backend);
    });
    after(() => t.close());

    const create = (body: Record<string, unknown>) => t.admin<ClientView>('POST', '/admin/v1/clients', body);

    test('POST registers a confidential client: the secret is shown once and only its SHA-256 is stored', async () => {
      const since = Date.now();
      const res = await create({ ...web, client_uri: 'https://notes.example.com', contacts: ['ops@example.com'] });
      assert.equal(res.status, 201);
      assert.equal(res.headers.get('cache-control'), 'no-store');
      assert.equal(res.headers.get('location'), `/admin/v1/clients/${res.body.client_id}`);
      const secret = res.body.client_secret as string;
      assert.equal(checkToken(secret), 'cs', 'a well-formed lat_cs_ token');
      assert.ok(secret.length >= 43, 'at least 256 bits of randomness');
      assert.equal(res.body.client_secret_expires_at, 0);
      assert.equal(typeof res.body.client_id_issued_at, 'number');
      // RFC 7591 §3.2.1: the registered metadata is echoed with defaults applied.
      assert.deepEqual(res.body.redirect_uris, web.redirect_uris);
      assert.deepEqual(res.body.grant_types, web.grant_types);
      assert.deepEqual(res.body.response_types, ['code']);
      assert.equal(res.body.token_endpoint_auth_method, 'client_secret_basic');
      assert.equal(res.body.application_type, 'web');
      assert.equal(res.body.scope, web.scope);
      assert.equal(res.body.client_name, web.client_name);
      assert.deepEqual(res.body.contacts, ['ops@example.com']);
      assert.equal(res.body.source, 'admin');

      const stored = await t.latch.storage.clients.lookup(res.body.client_id);
      assert.ok(stored?.secretHash, 'a hash is stored');
      assert.ok(stored.secretHash.equals(sha256(secret)), 'the stored hash is the SHA-256 of the shown secret');
      assert.equal(secretMatches(secret, stored.secretHash), true, 'the shown secret authenticates');
      assert.equal(secretMatches(`${secret}x`, stored.secretHash), false);
      assert.ok(!JSON.stringify(stored.metadata).includes(secret), 'the secret is not in the stored metadata');

      // Never retrievable again: not from GET, not from the list.
      const got = await t.admin<ClientView>('GET', `/admin/v1/clients/${res.body.client_id}`);
      assert.equal(got.status, 200);
      assert.equal(got.body.client_secret, undefined);
      assert.ok(!JSON.stringify(got.body).includes(secret));
      assert.doesNotMatch(JSON.stringify(got.body), /secret_hash|secretHash/);
      const list = await t.admin('GET', '/admin/v1/clients?limit=200');
      assert.ok(!JSON.stringify(list.body).includes(secret));
      assert.ok(!JSON.stringify(list.body).includes('client_secret"'));

      const events = await auditFor(t, 'client', res.body.client_id);
      assertAudit(events[0], 'client.create', { type: 'client', id: res.body.client_id }, since);
      assert.ok(!JSON.stringify(events).includes(secret), 'the audit log never holds the secret');
    });

    test('public and client_credentials clients', async () => {
      const pub = await create({ ...web, token_endpoint_auth_method: 'none' });
      assert.equal(pub.status, 201);
      assert.equal(pub.body.client_secret, undefined, 'public clients get no secret');
      assert.equal((await t.latch.storage.clients.lookup(pub.body.client_id))?.secretHash, null);

      const m2m = await create({ client_name: 'worker', grant_types: ['client_credentials'], scope: 'jobs:run' });
      assert.equal(m2m.status, 201);
      assert.deepEqual(m2m.body.redirect_uris, []);
      assert.deepEqual(m2m.body.response_types, [], 'no response types without authorization_code');
      assert.equal(typeof m2m.body.client_secret, 'string');

      const post = await create({ ...web, token_endpoint_auth_method: 'client_secret_post' });
      assert.equal(typeof post.body.client_secret, 'string');
    });

    test('redirect URIs: loopback http and native private-use schemes are accepted', async () => {
      const loopback = await create({ ...web, redirect_uris: ['http://127.0.0.1:8400/cb', 'http://localhost/cb', 'http://[::1]:9000/cb'] });
      assert.equal(loopback.status, 201, JSON.stringify(loopback.body));
      // RFC 8252 §7.1: a private-use scheme in reverse-domain form, for native apps.
      const native = await create({
        ...web,
        application_type: 'native',
        token_endpoint_auth_method: 'none',
        redirect_uris: ['com.example.notes:/oauth2redirect', 'http://127.0.0.1/callback'],
      });
      assert.equal(native.status, 201, JSON.stringify(native.body));
      assert.equal(native.body.application_type, 'native');
      assert.deepEqual(native.body.redirect_uris, ['com.example.notes:/oauth2redirect', 'http://127.0.0.1/callback']);
    });

    test('invalid redirect URIs are rejected with invalid_redirect_uri naming the field', async () => {
      const bad: [Record<string, unknown>, string][] = [
        [{ redirect_uris: ['/callback'] }, 'relative'],
        [{ redirect_uris: ['callback'] }, 'relative without slash'],
        [{ redirect_uris: ['https://notes.example.com/cb#frag'] }, 'fragment'],
        [{ redirect_uris: ['https://notes.example.com/cb#'] }, 'empty fragment'],
        [{ redirect_uris: ['http://notes.example.com/cb'] }, 'http on a non-loopback host'],
        [{ redirect_uris: ['http://10.0.0.5/cb'] }, 'http on a private address'],
        [{ redirect_uris: ['com.example.notes:/cb'] }, 'private-use scheme for a web app'],
        [{ redirect_uris: ['myapp:/cb'], application_type: 'native', token_endpoint_auth_method: 'none' }, 'scheme not in reverse-domain form'],
        [{ redirect_uris: ['javascript:alert(1)'] }, 'javascript'],
        [{ redirect_uris: ['data:text/html,hi'] }, 'data'],
        [{ redirect_uris: [] }, 'none for authorization_code'],
      ];
      for (const [override, why] of bad) {
        const res = await adminJson(t, 'POST', '/admin/v1/clients', { ...web, ...override });
        assert.equal(res.status, 400, `${why}: ${res.text}`);
        assertFieldError(res, 'redirect_uris', { error: 'invalid_redirect_uri' });
      }
      // Over-long entries are refused by the generic array check (still naming the field).
      const long = await adminJson(t, 'POST', '/admin/v1/clients', { ...web, redirect_uris: [`https://x.example.com/${'a'.repeat(2001)}`] });
      assertFieldError(long, 'redirect_uris', { error: long.json?.error });
      assert.match(long.json?.error, /^invalid_(redirect_uri|client_metadata)$/);
      const logout = await adminJson(t, 'POST', '/admin/v1/clients', { ...web, post_logout_redirect_uris: ['https://notes.example.com/bye#x'] });
      assertFieldError(logout, 'post_logout_redirect_uris', { error: 'invalid_redirect_uri' });
    });

    test('inconsistent or malformed metadata is rejected with invalid_client_metadata naming the field', async () => {
      const bad: [Record<string, unknown>, string][] = [
        // RFC 7591 §2.1: grant_types and response_types must agree.
        [{ grant_types: ['client_credentials'], response_types: ['code'], redirect_uris: [] }, 'response_types'],
        [{ grant_types: ['authorization_code'], response_types: [] }, 'response_types'],
        [{ response_types: ['token'] }, 'response_types'],
        [{ grant_types: ['refresh_token'], redirect_uris: [] }, 'grant_types'],
        [{ grant_types: ['password'] }, 'grant_types'],
        [{ grant_types: ['client_credentials'], token_endpoint_auth_method: 'none', redirect_uris: [] }, 'grant_types'],
        [{ grant_types: 'authorization_code' }, 'grant_types'],
        [{ redirect_uris: 'https://notes.example.com/callback' }, 'redirect_uris'],
        [{ redirect_uris: [42] }, 'redirect_uris'],
        [{ token_endpoint_auth_method: 'client_secret_jwt' }, 'token_endpoint_auth_method'],
        [{ token_endpoint_auth_method: 'private_key_jwt' }, 'token_endpoint_auth_method'],
        [{ application_type: 'desktop' }, 'application_type'],
        [{ client_name: 42 }, 'client_name'],
        [{ client_name: 'n'.repeat(2001) }, 'client_name'],
        [{ scope: 'openid "quoted"' }, 'scope'],
        [{ scope: ['openid'] }, 'scope'],
        [{ client_uri: 'not a url' }, 'client_uri'],
        [{ logo_uri: 'ftp://example.com/logo.png' }, 'logo_uri'],
        [{ jwks_uri: 'http://keys.example.com/jwks' }, 'jwks_uri'],
        [{ jwks: { keys: 'nope' } }, 'jwks'],
        [{ jwks: { keys: [{ kty: 'EC', d: 'private!' }] } }, 'jwks'],
        [{ jwks: { keys: [] }, jwks_uri: 'https://keys.example.com/jwks' }, 'jwks'],
        [{ backchannel_logout_uri: 'https://rp.example.com/logout#f' }, 'backchannel_logout_uri'],
        [{ backchannel_logout_session_required: 'yes' }, 'backchannel_logout_session_required'],
        [{ contacts: 'ops@example.com' }, 'contacts'],
        [{ skip_consent: 'true' }, 'skip_consent'],
        [{ access_token_ttl: 5 }, 'access_token_ttl'],
        [{ access_token_ttl: 1.5 }, 'access_token_ttl'],
        [{ software_statement_x: 'unknown' }, 'software_statement_x'],
        [{ client_secret: 'choose-my-own' }, 'client_secret'],
      ];
      for (const [override, field] of bad) {
        const res = await adminJson(t, 'POST', '/admin/v1/clients', { ...web, ...override });
        assertFieldError(res, field, { error: 'invalid_client_metadata' });
      }
      const listed = await t.admin<{ clients: ClientView[] }>('GET', '/admin/v1/clients?limit=200');
      assert.ok(!listed.body.clients.some((c) => c.client_name === 'n'.repeat(2001)));
    });

    test('non-object, malformed, empty, oversized and mistyped bodies are 4xx JSON, never 500', async () => {
      const existing = await create(web);
      for (const [method, path] of [
        ['POST', '/admin/v1/clients'],
        ['PATCH', `/admin/v1/clients/${existing.body.client_id}`],
      ] as const) {
        assertJsonError(await adminRaw(t, method, path, { body: '{"client_name": ', contentType: 'application/json' }), 400, 'invalid_request');
        for (const body of ['[]', '"x"', '42', 'null']) {
          const res = await adminRaw(t, method, path, { body, contentType: 'application/json' });
          assert.equal(res.status, 400, `${method} ${body}: ${res.text}`);
          assert.match(res.json?.error, /^invalid_(request|client_metadata)$/);
        }
        const empty = await adminRaw(t, method, path);
        assert.equal(empty.status, 400, empty.text);
        assertJsonError(await adminRaw(t, method, path, { body: 'a=b', contentType: 'text/plain' }), 415, 'invalid_request');
        const big = JSON.stringify({ ...web, client_name: 'x'.repeat(65 * 1024) });
        assertJsonError(await adminRaw(t, method, path, { body: big, contentType: 'application/json' }), 413, 'invalid_request');
      }
      assertFieldError(await adminRaw(t, 'GET', `/admin/v1/clients/${'x'.repeat(101)}`), 'client_id');
    });

    test('GET returns the client; unknown ids are 404 JSON on every endpoint', async () => {
      const created = await create(web);
      const got = await t.admin<ClientView>('GET', `/admin/v1/clients/${created.body.client_id}`);
      const { client_secret: _s, client_secret_expires_at: _e, ...withoutSecret } = created.body;
      assert.deepEqual(got.body, withoutSecret);
      assertJsonError(await adminRaw(t, 'GET', '/admin/v1/clients/nope'), 404, 'not_found');
      assertJsonError(await adminJson(t, 'PATCH', '/admin/v1/clients/nope', { client_name: 'x' }), 404, 'not_found');
      assertJsonError(await adminRaw(t, 'DELETE', '/admin/v1/clients/nope'), 404, 'not_found');
      assertJsonError(await adminRaw(t, 'POST', '/admin/v1/clients/nope/secret'), 404, 'not_found');
    });

    test('PATCH changes the given metadata, keeps the rest, and keeps the secret', async () => {
      const since = Date.now();
      const created = await create(web);
      const id = created.body.client_id;
      const res = await t.admin<ClientView>('PATCH', `/admin/v1/clients/${id}`, {
        client_name: 'Renamed',
        redirect_uris: ['https://notes.example.com/cb2'],
        skip_consent: true,
        access_token_ttl: 600,
      });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.client_name, 'Renamed');
      assert.deepEqual(res.body.redirect_uris, ['https://notes.example.com/cb2']);
      assert.equal(res.body.scope, web.scope, 'fields not sent stay');
      assert.equal(res.body.skip_consent, true);
      assert.equal(res.body.access_token_ttl, 600);
      assert.equal(res.body.client_secret, undefined, 'an update does not reveal or change the secret');
      const stored = await t.latch.storage.clients.lookup(id);
      assert.ok(stored?.secretHash?.equals(sha256(created.body.client_secret)));

      // null removes an optional field.
      const cleared = await t.admin<ClientView>('PATCH', `/admin/v1/clients/${id}`, { scope: null });
      assert.equal(cleared.body.scope, undefined);

      const events = await auditFor(t, 'client', id);
      assertAudit(events[1], 'client.update', { type: 'client', id }, since);
    });

    test('PATCH of grant_types derives response_types again unless they are sent (RFC 7591 §2.1)', async () => {
      const worker = await create({ client_name: 'Worker', grant_types: ['client_credentials'] });
      assert.equal(worker.status, 201, JSON.stringify(worker.body));
      const id = worker.body.client_id;
      assert.deepEqual(worker.body.response_types, []);
      const widened = await t.admin<ClientView>('PATCH', `/admin/v1/clients/${id}`, {
        grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
        redirect_uris: ['https://worker.example.com/cb'],
      });
      assert.equal(widened.status, 200, JSON.stringify(widened.body));
      assert.deepEqual(widened.body.response_types, ['code']);
      const narrowed = await t.admin<ClientView>('PATCH', `/admin/v1/clients/${id}`, { grant_types: ['client_credentials'] });
      assert.equal(narrowed.status, 200, JSON.stringify(narrowed.body));
      assert.deepEqual(narrowed.body.response_types, []);
      // Sent explicitly, they are still checked against the grant types.
      const mismatch = await t.admin<{ error: string; error_description: string }>('PATCH', `/admin/v1/clients/${id}`, {
        grant_types: ['client_credentials'],
        response_types: ['code'],
      });
      assert.equal(mismatch.status, 400);
      assert.match(mismatch.body.error_description, /^response_types: /);
      // Other changes keep them as they are.
      assert.deepEqual((await t.admin<ClientView>('PATCH', `/admin/v1/clients/${id}`, { client_name: 'Worker 2' })).body.response_types, []);
    });

    test('PATCH to a public client drops the secret; back to confidential shows a new one once', async () => {
      const created = await create(web);
      const id = created.body.client_id;
      const pub = await t.admin<ClientView>('PATCH', `/admin/v1/clients/${id}`, { token_endpoint_auth_method: 'none' });
      assert.equal(pub.status, 200);
      assert.equal((await t.latch.storage.clients.lookup(id))?.secretHash, null);
      const conf = await t.admin<ClientView>('PATCH', `/admin/v1/clients/${id}`, { token_endpoint_auth_method: 'client_secret_post' });
      assert.equal(conf.status, 200);
      const secret = conf.body.client_secret as string;
      assert.equal(checkToken(secret), 'cs');
      assert.notEqual(secret, created.body.client_secret);
      assert.ok((await t.latch.storage.clients.lookup(id))?.secretHash?.equals(sha256(secret)));
    });

    test('PATCH rejects bad input naming the field and changes nothing', async () => {
      const created = await create(web);
      const path = `/admin/v1/clients/${created.body.client_id}`;
      assertFieldError(await adminJson(t, 'PATCH', path, { redirect_uris: ['http://evil.example.com/cb'] }), 'redirect_uris', {
        error: 'invalid_redirect_uri',
      });
      assertFieldError(await adminJson(t, 'PATCH', path, { grant_types: ['implicit'] }), 'grant_types', { error: 'invalid_client_metadata' });
      assertFieldError(await adminJson(t, 'PATCH', path, { unknown_thing: 1 }), 'unknown_thing', { error: 'invalid_client_metadata' });
      assertFieldError(await adminJson(t, 'PATCH', path, { client_id: 'other' }), 'client_id');
      const after = await t.admin<ClientView>('GET', path);
      const { client_secret: _s, client_secret_expires_at: _e, ...withoutSecret } = created.body;
      assert.deepEqual(after.body, withoutSecret);
    });

    test('POST …/secret rotates: the new secret is shown once, the old one stops matching at once', async () => {
      const since = Date.now();
      const created = await create(web);
      const id = created.body.client_id;
      const old = created.body.client_secret as string;
      const res = await t.admin<ClientView>('POST', `/admin/v1/clients/${id}/secret`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('cache-control'), 'no-store');
      const fresh = res.body.client_secret as string;
      assert.equal(checkToken(fresh), 'cs');
      assert.notEqual(fresh, old);
      const stored = await t.latch.storage.clients.lookup(id);
      assert.ok(stored?.secretHash?.equals(sha256(fresh)));
      assert.equal(secretMatches(fresh, stored?.secretHash), true);
      assert.equal(secretMatches(old, stored?.secretHash), false, 'the old secret no longer works');
      assert.equal((await t.admin<ClientView>('GET', `/admin/v1/clients/${id}`)).body.client_secret, undefined);
      const events = await auditFor(t, 'client', id);
      assertAudit(events[1], 'client.rotate_secret', { type: 'client', id }, since);
      assert.ok(!JSON.stringify(events).includes(fresh));

      // A public client has no secret to rotate.
      const pub = await create({ ...web, token_endpoint_auth_method: 'none' });
      assertFieldError(await adminRaw(t, 'POST', `/admin/v1/clients/${pub.body.client_id}/secret`), 'token_endpoint_auth_method');
    });

    test('DELETE removes the client: 204, then 404; audited', async () => {
      const since = Date.now();
      const created = await create(web);
      const id = created.body.client_id;
      const res = await adminRaw(t, 'DELETE', `/admin/v1/clients/${id}`);
      assert.equal(res.status, 204);
      assert.equal(res.text, '');
      assert.equal(await t.latch.storage.clients.lookup(id), undefined);
      assertJsonError(await adminRaw(t, 'GET', `/admin/v1/clients/${id}`), 404, 'not_found');
      assertJsonError(await adminRaw(t, 'DELETE', `/admin/v1/clients/${id}`), 404, 'not_found');
      const events = await auditFor(t, 'client', id);
      assert.deepEqual(
        events.map((e) => e.action),
        ['client.create', 'client.delete'],
      );
      assertAudit(events[1], 'client.delete', { type: 'client', id }, since);
    });

    test('GET lists clients with cursor pagination and source / grant_type filters', async () => {
      const mine = new Set<string>();
      for (let i = 0; i < 3; i++) mine.add((await create({ ...web, client_name: `listed-${i}` })).body.client_id);
      const m2m = await create({ client_name: 'authorization_code', grant_types: ['client_credentials'] });
      mine.add(m2m.body.client_id);

      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const res: { status: number; body: { clients: ClientView[]; next_cursor: string | null } } = await t.admin(
          'GET',
          `/admin/v1/clients?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
        );
        assert.equal(res.status, 200);
        assert.ok(res.body.clients.length <= 2);
        for (const c of res.body.clients) assert.equal(c.client_secret, undefined);
        seen.push(...res.body.clients.map((c) => c.client_id));
        cursor = res.body.next_cursor;
      } while (cursor);
      assert.equal(new Set(seen).size, seen.length, 'no client twice');
      assert.ok([...mine].every((id) => seen.includes(id)));

      const cc = await t.admin<{ clients: ClientView[] }>('GET', '/admin/v1/clients?grant_type=client_credentials&limit=200');
      assert.ok(cc.body.clients.some((c) => c.client_id === m2m.body.client_id));
      assert.ok(cc.body.clients.every((c) => c.grant_types.includes('client_credentials')));
      const code = await t.admin<{ clients: ClientView[] }>('GET', '/admin/v1/clients?grant_type=authorization_code&limit=200');
      assert.ok(!code.body.clients.some((c) => c.client_id === m2m.body.client_id), 'filters on grant_types, not on the name');
      const admin = await t.admin<{ clients: ClientView[] }>('GET', '/admin/v1/clients?source=admin&limit=200');
      assert.ok(admin.body.clients.every((c) => c.source === 'admin'));
      assert.equal((await t.admin<{ clients: ClientView[] }>('GET', '/admin/v1/clients?source=cli')).body.clients.length, 0);

      assertFieldError(await adminRaw(t, 'GET', '/admin/v1/clients?cursor=%%%'), 'cursor');
      assertFieldError(await adminRaw(t, 'GET', '/admin/v1/clients?cursor=abc'), 'cursor');
      assertFieldError(await adminRaw(t, 'GET', '/admin/v1/clients?source=elsewhere'), 'source');
      assertFieldError(await adminRaw(t, 'GET', '/admin/v1/clients?limit=-1'), 'limit');
      assertFieldError(await adminRaw(t, 'GET', '/admin/v1/clients?owner=me'), 'owner');
    });
  });
}
