/**
 * notes-api with Shared Signals, against a transmitter that follows the wire contract Latch
 * documents for its transmitter (SSF 1.0 push, CAEP session-revoked with the complex subject user /
 * session / device / application, RISC account-purged), written from the specifications
 * (packages/resource-server/test/support/fake-latch.ts): the API creates and verifies its stream
 * on start, a session-revoked purges exactly that device's notes and turns its token away, and
 * account-purged removes the user's notes on every device.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createIntrospector, events } from '@latch/resource-server';
import { CLIENT_ID, CLIENT_SECRET, FakeLatch } from '../../../packages/resource-server/test/support/fake-latch.ts';
import { eventually } from '../../../packages/resource-server/test/support/servers.ts';
import { latchToken } from '../../../packages/resource-server/test/support/tokens.ts';
import { freePort } from '../../../packages/server/test/support/latch.ts';
import { createNotesApi, type NotesApi } from '../src/app.ts';

describe('notes-api with Shared Signals (push)', () => {
  let latch: FakeLatch;
  let api: NotesApi;
  let url: string;
  let dir: string;
  const purged: { deviceKey: string | undefined; notes: number }[] = [];

  before(async () => {
    latch = await FakeLatch.start();
    dir = mkdtempSync(join(tmpdir(), 'notes-ssf-'));
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    api = await createNotesApi({
      introspector: createIntrospector({ issuer: latch.issuer, client: { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET } }),
      database: join(dir, 'notes.db'),
      delivery: { method: 'push', endpointUrl: `${url}/ssf/events`, authorizationHeader: 'Bearer notes-push-secret' },
      onPurged: (e, notes) => purged.push({ deviceKey: e.deviceKey, notes }),
    });
    await api.app.listen({ host: '127.0.0.1', port });
    await api.receiver?.ensureStream();
  });
  after(async () => {
    await api.close();
    await latch.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const device = (sub: string, sid: string, deviceId: string) => {
    const token = latchToken();
    latch.addToken(token, { sub, sid, device_id: deviceId, scope: 'read:notes write:notes' });
    return token;
  };
  const call = (token: string, method = 'GET', text?: string) =>
    fetch(`${url}/notes`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(text ? { 'content-type': 'application/json' } : {}) },
      ...(text ? { body: JSON.stringify({ text }) } : {}),
    });
  const subject = (sub: string, sid: string, deviceId: string) => ({
    format: 'complex',
    user: { format: 'iss_sub', iss: latch.issuer, sub },
    session: { format: 'opaque', id: sid },
    device: { format: 'opaque', id: deviceId },
    application: { format: 'opaque', id: 'web-app' },
  });

  test('the stream was created for push with the push credential, and verified', () => {
    const stream = latch.onlyStream;
    assert.equal(stream.delivery.endpoint_url, `${url}/ssf/events`);
    assert.equal(stream.delivery.authorization_header, 'Bearer notes-push-secret');
    assert.ok(latch.verificationRequests.length >= 1);
  });

  test('session-revoked: the device gets 401 at once and only its notes are purged', async () => {
    const laptop = device('alice', 'sid-laptop', 'dev-laptop');
    const phone = device('alice', 'sid-phone', 'dev-phone');
    assert.equal((await call(laptop, 'POST', 'laptop note')).status, 201);
    assert.equal((await call(phone, 'POST', 'phone note')).status, 201);
    assert.equal((await call(laptop)).status, 200);
    const set = await latch.signSet(
      { [events.SESSION_REVOKED]: { initiating_entity: 'user' } },
      { claims: { sub_id: subject('alice', 'sid-laptop', 'dev-laptop') } },
    );
    const attempt = await latch.deliver(latch.onlyStream.stream_id, set);
    assert.equal(attempt?.status, 202);
    assert.equal((await call(laptop)).status, 401, 'the cached token is refused right after the push was answered');
    assert.equal(purged.at(-1)?.notes, 1);
    const phoneNotes = (await (await call(phone)).json()) as { notes: { text: string }[] };
    assert.deepEqual(
      phoneNotes.notes.map((n) => n.text),
      ['phone note'],
    );
  });

  test('account-purged removes the user’s notes on every device', async () => {
    const a = device('bob', 'sid-b1', 'dev-b1');
    const b = device('bob', 'sid-b2', 'dev-b2');
    const other = device('carol', 'sid-c1', 'dev-c1');
    for (const [t, text] of [
      [a, 'b1'],
      [b, 'b2'],
      [other, 'c1'],
    ] as const)
      assert.equal((await call(t, 'POST', text)).status, 201);
    const set = await latch.signSet({ [events.ACCOUNT_PURGED]: {} }, { claims: { sub_id: { format: 'iss_sub', iss: latch.issuer, sub: 'bob' } } });
    assert.equal((await latch.deliver(latch.onlyStream.stream_id, set))?.status, 202);
    await eventually(() => api.store.count(api.store.deviceOfSession('sid-b1') as string) === 0, 'bob’s notes gone');
    assert.equal(api.store.count(api.store.deviceOfSession('sid-b2') as string), 0);
    assert.equal(api.store.count(api.store.deviceOfSession('sid-c1') as string), 1, 'carol keeps hers');
    // The cached answer is gone: the next request asks Latch again (which, for a purged account, says inactive).
    const calls = api.introspector.calls;
    await call(a);
    assert.equal(api.introspector.calls, calls + 1);
  });

  test('a forged session-revoked (signed by another key) purges nothing', async () => {
    const t = device('dave', 'sid-d1', 'dev-d1');
    assert.equal((await call(t, 'POST', 'keep me')).status, 201);
    const { signingKey } = await import('../../../packages/resource-server/test/support/fake-latch.ts');
    const forged = await latch.signSet(
      { [events.SESSION_REVOKED]: {} },
      { key: await signingKey((latch.keys[0] as { kid: string }).kid), claims: { sub_id: subject('dave', 'sid-d1', 'dev-d1') } },
    );
    assert.equal((await latch.deliver(latch.onlyStream.stream_id, forged))?.status, 400);
    assert.equal((await call(t)).status, 200);
    assert.equal(api.store.count(api.store.deviceOfSession('sid-d1') as string), 1);
  });
});
