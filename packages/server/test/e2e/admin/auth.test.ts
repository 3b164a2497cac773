/**
 * Admin API authentication (RFC 6750 §2.1 bearer, §3 WWW-Authenticate) and the audit listing.
 * Every admin endpoint refuses a missing or wrong token with 401 before it reads the body.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { backends } from '../../support/backends.ts';
import { ADMIN_TOKEN, startLatch, type TestLatch } from '../../support/latch.ts';
import { type AuditEntry, adminJson, adminRaw, assertFieldError, assertJsonError } from './helpers.ts';

const ENDPOINTS: [string, string][] = [
  ['POST', '/admin/v1/users'],
  ['GET', '/admin/v1/users'],
  ['GET', '/admin/v1/users/some-id'],
  ['PATCH', '/admin/v1/users/some-id'],
  ['DELETE', '/admin/v1/users/some-id'],
  ['POST', '/admin/v1/clients'],
  ['GET', '/admin/v1/clients'],
  ['GET', '/admin/v1/clients/some-id'],
  ['PATCH', '/admin/v1/clients/some-id'],
  ['DELETE', '/admin/v1/clients/some-id'],
  ['POST', '/admin/v1/clients/some-id/secret'],
  ['GET', '/admin/v1/audit'],
  ['GET', '/metrics'],
  ['GET', '/admin/v1/no-such-endpoint'],
];

for (const backend of backends()) {
  describe(`[${backend}] admin API: bearer authentication and audit listing`, () => {
    let t: TestLatch;
    before(async () => {
      t = await startLatch(backend);
    });
    after(() => t.close());

    test('a missing token is 401 JSON with WWW-Authenticate: Bearer on every endpoint', async () => {
      for (const [method, path] of ENDPOINTS) {
        const withBody = method === 'GET' ? {} : { body: '{}', contentType: 'application/json' };
        const res = await adminRaw(t, method, path, { authorization: null, ...withBody });
        assertJsonError(res, 401, 'unauthorized');
        assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer realm="latch-admin"$/, `${method} ${path}`);
        assert.equal(res.headers.get('cache-control'), 'no-store');
      }
    });

    test('a wrong or malformed token is 401 with error="invalid_token" (RFC 6750 §3.1)', async () => {
      const wrong = [`Bearer ${ADMIN_TOKEN}x`, `Bearer ${ADMIN_TOKEN.slice(1)}`, 'Bearer lat_adm_0000000000000000000000000000000000000000000_000000'];
      for (const authorization of wrong) {
        for (const [method, path] of ENDPOINTS) {
          const res = await adminRaw(t, method, path, { authorization });
          assertJsonError(res, 401, 'unauthorized');
          assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer realm="latch-admin", error="invalid_token"$/, `${method} ${path}`);
        }
      }
      for (const authorization of [
        `Basic ${Buffer.from(`admin:${ADMIN_TOKEN}`).toString('base64')}`,
        ADMIN_TOKEN,
        'Bearer',
        `Bearer ${ADMIN_TOKEN} extra`,
        '',
      ]) {
        const res = await adminRaw(t, 'GET', '/admin/v1/users', { authorization });
        assertJsonError(res, 401, 'unauthorized');
        assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer /);
      }
    });

    test('the auth scheme is case-insensitive (RFC 7235 §2.1); the token is not', async () => {
      assert.equal((await adminRaw(t, 'GET', '/admin/v1/users', { authorization: `bearer ${ADMIN_TOKEN}` })).status, 200);
      assert.equal((await adminRaw(t, 'GET', '/admin/v1/users', { authorization: `BEARER ${ADMIN_TOKEN}` })).status, 200);
      assert.equal((await adminRaw(t, 'GET', '/admin/v1/users', { authorization: `Bearer ${ADMIN_TOKEN.toUpperCase()}` })).status, 401);
    });

    test('authentication comes before body parsing: an oversized or malformed body without a token is still 401, and creates nothing', async () => {
      const big = JSON.stringify({ username: 'intruder', name: 'x'.repeat(100 * 1024) });
      assertJsonError(await adminRaw(t, 'POST', '/admin/v1/users', { authorization: null, body: big, contentType: 'application/json' }), 401, 'unauthorized');
      assertJsonError(
        await adminRaw(t, 'POST', '/admin/v1/users', { authorization: null, body: '{"username":', contentType: 'application/json' }),
        401,
        'unauthorized',
      );
      assertJsonError(
        await adminRaw(t, 'POST', '/admin/v1/users', { authorization: 'Bearer nope', body: '{"username":"intruder"}', contentType: 'application/json' }),
        401,
        'unauthorized',
      );
      assert.equal(await t.latch.storage.users.findByUsername('intruder'), undefined);
    });

    test('health endpoints on the admin listener need no token; the public listener has no admin routes', async () => {
      assert.equal((await adminRaw(t, 'GET', '/health/live', { authorization: null })).status, 200);
      assert.equal((await adminRaw(t, 'GET', '/health/ready', { authorization: null })).status, 200);
      for (const [method, path] of ENDPOINTS.filter(([, p]) => p.startsWith('/admin/'))) {
        const res = await fetch(t.issuer + path, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
        assert.equal(res.status, 404, `${method} ${path} is not on the public listener`);
      }
    });

    test('GET /admin/v1/audit pages and filters; bad parameters are 400 naming the parameter', async () => {
      const created: string[] = [];
      for (let i = 0; i < 3; i++) {
        const res = await adminJson(t, 'POST', '/admin/v1/users', { username: `audited-${i}` });
        assert.equal(res.status, 201);
        created.push(res.json.id);
      }
      await adminJson(t, 'PATCH', `/admin/v1/users/${created[0]}`, { name: 'First' });

      const seen: AuditEntry[] = [];
      let cursor: string | null = null;
      do {
        const q: string = `limit=1&target_type=user${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
        const res: { status: number; body: { events: AuditEntry[]; next_cursor: string | null } } = await t.admin('GET', `/admin/v1/audit?${q}`);
        assert.equal(res.status, 200);
        assert.ok(res.body.events.length <= 1);
        seen.push(...res.body.events);
        cursor = res.body.next_cursor;
      } while (cursor);
      assert.equal(new Set(seen.map((e) => e.id)).size, seen.length);
      for (const id of created) assert.ok(seen.some((e) => e.target_id === id && e.action === 'user.create'));
      for (const e of seen) {
        assert.equal(e.actor, 'admin-api');
        assert.match(e.source_ip ?? '', /127\.0\.0\.1|::1/);
        assert.ok(!Number.isNaN(Date.parse(e.created_at)));
      }

      const updates = await t.admin<{ events: AuditEntry[] }>('GET', `/admin/v1/audit?action=user.update&target_id=${created[0]}`);
      assert.deepEqual(
        updates.body.events.map((e) => [e.action, e.target_id]),
        [['user.update', created[0]]],
      );
      assert.equal((await t.admin<{ events: AuditEntry[] }>('GET', '/admin/v1/audit?target_type=nothing')).body.events.length, 0);

      assertFieldError(await adminRaw(t, 'GET', '/admin/v1/audit?cursor=zzz'), 'cursor');
      assertFieldError(await adminRaw(t, 'GET', '/admin/v1/audit?limit=1000'), 'limit');
      assertFieldError(await adminRaw(t, 'GET', '/admin/v1/audit?limit=x'), 'limit');
      assertFieldError(await adminRaw(t, 'GET', '/admin/v1/audit?actor=me'), 'actor');
      assertFieldError(await adminRaw(t, 'GET', `/admin/v1/audit?action=${'a'.repeat(101)}`), 'action');
    });
  });
}
