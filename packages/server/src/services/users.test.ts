import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { newClient, openTestStorage, type TestStorage } from '../../test/storage/harness.ts';
import { backends } from '../../test/support/backends.ts';
import type { Repositories } from '../storage/repositories.ts';
import { type SessionEvents, SessionService } from './sessions.ts';
import { type UserEvents, UserService } from './users.ts';

const T0 = 1_800_000_000_000;
const actor = { name: 'test', sourceIp: null };

for (const backend of backends()) {
  describe(`[${backend}] user events: announced inside the transaction of the change`, () => {
    let ts: TestStorage;
    let clientId: string;
    const heard: string[] = [];
    let users: UserService;
    let sessions: SessionService;
    before(async () => {
      ts = await openTestStorage(backend);
      clientId = (await ts.storage.clients.add(newClient())).clientId;
      // Each listener checks that it runs inside the change's transaction: the change is visible to it.
      const inside = async (repos: Repositories, id: string) => ((await repos.users.lookup(id)) ? '' : ':OUTSIDE');
      const events: UserEvents = {
        async userCreated(repos, user) {
          heard.push(`created:${user.username}${await inside(repos, user.id)}`);
        },
        async profileChanged(_repos, user, previous) {
          heard.push(`profile:${previous.name}->${user.name}`);
        },
        async credentialChanged(_repos, user, change) {
          heard.push(`credential:${change.credentialType}:${change.changeType}:${change.initiator}:${user.username}`);
        },
        async accountDisabled(repos, user, initiator) {
          const seen = await repos.users.lookup(user.id);
          heard.push(`disabled:${initiator}:${seen?.deactivatedAt !== null}`);
        },
        async accountEnabled(_repos, _user, initiator) {
          heard.push(`enabled:${initiator}`);
        },
      };
      const sessionEvents: SessionEvents = {
        async sessionFinished(_repos, _session, reason, _now, end) {
          heard.push(`session:${reason}:${end.initiator}`);
        },
      };
      sessions = new SessionService([sessionEvents]);
      users = new UserService(ts.storage, () => T0, sessions, [events, {}]);
    });
    after(() => ts.dispose());

    test('create, profile, password (admin and user), deactivate and reactivate each announce once, after the sessions they end', async () => {
      const user = await users.create({ username: 'events-alice', password: 'correct horse battery', name: 'Alice' }, actor);
      await ts.storage.transaction((repos) =>
        sessions.start(repos, { userId: user.id, clientId, browserSessionId: null, scope: ['openid'], authTime: T0, amr: ['pwd'], acr: null, now: T0 }),
      );
      await users.update(user.id, { name: 'Alice B' }, actor);
      await users.update(user.id, { password: 'another good password' }, actor, 'user');
      await users.update(user.id, { active: false }, actor);
      await users.update(user.id, { active: true }, actor);
      assert.deepEqual(heard, [
        'created:events-alice',
        'credential:password:create:admin:events-alice',
        'profile:Alice->Alice B',
        'session:password_change:user',
        'credential:password:update:user:events-alice',
        'disabled:admin:true',
        'enabled:admin',
      ]);
    });

    test('a failing listener rolls the change back', async () => {
      const failing = new UserService(ts.storage, () => T0, sessions, [
        {
          async accountDisabled() {
            throw new Error('outbox unavailable');
          },
        },
      ]);
      const user = await failing.create({ username: 'events-bob' }, actor);
      await assert.rejects(failing.update(user.id, { active: false }, actor), /outbox unavailable/);
      assert.equal((await ts.storage.users.lookup(user.id))?.deactivatedAt, null);
    });
  });
}
