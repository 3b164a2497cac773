/**
 * Storage conformance suite (docs/architecture.md §9): one set of tests for the
 * repository interfaces of storage/repositories.ts, run against every backend from `backends()`
 * (SQLite always, PostgreSQL when LATCH_TEST_PG_URL is set). Each group gets a fresh database.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { hashSecret } from '../../src/crypto/random.ts';
import { normalizeUsername } from '../../src/domain/user.ts';
import type { SigningKeyRecord, Storage } from '../../src/storage/repositories.ts';
import { backends } from '../support/backends.ts';
import { collectPages, newClient, newUser, openTestStorage, randomHash, seedSession, type TestStorage, webMetadata } from './harness.ts';

const T0 = 1_700_000_000_000;

for (const backend of backends()) {
  /** A describe block whose tests share one fresh, migrated storage. */
  const group = (name: string, body: (s: () => Storage) => void) =>
    describe(name, () => {
      let ts: TestStorage;
      before(async () => {
        ts = await openTestStorage(backend);
      });
      after(() => ts.dispose());
      body(() => ts.storage);
    });

  describe(`[${backend}] storage conformance`, () => {
    group('users', (s) => {
      test('add, lookup and findByUsername return the same user; unknown ids are undefined', async () => {
        const added = await s().users.add(newUser({ username: 'Alice.Smith', email: 'alice@example.com', emailVerified: true, name: 'Alice' }));
        assert.equal(added.username, 'Alice.Smith');
        const byId = await s().users.lookup(added.id);
        assert.deepEqual(byId, added);
        assert.deepEqual(await s().users.findByUsername('alice.smith'), added);
        assert.deepEqual(await s().users.findByUsername('ALICE.SMITH'), added);
        assert.equal(byId?.emailVerified, true);
        assert.equal(byId?.passwordChangedAt, T0, 'a user created with a password has password_changed_at');
        assert.equal(byId?.deactivatedAt, null);
        assert.equal(await s().users.lookup('nope'), undefined);
        assert.equal(await s().users.findByUsername('nobody-here'), undefined);
      });

      test('the unique index rejects a username that differs only in case or width (NFKC)', async () => {
        await s().users.add(newUser({ username: 'Bob' }));
        await assert.rejects(() => s().users.add(newUser({ username: 'bOB' })));
        // U+FF22 FULLWIDTH LATIN CAPITAL LETTER B folds to "b" under NFKC.
        await assert.rejects(() => s().users.add(newUser({ username: '\uFF22ob' })));
        assert.equal(normalizeUsername('\uFF22ob'), 'bob');
      });

      test('update changes only the given fields, renames through the normalized column, and returns undefined for unknown ids', async () => {
        const u = await s().users.add(newUser({ username: 'carol', email: 'c@example.com', name: 'Carol' }));
        const updated = await s().users.update(u.id, { username: 'Caroline', email: null }, T0 + 10);
        assert.equal(updated?.username, 'Caroline');
        assert.equal(updated?.email, null);
        assert.equal(updated?.name, 'Carol', 'untouched fields stay');
        assert.equal(updated?.updatedAt, T0 + 10);
        assert.equal(updated?.passwordChangedAt, T0, 'password_changed_at moves only with the password');
        assert.equal((await s().users.findByUsername('CAROLINE'))?.id, u.id);
        assert.equal(await s().users.findByUsername('carol'), undefined);

        const pw = await s().users.update(u.id, { passwordHash: 'new-hash', deactivatedAt: T0 + 20 }, T0 + 20);
        assert.equal(pw?.passwordHash, 'new-hash');
        assert.equal(pw?.passwordChangedAt, T0 + 20);
        assert.equal(pw?.deactivatedAt, T0 + 20);
        assert.equal((await s().users.update(u.id, { deactivatedAt: null }, T0 + 30))?.deactivatedAt, null);
        assert.equal(await s().users.update('missing', { name: 'x' }, T0), undefined);
      });

      test('renaming onto another user’s name (any case) violates the unique index', async () => {
        await s().users.add(newUser({ username: 'dave' }));
        const other = await s().users.add(newUser({ username: 'eve' }));
        await assert.rejects(() => s().users.update(other.id, { username: 'DAVE' }, T0));
      });

      test('list pages with cursors in creation order, and filters by query and active', async () => {
        const ids: string[] = [];
        for (let i = 0; i < 7; i++) {
          // Two users share each timestamp: the cursor must break ties by id.
          const u = await s().users.add(newUser({ username: `page_user-${i}`, now: T0 + 1000 + Math.floor(i / 2) }));
          ids.push(u.id);
        }
        const deactivated = ids[3] as string;
        await s().users.update(deactivated, { deactivatedAt: T0 + 5000 }, T0 + 5000);

        const all = await collectPages((cursor) => s().users.list({ limit: 3, cursor, query: 'page_user' }));
        assert.equal(all.pages, 3);
        assert.deepEqual(all.items.map((u) => u.id).sort(), [...ids].sort(), 'every user exactly once');
        const times = all.items.map((u) => u.createdAt);
        assert.deepEqual(
          times,
          [...times].sort((a, b) => a - b),
          'ordered by creation time',
        );

        // `_` in the query is a literal character, not a LIKE wildcard.
        assert.equal((await s().users.list({ limit: 50, query: 'pageXuser' })).items.length, 0);
        assert.equal((await s().users.list({ limit: 50, query: 'PAGE_USER-4' })).items.length, 1, 'query is case-insensitive');
        const active = await collectPages((cursor) => s().users.list({ limit: 2, cursor, query: 'page_user', active: true }));
        assert.equal(active.items.length, 6);
        assert.ok(!active.items.some((u) => u.id === deactivated));
        const inactive = await s().users.list({ limit: 10, query: 'page_user', active: false });
        assert.deepEqual(
          inactive.items.map((u) => u.id),
          [deactivated],
        );
        assert.equal(inactive.nextCursor, undefined, 'no cursor on the last page');
      });

      test('a malformed cursor is rejected with InvalidCursorError, not a database error', async () => {
        for (const cursor of ['garbage', Buffer.from('{"a":1}').toString('base64url'), Buffer.from('[1]').toString('base64url')]) {
          await assert.rejects(() => s().users.list({ limit: 5, cursor }), { name: 'InvalidCursorError' });
        }
      });

      test('remove deletes once', async () => {
        const u = await s().users.add(newUser());
        assert.equal(await s().users.remove(u.id), true);
        assert.equal(await s().users.remove(u.id), false);
        assert.equal(await s().users.lookup(u.id), undefined);
      });
    });

    group('clients', (s) => {
      test('add and lookup round-trip metadata, flags and the secret hash as a Buffer', async () => {
        const secretHash = hashSecret('lat_cs_example');
        const ratHash = randomHash();
        const c = newClient({
          secretHash,
          registrationAccessTokenHash: ratHash,
          skipConsent: true,
          introspectAnyToken: true,
          accessTokenTtl: 120,
          source: 'dynamic',
          metadata: webMetadata({ contacts: ['ops@example.com'], jwks: { keys: [{ kty: 'EC', crv: 'P-256', x: 'x', y: 'y' }] } }),
        });
        const added = await s().clients.add(c);
        const found = await s().clients.lookup(c.clientId);
        assert.ok(found);
        assert.deepEqual(found, added);
        assert.ok(Buffer.isBuffer(found.secretHash), 'secret hash comes back as a Buffer');
        assert.ok(found.secretHash.equals(secretHash));
        assert.ok(Buffer.isBuffer(found.registrationAccessTokenHash) && found.registrationAccessTokenHash.equals(ratHash));
        assert.deepEqual(found.metadata, c.metadata);
        assert.equal(found.skipConsent, true);
        assert.equal(found.introspectAnyToken, true);
        assert.equal(found.accessTokenTtl, 120);
        assert.equal(found.source, 'dynamic');
        assert.equal(found.createdAt, T0);

        const pub = await s().clients.add(newClient({ secretHash: null, metadata: webMetadata({ token_endpoint_auth_method: 'none' }) }));
        assert.equal((await s().clients.lookup(pub.clientId))?.secretHash, null);
        assert.equal(await s().clients.lookup('missing'), undefined);
      });

      test('a duplicate client_id is rejected', async () => {
        const c = newClient();
        await s().clients.add(c);
        await assert.rejects(() => s().clients.add(newClient({ clientId: c.clientId })));
      });

      test('update replaces the given fields; a new secret hash replaces the old one', async () => {
        const c = await s().clients.add(newClient());
        const newHash = randomHash();
        const updated = await s().clients.update(
          c.clientId,
          { secretHash: newHash, metadata: webMetadata({ client_name: 'Renamed' }), skipConsent: true, accessTokenTtl: 60 },
          T0 + 50,
        );
        assert.ok(updated?.secretHash?.equals(newHash));
        assert.equal(updated?.metadata.client_name, 'Renamed');
        assert.equal(updated?.skipConsent, true);
        assert.equal(updated?.accessTokenTtl, 60);
        assert.equal(updated?.introspectAnyToken, false);
        assert.equal(updated?.updatedAt, T0 + 50);
        assert.equal(updated?.createdAt, T0);
        assert.equal((await s().clients.update(c.clientId, { secretHash: null }, T0 + 60))?.secretHash, null);
        assert.equal(await s().clients.update('missing', { skipConsent: true }, T0), undefined);
      });

      test('list pages with cursors and filters by source and grant type', async () => {
        const cc = webMetadata({ grant_types: ['client_credentials'], response_types: [], redirect_uris: [], client_name: 'authorization_code' });
        const created = [
          await s().clients.add(newClient({ source: 'cli', now: T0 + 1 })),
          await s().clients.add(newClient({ source: 'cli', now: T0 + 1 })),
          await s().clients.add(newClient({ source: 'dynamic', now: T0 + 2 })),
          // Its name mentions another grant type: filters must look at grant_types only.
          await s().clients.add(newClient({ source: 'cli', now: T0 + 3, metadata: cc })),
          await s().clients.add(newClient({ source: 'admin', now: T0 + 4 })),
        ];
        const mine = new Set(created.map((c) => c.clientId));
        const all = await collectPages((cursor) => s().clients.list({ limit: 2, cursor }));
        const ids = all.items.map((c) => c.clientId);
        assert.equal(new Set(ids).size, ids.length, 'no client twice across pages');
        assert.ok(
          [...mine].every((id) => ids.includes(id)),
          'every client appears',
        );
        const cli = await collectPages((cursor) => s().clients.list({ limit: 1, cursor, source: 'cli' }));
        assert.deepEqual(cli.items.map((c) => c.clientId).sort(), [created[0], created[1], created[3]].map((c) => c?.clientId as string).sort());
        assert.equal(cli.items[2]?.clientId, created[3]?.clientId, 'ordered by creation time');
        const ccOnly = await s().clients.list({ limit: 50, grantType: 'client_credentials' });
        assert.deepEqual(
          ccOnly.items.map((c) => c.clientId),
          [created[3]?.clientId],
        );
        const code = (await collectPages((cursor) => s().clients.list({ limit: 50, cursor, grantType: 'authorization_code' }))).items.map((c) => c.clientId);
        assert.deepEqual(
          code.filter((id) => mine.has(id)).sort(),
          [created[0], created[1], created[2], created[4]].map((c) => c?.clientId as string).sort(),
          'a client_name is not a grant type',
        );
        await assert.rejects(() => s().clients.list({ limit: 2, cursor: 'not-a-cursor' }), { name: 'InvalidCursorError' });
      });

      test('remove deletes once', async () => {
        const c = await s().clients.add(newClient());
        assert.equal(await s().clients.remove(c.clientId), true);
        assert.equal(await s().clients.remove(c.clientId), false);
        assert.equal(await s().clients.lookup(c.clientId), undefined);
      });
    });

    group('signing keys', (s) => {
      const key = (kid: string, state: SigningKeyRecord['state'], alg: SigningKeyRecord['alg'] = 'ES256'): SigningKeyRecord => ({
        kid,
        alg,
        state,
        privateJwk: JSON.stringify({ kty: 'EC', d: 'secret' }),
        publicJwk: { kty: 'EC', kid, alg },
        createdAt: T0,
        activatedAt: state === 'active' ? T0 : null,
        retiredAt: null,
        removeAfter: null,
      });

      test('add and list round-trip every field', async () => {
        await s().signingKeys.add(key('k-active', 'active'));
        await s().signingKeys.add(key('k-next', 'next', 'RS256'));
        const listed = await s().signingKeys.list();
        assert.deepEqual(
          listed.find((k) => k.kid === 'k-active'),
          key('k-active', 'active'),
        );
        assert.deepEqual(
          listed.find((k) => k.kid === 'k-next'),
          key('k-next', 'next', 'RS256'),
        );
        await assert.rejects(() => s().signingKeys.add(key('k-active', 'next')), 'kid is unique');
      });

      test('transition is guarded by the expected state', async () => {
        await s().signingKeys.add(key('k-guard', 'next'));
        assert.equal(await s().signingKeys.transition('k-guard', 'active', 'retired', T0 + 1), false, 'wrong expected state');
        assert.equal(await s().signingKeys.transition('k-guard', 'next', 'active', T0 + 1), true);
        assert.equal(await s().signingKeys.transition('k-guard', 'next', 'active', T0 + 2), false, 'second promotion loses');
        assert.equal(await s().signingKeys.transition('k-guard', 'active', 'retired', T0 + 3, T0 + 100), true);
        assert.equal(await s().signingKeys.transition('missing', 'next', 'active', T0), false);
        const k = (await s().signingKeys.list()).find((x) => x.kid === 'k-guard');
        assert.equal(k?.state, 'retired');
        assert.equal(k?.activatedAt, T0 + 1);
        assert.equal(k?.retiredAt, T0 + 3);
        assert.equal(k?.removeAfter, T0 + 100);
      });

      test('cleanup removes only retired keys whose removeAfter has passed', async () => {
        const [old, young] = [T0 + 1_000_000, T0 + 5_000_000];
        await s().signingKeys.add({ ...key('k-old', 'retired'), retiredAt: T0, removeAfter: old });
        await s().signingKeys.add({ ...key('k-young', 'retired'), retiredAt: T0, removeAfter: young });
        await s().signingKeys.add({ ...key('k-active2', 'active'), removeAfter: old });
        await s().signingKeys.cleanup(old - 1);
        assert.ok(
          (await s().signingKeys.list()).some((k) => k.kid === 'k-old'),
          'kept until removeAfter',
        );
        const removed = await s().signingKeys.cleanup(old);
        const kids = (await s().signingKeys.list()).map((k) => k.kid);
        assert.ok(!kids.includes('k-old'));
        assert.ok(kids.includes('k-young'));
        assert.ok(kids.includes('k-active2'), 'an active key is never cleaned up');
        assert.ok(removed >= 1);
      });
    });

    group('audit events', (s) => {
      test('add and list with filters and cursors', async () => {
        for (let i = 0; i < 5; i++) {
          await s().audit.add({
            actor: 'admin-api',
            action: i % 2 ? 'user.update' : 'user.create',
            targetType: 'user',
            targetId: `u${i % 3}`,
            details: { i },
            sourceIp: '127.0.0.1',
            createdAt: T0 + i,
          });
        }
        await s().audit.add({ actor: 'cli:root', action: 'client.create', targetType: 'client', targetId: 'c1', details: null, sourceIp: null, createdAt: T0 });
        const all = await collectPages((cursor) => s().audit.list({ limit: 2, cursor }));
        assert.equal(all.items.length, 6);
        assert.equal(all.pages, 3);
        assert.equal(new Set(all.items.map((e) => e.id)).size, 6);
        const first = all.items.find((e) => e.targetType === 'client');
        assert.deepEqual(first && { ...first, id: 0 }, {
          id: 0,
          actor: 'cli:root',
          action: 'client.create',
          targetType: 'client',
          targetId: 'c1',
          details: null,
          sourceIp: null,
          createdAt: T0,
        });
        assert.deepEqual(all.items.find((e) => e.details?.i === 3)?.details, { i: 3 });

        const users = await collectPages((cursor) => s().audit.list({ limit: 1, cursor, targetType: 'user' }));
        assert.equal(users.items.length, 5);
        const updates = await s().audit.list({ limit: 10, action: 'user.update' });
        assert.equal(updates.items.length, 2);
        const u0 = await s().audit.list({ limit: 10, targetType: 'user', targetId: 'u0' });
        assert.deepEqual(
          u0.items.map((e) => e.details?.i),
          [0, 3],
        );
        await assert.rejects(() => s().audit.list({ limit: 2, cursor: '!!' }), { name: 'InvalidCursorError' });
      });
    });

    group('settings', (s) => {
      test('addIfAbsent inserts only once; put overwrites', async () => {
        assert.equal(await s().settings.get('k'), undefined);
        assert.equal(await s().settings.addIfAbsent('k', 'first', T0), true);
        assert.equal(await s().settings.addIfAbsent('k', 'second', T0 + 1), false);
        assert.equal(await s().settings.get('k'), 'first');
        await s().settings.put('k', 'third', T0 + 2);
        assert.equal(await s().settings.get('k'), 'third');
        await s().settings.put('new', 'v', T0);
        assert.equal(await s().settings.get('new'), 'v');
      });

      test('concurrent addIfAbsent: exactly one wins', async () => {
        const results = await Promise.all(Array.from({ length: 8 }, (_, i) => s().settings.addIfAbsent('race', `v${i}`, T0)));
        assert.equal(results.filter(Boolean).length, 1);
      });
    });

    group('sessions', (s) => {
      test('add, lookup and findBySid return the same session; unknown is undefined', async () => {
        const { session, userId, clientId } = await seedSession(s());
        assert.equal(session.userId, userId);
        assert.equal(session.clientId, clientId);
        assert.deepEqual(session.scope, ['openid', 'profile']);
        assert.deepEqual(session.amr, ['pwd']);
        assert.equal(session.finishedAt, null);
        assert.equal(session.lastActiveAt, T0);
        assert.deepEqual(await s().sessions.lookup(session.id), session);
        assert.deepEqual(await s().sessions.findBySid(session.sid), session);
        assert.equal(await s().sessions.findBySid('missing'), undefined);
        assert.equal(await s().sessions.lookup(987654321), undefined);
      });

      test('a client_credentials session has no user', async () => {
        const { session } = await seedSession(s(), { userId: null });
        assert.equal(session.userId, null);
        assert.equal((await s().sessions.lookup(session.id))?.userId, null);
      });

      test('finish is guarded: the second finish returns false and keeps the first reason', async () => {
        const { session } = await seedSession(s());
        assert.equal(await s().sessions.finish(session.id, 'logout', T0 + 5), true);
        assert.equal(await s().sessions.finish(session.id, 'admin', T0 + 6), false);
        const after = await s().sessions.lookup(session.id);
        assert.equal(after?.finishedAt, T0 + 5);
        assert.equal(after?.finishReason, 'logout');
      });

      test('touch moves last_active_at', async () => {
        const { session } = await seedSession(s());
        await s().sessions.touch(session.id, T0 + 99);
        assert.equal((await s().sessions.lookup(session.id))?.lastActiveAt, T0 + 99);
      });

      test('listActiveByBrowserSession returns only unfinished sessions of that browser session', async () => {
        const user = await s().users.add(newUser());
        const client = await s().clients.add(newClient());
        const bs = await s().browserSessions.add({
          cookieHash: randomHash(),
          userId: user.id,
          authenticatedAt: T0,
          amr: ['pwd'],
          acr: null,
          now: T0,
          expiresAt: T0 + 1e6,
        });
        const a = await seedSession(s(), { userId: user.id, clientId: client.clientId, browserSessionId: bs.id });
        const b = await seedSession(s(), { userId: user.id, clientId: client.clientId, browserSessionId: bs.id });
        await seedSession(s(), { userId: user.id, clientId: client.clientId });
        await s().sessions.finish(b.session.id, 'logout', T0 + 1);
        const active = await s().sessions.listActiveByBrowserSession(bs.id);
        assert.deepEqual(
          active.map((x) => x.id),
          [a.session.id],
        );
        assert.deepEqual(await s().sessions.listActiveByBrowserSession(bs.id + 1000), []);
      });

      test('listByUser pages and filters by active', async () => {
        const user = await s().users.add(newUser());
        const client = await s().clients.add(newClient());
        const ids: number[] = [];
        for (let i = 0; i < 5; i++) ids.push((await seedSession(s(), { userId: user.id, clientId: client.clientId, now: T0 + (i % 2) })).session.id);
        await s().sessions.finish(ids[0] as number, 'logout', T0 + 10);
        const all = await collectPages((cursor) => s().sessions.listByUser(user.id, { limit: 2, cursor }));
        assert.deepEqual(
          all.items.map((x) => x.id).sort((a, b) => a - b),
          [...ids].sort((a, b) => a - b),
        );
        const active = await collectPages((cursor) => s().sessions.listByUser(user.id, { limit: 2, cursor, active: true }));
        assert.equal(active.items.length, 4);
        const finished = await s().sessions.listByUser(user.id, { limit: 10, active: false });
        assert.deepEqual(
          finished.items.map((x) => x.id),
          [ids[0]],
        );
      });
    });

    group('access tokens', (s) => {
      test('findByHash joins the session and user: sid, device_id, username', async () => {
        const { session, userId } = await seedSession(s());
        const hash = randomHash();
        const added = await s().accessTokens.add({
          hash,
          sessionId: session.id,
          clientId: session.clientId,
          scope: ['openid'],
          createdAt: T0,
          expiresAt: T0 + 300_000,
        });
        const view = await s().accessTokens.findByHash(hash);
        assert.ok(view);
        assert.equal(view.id, added.id);
        assert.equal(view.sid, session.sid);
        assert.equal(view.deviceId, session.deviceId);
        assert.equal(view.userId, userId);
        assert.equal(view.username, (await s().users.lookup(userId as string))?.username);
        assert.deepEqual(view.scope, ['openid']);
        assert.equal(view.expiresAt, T0 + 300_000);
        assert.equal(view.revokedAt, null);
        assert.equal(view.sessionFinishedAt, null);
        assert.equal(view.userDeactivatedAt, null);
        assert.equal(await s().accessTokens.findByHash(randomHash()), undefined);
      });

      test('the view reflects a finished session and a deactivated user; client_credentials tokens have no username', async () => {
        const { session, userId } = await seedSession(s());
        const hash = randomHash();
        await s().accessTokens.add({ hash, sessionId: session.id, clientId: session.clientId, scope: [], createdAt: T0, expiresAt: T0 + 1 });
        await s().sessions.finish(session.id, 'logout', T0 + 7);
        await s().users.update(userId as string, { deactivatedAt: T0 + 8 }, T0 + 8);
        const view = await s().accessTokens.findByHash(hash);
        assert.equal(view?.sessionFinishedAt, T0 + 7);
        assert.equal(view?.userDeactivatedAt, T0 + 8);
        assert.deepEqual(view?.scope, []);

        const cc = await seedSession(s(), { userId: null });
        const ccHash = randomHash();
        await s().accessTokens.add({ hash: ccHash, sessionId: cc.session.id, clientId: cc.clientId, scope: ['api'], createdAt: T0, expiresAt: T0 + 1 });
        const ccView = await s().accessTokens.findByHash(ccHash);
        assert.equal(ccView?.userId, null);
        assert.equal(ccView?.username, null);
      });

      test('revoke is guarded; revokeBySession revokes every live token of the session', async () => {
        const { session } = await seedSession(s());
        const other = await seedSession(s());
        const mk = async (sessionId: number) => {
          const hash = randomHash();
          const t = await s().accessTokens.add({ hash, sessionId, clientId: session.clientId, scope: [], createdAt: T0, expiresAt: T0 + 1000 });
          return { ...t, hash };
        };
        const [a, b, c] = [await mk(session.id), await mk(session.id), await mk(session.id)];
        const o = await mk(other.session.id);
        assert.equal(await s().accessTokens.revoke(a.id, T0 + 1), true);
        assert.equal(await s().accessTokens.revoke(a.id, T0 + 2), false);
        assert.equal((await s().accessTokens.findByHash(a.hash))?.revokedAt, T0 + 1);
        assert.equal(await s().accessTokens.revokeBySession(session.id, T0 + 3), 2, 'only the two live ones');
        assert.equal((await s().accessTokens.findByHash(b.hash))?.revokedAt, T0 + 3);
        assert.equal((await s().accessTokens.findByHash(c.hash))?.revokedAt, T0 + 3);
        assert.equal((await s().accessTokens.findByHash(a.hash))?.revokedAt, T0 + 1, 'first revocation time kept');
        assert.equal((await s().accessTokens.findByHash(o.hash))?.revokedAt, null, 'other sessions untouched');
        assert.equal(await s().accessTokens.revokeBySession(session.id, T0 + 4), 0);
      });

      test('a token hash is unique; cleanup deletes expired tokens only', async () => {
        const { session } = await seedSession(s());
        const hash = randomHash();
        await s().accessTokens.add({ hash, sessionId: session.id, clientId: session.clientId, scope: [], createdAt: T0, expiresAt: T0 + 10 });
        await assert.rejects(() =>
          s().accessTokens.add({ hash, sessionId: session.id, clientId: session.clientId, scope: [], createdAt: T0, expiresAt: T0 + 10 }),
        );
        const keep = randomHash();
        await s().accessTokens.add({ hash: keep, sessionId: session.id, clientId: session.clientId, scope: [], createdAt: T0, expiresAt: T0 + 10_000 });
        assert.ok((await s().accessTokens.cleanup(T0 + 11)) >= 1);
        assert.equal(await s().accessTokens.findByHash(hash), undefined);
        assert.ok(await s().accessTokens.findByHash(keep));
      });
    });

    group('refresh tokens', (s) => {
      const addRt = async (st: Storage, sessionId: number, expiresAt = T0 + 1e6) => {
        const hash = randomHash();
        const rt = await st.refreshTokens.add({ hash, sessionId, accessTokenId: null, scope: ['openid', 'offline_access'], createdAt: T0, expiresAt });
        return { rt, hash };
      };

      test('add, findByHash and lookup agree', async () => {
        const { session } = await seedSession(s());
        const { rt, hash } = await addRt(s(), session.id);
        assert.deepEqual(rt.scope, ['openid', 'offline_access']);
        assert.equal(rt.consumedAt, null);
        assert.deepEqual(await s().refreshTokens.findByHash(hash), rt);
        assert.deepEqual(await s().refreshTokens.lookup(rt.id), rt);
        assert.equal(await s().refreshTokens.findByHash(randomHash()), undefined);
        assert.equal(await s().refreshTokens.lookup(123456789), undefined);
      });

      test('consume is guarded: the second consume returns false and the first successor stays', async () => {
        const { session } = await seedSession(s());
        const { rt } = await addRt(s(), session.id);
        const succ1 = await addRt(s(), session.id);
        const succ2 = await addRt(s(), session.id);
        assert.equal(await s().refreshTokens.consume(rt.id, succ1.rt.id, T0 + 1), true);
        assert.equal(await s().refreshTokens.consume(rt.id, succ2.rt.id, T0 + 2), false);
        const after = await s().refreshTokens.lookup(rt.id);
        assert.equal(after?.consumedAt, T0 + 1);
        assert.equal(after?.successorId, succ1.rt.id);
      });

      test('concurrent consumes: exactly one wins', async () => {
        const { session } = await seedSession(s());
        const { rt } = await addRt(s(), session.id);
        const successors = await Promise.all(Array.from({ length: 6 }, () => addRt(s(), session.id)));
        const results = await Promise.all(successors.map((x, i) => s().refreshTokens.consume(rt.id, x.rt.id, T0 + i)));
        assert.equal(results.filter(Boolean).length, 1);
      });

      test('a revoked token cannot be consumed; revoke is guarded; revokeBySession counts live tokens', async () => {
        const { session } = await seedSession(s());
        const a = await addRt(s(), session.id);
        const b = await addRt(s(), session.id);
        const c = await addRt(s(), session.id);
        assert.equal(await s().refreshTokens.revoke(a.rt.id, T0 + 1), true);
        assert.equal(await s().refreshTokens.revoke(a.rt.id, T0 + 2), false);
        assert.equal(await s().refreshTokens.consume(a.rt.id, b.rt.id, T0 + 3), false);
        assert.equal(await s().refreshTokens.revokeBySession(session.id, T0 + 4), 2);
        assert.equal((await s().refreshTokens.lookup(b.rt.id))?.revokedAt, T0 + 4);
        assert.equal((await s().refreshTokens.lookup(c.rt.id))?.revokedAt, T0 + 4);
        assert.equal((await s().refreshTokens.lookup(a.rt.id))?.revokedAt, T0 + 1);
        assert.equal(await s().refreshTokens.consume(c.rt.id, b.rt.id, T0 + 5), false);
      });

      test('cleanup deletes expired tokens only', async () => {
        const { session } = await seedSession(s());
        const old = await addRt(s(), session.id, T0 + 5);
        const fresh = await addRt(s(), session.id, T0 + 1e9);
        assert.ok((await s().refreshTokens.cleanup(T0 + 6)) >= 1);
        assert.equal(await s().refreshTokens.lookup(old.rt.id), undefined);
        assert.ok(await s().refreshTokens.lookup(fresh.rt.id));
      });
    });

    group('authorization codes', (s) => {
      test('add/findByHash round-trip; consume is single-use and records the session', async () => {
        const { session, userId, clientId } = await seedSession(s());
        const hash = randomHash();
        const code = await s().authorizationCodes.add({
          hash,
          clientId,
          userId: userId as string,
          browserSessionId: null,
          redirectUri: 'https://app.example.com/callback',
          redirectUriSent: true,
          scope: ['openid'],
          codeChallenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
          codeChallengeMethod: 'S256',
          nonce: 'n-0S6_WzA2Mj',
          authTime: T0,
          amr: ['pwd'],
          acr: null,
          createdAt: T0,
          expiresAt: T0 + 60_000,
        });
        assert.deepEqual(await s().authorizationCodes.findByHash(hash), code);
        assert.equal(code.redirectUriSent, true);
        assert.deepEqual(code.amr, ['pwd']);
        assert.equal(code.consumedAt, null);
        assert.equal(await s().authorizationCodes.consume(code.id, session.id, T0 + 1), true);
        assert.equal(await s().authorizationCodes.consume(code.id, session.id, T0 + 2), false);
        const after = await s().authorizationCodes.findByHash(hash);
        assert.equal(after?.consumedAt, T0 + 1);
        assert.equal(after?.sessionId, session.id);
        assert.equal(await s().authorizationCodes.findByHash(randomHash()), undefined);

        const plain = await s().authorizationCodes.add({
          ...code,
          hash: randomHash(),
          redirectUriSent: false,
          amr: null,
          codeChallenge: null,
          codeChallengeMethod: null,
          nonce: null,
          expiresAt: T0 + 10,
        });
        assert.equal(plain.redirectUriSent, false);
        assert.equal(await s().authorizationCodes.cleanup(T0 + 11), 1);
        assert.equal((await s().authorizationCodes.findByHash(hash))?.id, code.id, 'unexpired codes stay');
        assert.equal(await s().authorizationCodes.cleanup(T0 + 60_001), 1);
        assert.equal(await s().authorizationCodes.findByHash(hash), undefined, 'expired codes are deleted');
      });
    });

    group('consents', (s) => {
      test('grant stores the union of scopes; lookup, listByUser and revoke', async () => {
        const user = await s().users.add(newUser());
        const c1 = await s().clients.add(newClient());
        const c2 = await s().clients.add(newClient());
        assert.equal(await s().consents.lookup(user.id, c1.clientId), undefined);
        const first = await s().consents.grant(user.id, c1.clientId, ['openid', 'profile'], T0);
        assert.deepEqual(first.scope, ['openid', 'profile']);
        const second = await s().consents.grant(user.id, c1.clientId, ['profile', 'email'], T0 + 5);
        assert.deepEqual([...second.scope].sort(), ['email', 'openid', 'profile']);
        const stored = await s().consents.lookup(user.id, c1.clientId);
        assert.deepEqual([...(stored?.scope ?? [])].sort(), ['email', 'openid', 'profile']);
        assert.equal(stored?.createdAt, T0);
        assert.equal(stored?.updatedAt, T0 + 5);
        await s().consents.grant(user.id, c2.clientId, ['openid'], T0);
        assert.deepEqual((await s().consents.listByUser(user.id)).map((c) => c.clientId).sort(), [c1.clientId, c2.clientId].sort());
        assert.equal(await s().consents.revoke(user.id, c1.clientId), true);
        assert.equal(await s().consents.revoke(user.id, c1.clientId), false);
        assert.equal(await s().consents.lookup(user.id, c1.clientId), undefined);
      });

      test('deleting the client deletes its consents (cascade)', async () => {
        const user = await s().users.add(newUser());
        const c = await s().clients.add(newClient());
        await s().consents.grant(user.id, c.clientId, ['openid'], T0);
        await s().clients.remove(c.clientId);
        assert.equal(await s().consents.lookup(user.id, c.clientId), undefined);
      });
    });

    group('browser sessions', (s) => {
      test('add, findByCookieHash, lookup, reauthenticate, touch and guarded finish', async () => {
        const user = await s().users.add(newUser());
        const cookieHash = randomHash();
        const bs = await s().browserSessions.add({ cookieHash, userId: user.id, authenticatedAt: T0, amr: ['pwd'], acr: null, now: T0, expiresAt: T0 + 1000 });
        assert.deepEqual(await s().browserSessions.findByCookieHash(cookieHash), bs);
        assert.deepEqual(await s().browserSessions.lookup(bs.id), bs);
        assert.equal(await s().browserSessions.findByCookieHash(randomHash()), undefined);
        await s().browserSessions.reauthenticate(bs.id, T0 + 10, ['pwd', 'otp']);
        await s().browserSessions.touch(bs.id, T0 + 11);
        const after = await s().browserSessions.lookup(bs.id);
        assert.equal(after?.authenticatedAt, T0 + 10);
        assert.deepEqual(after?.amr, ['pwd', 'otp']);
        assert.equal(after?.lastActiveAt, T0 + 11);
        assert.equal(after?.createdAt, T0);
        assert.equal(await s().browserSessions.finish(bs.id, T0 + 12), true);
        assert.equal(await s().browserSessions.finish(bs.id, T0 + 13), false);
        assert.equal((await s().browserSessions.lookup(bs.id))?.finishedAt, T0 + 12);
      });
    });

    group('client assertion jtis', (s) => {
      test('addIfAbsent detects a replayed jti per client; cleanup forgets expired ones', async () => {
        assert.equal(await s().clientAssertionJtis.addIfAbsent('c1', 'jti-1', T0 + 100), true);
        assert.equal(await s().clientAssertionJtis.addIfAbsent('c1', 'jti-1', T0 + 100), false, 'replay');
        assert.equal(await s().clientAssertionJtis.addIfAbsent('c2', 'jti-1', T0 + 100), true, 'another client may use the same jti');
        assert.equal(await s().clientAssertionJtis.addIfAbsent('c1', 'jti-old', T0 + 1), true);
        assert.equal(await s().clientAssertionJtis.cleanup(T0 + 50), 1);
        assert.equal(await s().clientAssertionJtis.addIfAbsent('c1', 'jti-old', T0 + 200), true, 'forgotten after cleanup');
        assert.equal(await s().clientAssertionJtis.addIfAbsent('c1', 'jti-1', T0 + 100), false, 'unexpired ones are kept');
      });
    });

    group('initial access tokens', (s) => {
      test('use is guarded by max_uses, expiry and revocation', async () => {
        const limited = randomHash();
        const t = await s().initialAccessTokens.add({ hash: limited, description: 'two uses', createdAt: T0, expiresAt: null, maxUses: 2 });
        assert.equal(t.uses, 0);
        assert.equal(await s().initialAccessTokens.use(limited, T0), true);
        assert.equal(await s().initialAccessTokens.use(limited, T0), true);
        assert.equal(await s().initialAccessTokens.use(limited, T0), false, 'max_uses reached');

        const expiring = randomHash();
        await s().initialAccessTokens.add({ hash: expiring, description: null, createdAt: T0, expiresAt: T0 + 100, maxUses: null });
        assert.equal(await s().initialAccessTokens.use(expiring, T0 + 99), true);
        assert.equal(await s().initialAccessTokens.use(expiring, T0 + 100), false, 'expired');

        const unlimited = randomHash();
        const u = await s().initialAccessTokens.add({ hash: unlimited, description: null, createdAt: T0, expiresAt: null, maxUses: null });
        for (let i = 0; i < 3; i++) assert.equal(await s().initialAccessTokens.use(unlimited, T0 + 1e9), true);
        assert.equal(await s().initialAccessTokens.revoke(u.id, T0), true);
        assert.equal(await s().initialAccessTokens.revoke(u.id, T0), false);
        assert.equal(await s().initialAccessTokens.use(unlimited, T0), false, 'revoked');
        assert.equal(await s().initialAccessTokens.use(randomHash(), T0), false, 'unknown');

        const listed = await s().initialAccessTokens.list();
        assert.equal(listed.find((x) => x.id === t.id)?.uses, 2);
        assert.equal(listed.find((x) => x.id === u.id)?.uses, 3);
        assert.equal(listed.find((x) => x.id === u.id)?.revokedAt, T0);
      });

      test('concurrent uses never exceed max_uses', async () => {
        const hash = randomHash();
        await s().initialAccessTokens.add({ hash, description: null, createdAt: T0, expiresAt: null, maxUses: 3 });
        const results = await Promise.all(Array.from({ length: 10 }, () => s().initialAccessTokens.use(hash, T0)));
        assert.equal(results.filter(Boolean).length, 3);
      });
    });

    group('transactions', (s) => {
      test('a throw inside the transaction rolls back every write', async () => {
        const user = newUser();
        const client = newClient();
        await assert.rejects(
          () =>
            s().transaction(async (repos) => {
              await repos.users.add(user);
              await repos.clients.add(client);
              await repos.settings.put('tx-setting', 'v', T0);
              await repos.audit.add({ actor: 'tx', action: 'tx.test', targetType: 'user', targetId: user.id, details: null, sourceIp: null, createdAt: T0 });
              assert.ok(await repos.users.lookup(user.id), 'the transaction sees its own writes');
              throw new Error('boom');
            }),
          /boom/,
        );
        assert.equal(await s().users.lookup(user.id), undefined);
        assert.equal(await s().clients.lookup(client.clientId), undefined);
        assert.equal(await s().settings.get('tx-setting'), undefined);
        assert.equal((await s().audit.list({ limit: 10, action: 'tx.test' })).items.length, 0);
      });

      test('a database error inside the transaction rolls back earlier writes too', async () => {
        const first = newUser();
        await assert.rejects(() =>
          s().transaction(async (repos) => {
            await repos.users.add(first);
            await repos.users.add(newUser({ username: first.username.toUpperCase() }));
          }),
        );
        assert.equal(await s().users.lookup(first.id), undefined);
      });

      test('a successful transaction commits and returns its value', async () => {
        const user = newUser();
        const result = await s().transaction(async (repos) => {
          const u = await repos.users.add(user);
          const { session } = await seedSession(repos, { userId: u.id });
          return session.sid;
        });
        assert.equal(typeof result, 'string');
        assert.ok(await s().users.lookup(user.id));
        assert.equal((await s().sessions.findBySid(result))?.userId, user.id);
      });

      test('ping answers while the database is up', async () => {
        await s().ping();
        assert.equal(s().dialect, backend);
      });
    });
  });
}
