/**
 * notes-api end to end against the real Latch server, with OIDC back-channel logout as the signal:
 * notes are kept per device and survive token refresh; when Latch ends a device's session (the
 * device signs out by revoking its refresh token, an administrator sets a new password or
 * deactivates the account), the API answers 401 for the cached token within the propagation
 * target, and that device's notes are purged.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createUser } from '../../../packages/server/test/e2e/oidc/helpers.ts';
import { basic, post } from '../../../packages/server/test/e2e/token/helpers.ts';
import { backends } from '../../../packages/server/test/support/backends.ts';
import { startLatch, type TestLatch } from '../../../packages/server/test/support/latch.ts';
import { addNote, listNotes, type RunningNotes, refresh, signIn, startNotes, untilUnauthorized } from './support.ts';

/** Generous for a loaded 2-core machine; the benchmark measures the real figure. */
const PROPAGATION_LIMIT_MS = 2000;

for (const backend of backends()) {
  describe(`[${backend}] notes-api with back-channel logout from Latch`, () => {
    let t: TestLatch;
    let notes: RunningNotes;
    before(async () => {
      t = await startLatch(backend, { config: { 'outbox.pollInterval': 50, 'outbox.retryBase': 100, 'outbox.retryMax': 300 } });
      notes = await startNotes(t);
    });
    after(async () => {
      await notes?.close();
      await t?.close();
    });

    test('notes are per device, survive a refresh, and reads are served from the cache', async () => {
      const alice = await createUser(t, 'alice');
      const laptop = await signIn(t, notes.client, alice.id);
      const phone = await signIn(t, notes.client, alice.id);
      await addNote(notes, laptop, 'laptop note');
      await addNote(notes, phone, 'phone note');
      assert.deepEqual((await listNotes(notes, laptop)).texts, ['laptop note']);
      assert.deepEqual((await listNotes(notes, phone)).texts, ['phone note']);
      const calls = notes.api.introspector.calls;
      for (let i = 0; i < 5; i++) assert.equal((await listNotes(notes, laptop)).status, 200);
      assert.equal(notes.api.introspector.calls, calls, 'five reads, no introspection');
      const refreshed = await refresh(t, notes.client, laptop);
      assert.deepEqual((await listNotes(notes, refreshed)).texts, ['laptop note'], 'the same device after a refresh');
    });

    test('a device that signs out (refresh token revoked) gets 401 within the target, and only its notes are purged', async (ctx) => {
      const bob = await createUser(t, 'bob');
      const laptop = await signIn(t, notes.client, bob.id);
      const phone = await signIn(t, notes.client, bob.id);
      await addNote(notes, laptop, 'bob laptop');
      await addNote(notes, phone, 'bob phone');
      assert.equal((await listNotes(notes, laptop)).status, 200, 'cached');
      const res = await post(t, '/oauth2/revoke', { token: laptop.refreshToken }, { authorization: basic(notes.client.client_id, notes.client.client_secret) });
      const ended = Date.now();
      assert.equal(res.status, 200);
      const ms = await untilUnauthorized(notes, laptop, ended);
      ctx.diagnostic(`first 401 ${ms} ms after Latch answered the revocation`);
      assert.ok(ms < PROPAGATION_LIMIT_MS, `${ms} ms`);
      const purge = notes.purged.find((p) => p.reason === 'backchannel-logout' && p.notes === 1 && p.at >= ended);
      assert.ok(purge, 'the device was purged');
      assert.deepEqual((await listNotes(notes, phone)).texts, ['bob phone'], 'the other device keeps its notes');
      // The laptop signs in again: a new device, no notes.
      const again = await signIn(t, notes.client, bob.id);
      assert.deepEqual((await listNotes(notes, again)).texts, []);
    });

    for (const [what, change] of [
      ['an administrator sets a new password', (id: string) => t.admin('PATCH', `/admin/v1/users/${id}`, { password: 'a brand new passphrase' })],
      ['an administrator deactivates the account', (id: string) => t.admin('DELETE', `/admin/v1/users/${id}`)],
    ] as const) {
      test(`${what}: every device of the user gets 401 within the target and is purged`, async (ctx) => {
        const user = await createUser(t, `user-${what.length}`);
        const devices = [await signIn(t, notes.client, user.id), await signIn(t, notes.client, user.id)];
        for (const [i, d] of devices.entries()) await addNote(notes, d, `note ${i}`);
        for (const d of devices) assert.equal((await listNotes(notes, d)).status, 200);
        const res = await change(user.id);
        const ended = Date.now();
        assert.equal(res.status, 200);
        for (const d of devices) {
          const ms = await untilUnauthorized(notes, d, ended);
          ctx.diagnostic(`first 401 ${ms} ms after Latch answered`);
          assert.ok(ms < PROPAGATION_LIMIT_MS, `${ms} ms`);
        }
        const purges = notes.purged.filter((p) => p.at >= ended && p.notes === 1);
        assert.equal(purges.length, 2, JSON.stringify(notes.purged.slice(-3)));
      });
    }
  });
}
