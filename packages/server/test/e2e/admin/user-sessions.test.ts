/**
 * Logout must mean logout: deactivating a user, or an administrator setting a new password, ends
 * every session of that user at once (tokens inactive, refresh refused) and tells each client with a
 * back-channel logout URI, through the outbox.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { mintToken } from '../../../src/crypto/random.ts';
import { backends } from '../../support/backends.ts';
import { startLatch, type TestLatch } from '../../support/latch.ts';
import { createUser, eventually, LogoutReceiver, peek, verifyLogoutToken } from '../oidc/helpers.ts';

for (const backend of backends()) {
  describe(`[${backend}] admin changes to a user end the user's sessions`, () => {
    let t: TestLatch;
    let receiver: LogoutReceiver;
    before(async () => {
      receiver = await LogoutReceiver.start();
      t = await startLatch(backend, { config: { 'outbox.pollInterval': 50, 'outbox.retryBase': 100, 'outbox.retryMax': 300 } });
    });
    after(async () => {
      await t.close();
      await receiver.down();
    });

    /** A client with a back-channel logout URI and `count` live sessions of the user, each with tokens. */
    async function sessionsOf(userId: string, count: number) {
      const res = await t.admin<{ client_id: string }>('POST', '/admin/v1/clients', {
        client_name: 'Notes',
        redirect_uris: ['https://rp.example/callback'],
        backchannel_logout_uri: receiver.url,
      });
      assert.equal(res.status, 201);
      const out: { sid: string; accessHash: Buffer; refreshHash: Buffer }[] = [];
      for (let i = 0; i < count; i++) {
        const now = Date.now();
        const session = await t.latch.sessions.start(t.latch.storage, {
          userId,
          clientId: res.body.client_id,
          browserSessionId: null,
          scope: ['openid'],
          authTime: now,
          amr: ['pwd'],
          acr: null,
          now,
        });
        const at = mintToken('at');
        const rt = mintToken('rt');
        await t.latch.storage.accessTokens.add({
          hash: at.hash,
          sessionId: session.id,
          clientId: res.body.client_id,
          scope: ['openid'],
          createdAt: now,
          expiresAt: now + 300_000,
        });
        await t.latch.storage.refreshTokens.add({
          hash: rt.hash,
          sessionId: session.id,
          accessTokenId: null,
          scope: ['openid'],
          createdAt: now,
          expiresAt: now + 3_600_000,
        });
        out.push({ sid: session.sid, accessHash: at.hash, refreshHash: rt.hash });
      }
      return { clientId: res.body.client_id, sessions: out };
    }

    async function assertEnded(s: { sid: string; accessHash: Buffer; refreshHash: Buffer }, reason: string) {
      const session = await t.latch.storage.sessions.findBySid(s.sid);
      assert.ok(session?.finishedAt, `session ${s.sid} ended`);
      assert.equal(session.finishReason, reason);
      assert.ok((await t.latch.storage.accessTokens.findByHash(s.accessHash))?.revokedAt, 'access token revoked');
      assert.ok((await t.latch.storage.refreshTokens.findByHash(s.refreshHash))?.revokedAt, 'refresh token revoked');
    }

    test('deactivation ends every session with reason user_deactivated and sends a logout token per session', async () => {
      const user = await createUser(t, 'deactivate-me');
      const other = await createUser(t, 'bystander');
      const { clientId, sessions } = await sessionsOf(user.id, 3);
      const untouched = await sessionsOf(other.id, 1);
      const cookie = mintToken('bs');
      const now = Date.now();
      await t.latch.storage.browserSessions.add({
        cookieHash: cookie.hash,
        userId: user.id,
        authenticatedAt: now,
        amr: ['pwd'],
        acr: null,
        now,
        expiresAt: now + 3_600_000,
      });
      const res = await t.admin('DELETE', `/admin/v1/users/${user.id}`);
      assert.equal(res.status, 200);
      assert.ok((await t.latch.storage.browserSessions.findByCookieHash(cookie.hash))?.finishedAt, 'the SSO browser session ended too');
      for (const s of sessions) await assertEnded(s, 'user_deactivated');
      const bystander = await t.latch.storage.sessions.findBySid(untouched.sessions[0]?.sid as string);
      assert.equal(bystander?.finishedAt, null, "another user's session is untouched");
      const delivered = await eventually(() => (receiver.delivered.length >= 3 ? receiver.delivered : undefined), 'three logout tokens');
      const sids = new Set<string>();
      for (const d of delivered) {
        const { payload } = await verifyLogoutToken(t, d.logoutToken as string, clientId);
        assert.equal(payload.sub, user.id);
        sids.add(payload.sid as string);
      }
      assert.deepEqual([...sids].sort(), sessions.map((s) => s.sid).sort());
      const audit = await t.admin<{ events: { action: string; details: Record<string, unknown> }[] }>(
        'GET',
        `/admin/v1/audit?target_id=${user.id}&action=user.update`,
      );
      assert.equal(audit.body.events.at(-1)?.details.sessions_ended, 3);
    });

    test('an administrator setting a new password ends the sessions with reason password_change', async () => {
      const user = await createUser(t, 'new-password');
      const before = receiver.delivered.length;
      const { sessions } = await sessionsOf(user.id, 2);
      const res = await t.admin('PATCH', `/admin/v1/users/${user.id}`, { password: 'a brand new passphrase' });
      assert.equal(res.status, 200);
      for (const s of sessions) await assertEnded(s, 'password_change');
      await eventually(() => receiver.delivered.length >= before + 2, 'two more logout tokens');
      const sids = receiver.delivered.slice(before).map((d) => peek(d.logoutToken as string).sid);
      assert.deepEqual(sids.sort(), sessions.map((s) => s.sid).sort());
    });

    test('other changes (email, name) leave the sessions alone', async () => {
      const user = await createUser(t, 'just-email');
      const { sessions } = await sessionsOf(user.id, 1);
      const res = await t.admin('PATCH', `/admin/v1/users/${user.id}`, { email: 'new@example.com', name: 'New Name' });
      assert.equal(res.status, 200);
      const session = await t.latch.storage.sessions.findBySid(sessions[0]?.sid as string);
      assert.equal(session?.finishedAt, null);
    });
  });
}
