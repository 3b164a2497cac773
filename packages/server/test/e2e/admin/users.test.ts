/** Admin API: /admin/v1/users, success paths, bad input, pagination and audit. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { verifyPassword } from '../../../src/crypto/password.ts';
import { backends } from '../../support/backends.ts';
import { startLatch, type TestLatch } from '../../support/latch.ts';
import { adminJson, adminRaw, assertAudit, assertFieldError, assertJsonError, auditFor } from './helpers.ts';

interface UserView {
  id: string;
  username: string;
  email: string | null;
  email_verified: boolean;
  name: string | null;
  created_at: string;
  updated_at: string;
  password_changed_at: string | null;
  deactivated_at: string | null;
  active: boolean;
}

for (const backend of backends()) {
  describe(`[${backend}] admin API: users`, () => {
    let t: TestLatch;
    before(async () => {
      t = await startLatch(backend);
    });
    after(() => t.close());

    const create = (body: Record<string, unknown>) => t.admin<UserView>('POST', '/admin/v1/users', body);

    test('POST creates a user: 201, Location, public fields only, argon2id hash stored, audit event', async () => {
      const since = Date.now();
      const res = await create({ username: 'Alice', password: 'correct horse battery', email: 'alice@example.com', name: 'Alice A.' });
      assert.equal(res.status, 201);
      assert.equal(res.headers.get('location'), `/admin/v1/users/${res.body.id}`);
      assert.equal(res.body.username, 'Alice');
      assert.equal(res.body.email, 'alice@example.com');
      assert.equal(res.body.email_verified, false);
      assert.equal(res.body.name, 'Alice A.');
      assert.equal(res.body.active, true);
      assert.equal(res.body.deactivated_at, null);
      assert.ok(res.body.password_changed_at);
      assert.deepEqual(Object.keys(res.body).sort(), [
        'active',
        'created_at',
        'deactivated_at',
        'email',
        'email_verified',
        'id',
        'name',
        'password_changed_at',
        'updated_at',
        'username',
      ]);
      assert.doesNotMatch(JSON.stringify(res.body), /password_hash|argon2|correct horse/);

      const stored = await t.latch.storage.users.lookup(res.body.id);
      assert.match(stored?.passwordHash ?? '', /^\$argon2id\$/);
      assert.equal(await verifyPassword(stored?.passwordHash as string, 'correct horse battery'), true);

      const events = await auditFor(t, 'user', res.body.id);
      assert.equal(events.length, 1);
      assertAudit(events[0], 'user.create', { type: 'user', id: res.body.id }, since);
      assert.doesNotMatch(JSON.stringify(events), /correct horse/, 'the audit log never holds the password');
    });

    test('a user without a password can be created (sign-in disabled until one is set)', async () => {
      const res = await create({ username: 'no-password-user' });
      assert.equal(res.status, 201);
      assert.equal(res.body.password_changed_at, null);
      assert.equal((await t.latch.storage.users.lookup(res.body.id))?.passwordHash, null);
    });

    test('usernames are unique case-insensitively: 409 conflict naming the field', async () => {
      assert.equal((await create({ username: 'Bob.Builder', password: 'password-123' })).status, 201);
      for (const username of ['bob.builder', 'BOB.BUILDER', 'Bob.Builder']) {
        const res = await adminJson(t, 'POST', '/admin/v1/users', { username, password: 'password-123' });
        assertFieldError(res, 'username', { status: 409, error: 'conflict' });
      }
      // Renaming another user onto it is refused the same way.
      const other = await create({ username: 'carl' });
      assertFieldError(await adminJson(t, 'PATCH', `/admin/v1/users/${other.body.id}`, { username: 'BOB.builder' }), 'username', {
        status: 409,
        error: 'conflict',
      });
      // Renaming a user to a different case of its own name is fine.
      const self = await t.admin<UserView>('PATCH', `/admin/v1/users/${other.body.id}`, { username: 'Carl' });
      assert.equal(self.status, 200);
      assert.equal(self.body.username, 'Carl');
    });

    test('GET returns the user; unknown ids are 404 JSON', async () => {
      const created = await create({ username: 'dana', password: 'password-123' });
      const res = await t.admin<UserView>('GET', `/admin/v1/users/${created.body.id}`);
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, created.body);
      assertJsonError(await adminRaw(t, 'GET', '/admin/v1/users/does-not-exist'), 404, 'not_found');
      assertJsonError(await adminJson(t, 'PATCH', '/admin/v1/users/does-not-exist', { name: 'x' }), 404, 'not_found');
      assertJsonError(await adminRaw(t, 'DELETE', '/admin/v1/users/does-not-exist'), 404, 'not_found');
    });

    test('PATCH updates fields, changes the password, deactivates and reactivates; every change is audited', async () => {
      const since = Date.now();
      const created = await create({ username: 'erin', password: 'first-password' });
      const id = created.body.id;
      const before = await t.latch.storage.users.lookup(id);

      const patched = await t.admin<UserView>('PATCH', `/admin/v1/users/${id}`, { email: 'erin@example.com', email_verified: true, name: 'Erin' });
      assert.equal(patched.status, 200);
      assert.equal(patched.body.email, 'erin@example.com');
      assert.equal(patched.body.email_verified, true);
      assert.equal(patched.body.name, 'Erin');
      assert.equal(patched.body.username, 'erin');

      const pw = await t.admin<UserView>('PATCH', `/admin/v1/users/${id}`, { password: 'second-password' });
      assert.equal(pw.status, 200);
      const after = await t.latch.storage.users.lookup(id);
      assert.notEqual(after?.passwordHash, before?.passwordHash);
      assert.equal(await verifyPassword(after?.passwordHash as string, 'second-password'), true);
      assert.equal(await verifyPassword(after?.passwordHash as string, 'first-password'), false);
      assert.ok((after?.passwordChangedAt ?? 0) >= (before?.passwordChangedAt ?? 0));

      const cleared = await t.admin<UserView>('PATCH', `/admin/v1/users/${id}`, { email: null });
      assert.equal(cleared.body.email, null);

      const off = await t.admin<UserView>('PATCH', `/admin/v1/users/${id}`, { active: false });
      assert.equal(off.body.active, false);
      assert.ok(off.body.deactivated_at);
      const on = await t.admin<UserView>('PATCH', `/admin/v1/users/${id}`, { active: true });
      assert.equal(on.body.active, true);
      assert.equal(on.body.deactivated_at, null);

      const events = await auditFor(t, 'user', id);
      assert.deepEqual(
        events.map((e) => e.action),
        ['user.create', 'user.update', 'user.update', 'user.update', 'user.update', 'user.update'],
      );
      for (const e of events) assertAudit(e, e.action, { type: 'user', id }, since);
      assert.deepEqual(events[2]?.details, { fields: ['password'] }, 'the audit names the field, never the value');
      assert.doesNotMatch(JSON.stringify(events), /second-password|first-password/);
    });

    test('DELETE deactivates: the user stays (its id is never reused), inactive, and the name stays taken', async () => {
      const since = Date.now();
      const created = await create({ username: 'frank', password: 'password-123' });
      const id = created.body.id;
      const res = await t.admin<UserView>('DELETE', `/admin/v1/users/${id}`);
      assert.equal(res.status, 200);
      assert.equal(res.body.active, false);
      assert.ok(res.body.deactivated_at);
      const got = await t.admin<UserView>('GET', `/admin/v1/users/${id}`);
      assert.equal(got.body.active, false);
      assert.equal((await t.latch.storage.users.lookup(id))?.deactivatedAt !== null, true);
      assertFieldError(await adminJson(t, 'POST', '/admin/v1/users', { username: 'FRANK' }), 'username', { status: 409, error: 'conflict' });
      // Deactivating twice keeps the first time.
      const again = await t.admin<UserView>('DELETE', `/admin/v1/users/${id}`);
      assert.equal(again.body.deactivated_at, res.body.deactivated_at);
      const events = await auditFor(t, 'user', id);
      assertAudit(events[1], 'user.update', { type: 'user', id }, since);
      assert.deepEqual(events[1]?.details, { fields: ['active'] });
    });

    test('GET lists users with cursor pagination and q / active filters', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push((await create({ username: `pager_${i}` })).body.id);
      await t.admin('DELETE', `/admin/v1/users/${ids[1]}`);

      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const res: { status: number; body: { users: UserView[]; next_cursor: string | null } } = await t.admin(
          'GET',
          `/admin/v1/users?q=pager_&limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
        );
        assert.equal(res.status, 200);
        assert.ok(res.body.users.length <= 2);
        seen.push(...res.body.users.map((u) => u.id));
        cursor = res.body.next_cursor;
        pages++;
      } while (cursor);
      assert.equal(pages, 3);
      assert.deepEqual(seen, ids, 'every user once, in creation order');

      const active = await t.admin<{ users: UserView[] }>('GET', '/admin/v1/users?q=PAGER_&active=true');
      assert.deepEqual(
        active.body.users.map((u) => u.id),
        ids.filter((_, i) => i !== 1),
      );
      const inactive = await t.admin<{ users: UserView[]; next_cursor: null }>('GET', '/admin/v1/users?q=pager_&active=false');
      assert.deepEqual(
        inactive.body.users.map((u) => u.id),
        [ids[1]],
      );
      assert.equal(inactive.body.next_cursor, null);
      const one = await t.admin<{ users: UserView[] }>('GET', '/admin/v1/users?q=pager_3');
      assert.deepEqual(
        one.body.users.map((u) => u.username),
        ['pager_3'],
      );
      assert.doesNotMatch(JSON.stringify(await t.admin('GET', '/admin/v1/users?limit=200')), /argon2|password_hash/);
    });

    test('list rejects bad query parameters with 400 naming the parameter', async () => {
      assertFieldError(await adminRaw(t, 'GET', '/admin/v1/users?cursor=not-a-cursor'), 'cursor');
      assertFieldError(await adminRaw(t, 'GET', `/admin/v1/users?cursor=${Buffer.from('[1,2,3]').toString('base64url')}x`), 'cursor');
      assertFieldError(await adminRaw(t, 'GET', '/admin/v1/users?limit=0'), 'limit');
      assertFieldError(await adminRaw(t, 'GET', '/admin/v1/users?limit=201'), 'limit');
      assertFieldError(await adminRaw(t, 'GET', '/admin/v1/users?limit=ten'), 'limit');
      assertFieldError(await adminRaw(t, 'GET', '/admin/v1/users?active=maybe'), 'active');
      assertFieldError(await adminRaw(t, 'GET', '/admin/v1/users?sort=name'), 'sort');
      assertFieldError(await adminRaw(t, 'GET', `/admin/v1/users?q=${'x'.repeat(65)}`), 'q');
    });

    test('POST rejects bad input with 400 naming the field, and creates nothing', async () => {
      const cases: [unknown, string][] = [
        [{}, 'username'],
        [{ password: 'password-123' }, 'username'],
        [{ username: 42 }, 'username'],
        [{ username: ['a'] }, 'username'],
        [{ username: '' }, 'username'],
        [{ username: 'has space' }, 'username'],
        [{ username: '-starts-with-dash' }, 'username'],
        [{ username: 'x'.repeat(65) }, 'username'],
        [{ username: 'gina', password: 12345678 }, 'password'],
        [{ username: 'gina', password: 'short' }, 'password'],
        [{ username: 'gina', password: 'p'.repeat(1025) }, 'password'],
        [{ username: 'gina', email: 'not-an-email' }, 'email'],
        [{ username: 'gina', email: 7 }, 'email'],
        [{ username: 'gina', email_verified: 'yes' }, 'email_verified'],
        [{ username: 'gina', name: 'n'.repeat(201) }, 'name'],
        [{ username: 'gina', is_admin: true }, 'is_admin'],
        [{ username: 'gina', password_hash: '$argon2id$…' }, 'password_hash'],
      ];
      for (const [body, field] of cases) assertFieldError(await adminJson(t, 'POST', '/admin/v1/users', body), field);
      assert.equal(await t.latch.storage.users.findByUsername('gina'), undefined);
    });

    test('PATCH rejects bad input with 400 naming the field, and changes nothing', async () => {
      const created = await create({ username: 'hank', password: 'password-123' });
      const path = `/admin/v1/users/${created.body.id}`;
      const cases: [unknown, string][] = [
        [{ username: 5 }, 'username'],
        [{ username: 'bad name' }, 'username'],
        [{ password: 'short' }, 'password'],
        [{ email: 'nope' }, 'email'],
        [{ active: 'no' }, 'active'],
        [{ email_verified: 1 }, 'email_verified'],
        [{ id: 'other' }, 'id'],
        [{ created_at: 0 }, 'created_at'],
      ];
      for (const [body, field] of cases) assertFieldError(await adminJson(t, 'PATCH', path, body), field);
      const empty = await adminJson(t, 'PATCH', path, {});
      assertJsonError(empty, 400, 'invalid_request');
      const after = await t.admin<UserView>('GET', path);
      assert.deepEqual(after.body, created.body);
    });

    test('non-object, malformed, empty, oversized and mistyped bodies are 4xx JSON, never 500', async () => {
      for (const method of ['POST', 'PATCH']) {
        const path = method === 'POST' ? '/admin/v1/users' : `/admin/v1/users/${(await create({ username: `body-${method}` })).body.id}`;
        assertJsonError(await adminRaw(t, method, path, { body: '{"username": "x",', contentType: 'application/json' }), 400, 'invalid_request');
        assertJsonError(await adminRaw(t, method, path, { body: '[1,2]', contentType: 'application/json' }), 400, 'invalid_request');
        assertJsonError(await adminRaw(t, method, path, { body: '"just a string"', contentType: 'application/json' }), 400, 'invalid_request');
        assertJsonError(await adminRaw(t, method, path, { body: 'null', contentType: 'application/json' }), 400, 'invalid_request');
        assertJsonError(await adminRaw(t, method, path, { body: '', contentType: 'application/json' }), 400, 'invalid_request');
        assertJsonError(await adminRaw(t, method, path), 400, 'invalid_request');
        assertJsonError(await adminRaw(t, method, path, { body: 'username=x', contentType: 'text/plain' }), 415, 'invalid_request');
        const big = JSON.stringify({ username: 'big', name: 'x'.repeat(65 * 1024) });
        assertJsonError(await adminRaw(t, method, path, { body: big, contentType: 'application/json' }), 413, 'invalid_request');
      }
    });
  });
}
