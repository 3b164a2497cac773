import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { newClient, newUser, openTestStorage, randomHash, type TestStorage } from '../../test/storage/harness.ts';
import { backends } from '../../test/support/backends.ts';
import type { FinishReason, Repositories, Session } from '../storage/repositories.ts';
import { endSession, type SessionEvents, SessionService, startSession } from './sessions.ts';

const T0 = 1_800_000_000_000;

for (const backend of backends()) {
  describe(`[${backend}] sessions: start and end (revokes every token, events in the same transaction)`, () => {
    let ts: TestStorage;
    let userId: string;
    let clientId: string;
    before(async () => {
      ts = await openTestStorage(backend);
      userId = (await ts.storage.users.add(newUser())).id;
      clientId = (await ts.storage.clients.add(newClient())).clientId;
    });
    after(() => ts.dispose());

    async function sessionWithTokens() {
      const s = ts.storage;
      const session = await startSession(s, { userId, clientId, browserSessionId: null, scope: ['openid'], authTime: T0, amr: ['pwd'], acr: null, now: T0 });
      const at = await s.accessTokens.add({ hash: randomHash(), sessionId: session.id, clientId, scope: ['openid'], createdAt: T0, expiresAt: T0 + 300_000 });
      const rt = await s.refreshTokens.add({
        hash: randomHash(),
        sessionId: session.id,
        accessTokenId: at.id,
        scope: ['openid'],
        createdAt: T0,
        expiresAt: T0 + 1e9,
      });
      return { session, at, rt };
    }

    test('a started session has a time-ordered sid and a device id', async () => {
      const { session } = await sessionWithTokens();
      assert.match(session.sid, /^[0-9a-z]{9}[0-9A-Za-z]{12}$/);
      assert.match(session.deviceId, /^[0-9A-Z]{10}$/);
      assert.equal(session.finishedAt, null);
    });

    test('ending a session revokes its tokens and calls the events port once, inside the transaction', async () => {
      const calls: { reason: FinishReason; session: Session; inTransaction: boolean }[] = [];
      const events: SessionEvents = {
        async sessionFinished(repos: Repositories, session, reason) {
          // The events port sees the finished state through the transaction's repositories.
          const seen = await repos.sessions.lookup(session.id);
          calls.push({ reason, session, inTransaction: seen?.finishedAt === T0 + 5 });
        },
      };
      const sessions = new SessionService(events);
      const { session, at, rt } = await sessionWithTokens();
      assert.equal(await ts.storage.transaction((repos) => sessions.end(repos, session, 'logout', T0 + 5)), true);
      assert.equal(await ts.storage.transaction((repos) => sessions.end(repos, session, 'admin', T0 + 6)), false, 'only once');
      assert.equal(calls.length, 1);
      assert.equal(calls[0]?.reason, 'logout');
      assert.equal(calls[0]?.inTransaction, true);
      assert.equal(calls[0]?.session.finishReason, 'logout');
      const finished = await ts.storage.sessions.lookup(session.id);
      assert.equal(finished?.finishReason, 'logout');
      assert.notEqual((await ts.storage.refreshTokens.lookup(rt.id))?.revokedAt, null);
      const atView = await ts.storage.accessTokens.revoke(at.id, T0 + 7);
      assert.equal(atView, false, 'the access token was already revoked');
    });

    test("several listeners hear start and end in order, inside the transaction; the initiator defaults to the reason's own", async () => {
      const heard: string[] = [];
      const listener = (name: string): SessionEvents => ({
        async sessionStarted(repos, session) {
          heard.push(`${name}:started:${(await repos.sessions.lookup(session.id)) ? 'visible' : 'missing'}`);
        },
        async sessionFinished(_repos, session, reason, _now, end) {
          heard.push(`${name}:finished:${reason}:${end.initiator}:${session.finishReason}`);
        },
      });
      const sessions = new SessionService([listener('a'), {}, listener('b')]);
      const input = { userId, clientId, browserSessionId: null, scope: ['openid'], authTime: T0, amr: ['pwd'], acr: null, now: T0 };
      const first = await ts.storage.transaction((repos) => sessions.start(repos, input));
      const second = await ts.storage.transaction((repos) => sessions.start(repos, input));
      assert.equal(await ts.storage.transaction((repos) => sessions.end(repos, first, 'password_change', T0 + 1)), true);
      assert.equal(await ts.storage.transaction((repos) => sessions.end(repos, second, 'password_change', T0 + 1, 'admin')), true);
      assert.deepEqual(heard, [
        'a:started:visible',
        'b:started:visible',
        'a:started:visible',
        'b:started:visible',
        'a:finished:password_change:user:password_change',
        'b:finished:password_change:user:password_change',
        'a:finished:password_change:admin:password_change',
        'b:finished:password_change:admin:password_change',
      ]);
    });

    test('a failing events port rolls the whole end back', async () => {
      const { session, rt } = await sessionWithTokens();
      const failing: SessionEvents = {
        async sessionFinished() {
          throw new Error('outbox unavailable');
        },
      };
      await assert.rejects(
        ts.storage.transaction((repos) => endSession(repos, session, 'logout', T0 + 5, failing)),
        /outbox unavailable/,
      );
      assert.equal((await ts.storage.sessions.lookup(session.id))?.finishedAt, null);
      assert.equal((await ts.storage.refreshTokens.lookup(rt.id))?.revokedAt, null);
    });

    test('refresh rotation primitives: revokeUnused only while unused, replaceSuccessor guarded by the old successor', async () => {
      const s = ts.storage;
      const { session, rt } = await sessionWithTokens();
      const add = () =>
        s.refreshTokens.add({ hash: randomHash(), sessionId: session.id, accessTokenId: null, scope: ['openid'], createdAt: T0, expiresAt: T0 + 1e9 });
      const succ = await add();
      assert.equal(await s.refreshTokens.consume(rt.id, succ.id, T0 + 1), true);
      const next = await add();
      assert.equal(await s.refreshTokens.replaceSuccessor(rt.id, next.id, next.id), false, 'wrong expected successor');
      assert.equal(await s.refreshTokens.replaceSuccessor(rt.id, succ.id, next.id), true);
      assert.equal((await s.refreshTokens.lookup(rt.id))?.successorId, next.id);
      assert.equal(await s.refreshTokens.replaceSuccessor(rt.id, succ.id, next.id), false, 'already replaced');

      const used = await add();
      const third = await add();
      assert.equal(await s.refreshTokens.consume(used.id, third.id, T0 + 2), true);
      assert.equal(await s.refreshTokens.revokeUnused(used.id, T0 + 3), false, 'a consumed token is not unused');
      assert.equal(await s.refreshTokens.revokeUnused(third.id, T0 + 3), true);
      assert.equal(await s.refreshTokens.revokeUnused(third.id, T0 + 4), false, 'already revoked');
      assert.equal(await s.refreshTokens.consume(third.id, next.id, T0 + 5), false, 'a revoked token cannot be consumed');
    });
  });
}
