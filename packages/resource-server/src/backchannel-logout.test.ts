/** The OIDC back-channel logout receiver with logout tokens signed in the test (Back-Channel Logout 1.0 §2.4–§2.8). */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { CLIENT_ID, CLIENT_SECRET, FakeLatch, signingKey } from '../test/support/fake-latch.ts';
import { latchToken } from '../test/support/tokens.ts';
import { createBackchannelLogoutReceiver } from './backchannel-logout.ts';
import type { SessionEnded } from './effects.ts';
import { createIntrospector, type Introspector } from './introspector.ts';

const FORM = 'application/x-www-form-urlencoded';

describe('back-channel logout receiver', () => {
  let latch: FakeLatch;
  let introspector: Introspector;
  const ended: SessionEnded[] = [];
  let receiver: ReturnType<typeof createBackchannelLogoutReceiver>;

  before(async () => {
    latch = await FakeLatch.start();
    introspector = createIntrospector({ issuer: latch.issuer, client: { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET } });
    receiver = createBackchannelLogoutReceiver({ introspector, onSessionEnded: (e) => void ended.push(e) });
  });
  after(() => latch.close());

  async function cachedToken(claims: Record<string, unknown>): Promise<() => boolean> {
    const token = latchToken();
    latch.addToken(token, claims);
    assert.ok((await introspector.introspect(token)).active);
    const key = createHash('sha256').update(token).digest('base64url');
    return () => (introspector.cache as unknown as { entries: Map<string, unknown> }).entries.has(key);
  }

  const send = (logoutToken: string) => receiver.handle({ contentType: FORM, body: new URLSearchParams({ logout_token: logoutToken }).toString() });

  test('a valid logout token with sid evicts that session and answers 200', async () => {
    const gone = await cachedToken({ sub: 'alice', sid: 'sid-1' });
    const stays = await cachedToken({ sub: 'alice', sid: 'sid-2' });
    const reply = await send(await latch.signLogoutToken({ sub: 'alice', sid: 'sid-1' }));
    assert.equal(reply.status, 200);
    assert.equal(reply.headers['cache-control'], 'no-store');
    assert.equal(gone(), false);
    assert.ok(stays());
    assert.equal(ended.at(-1)?.sid, 'sid-1');
    assert.equal(ended.at(-1)?.sub, 'alice');
    assert.equal(ended.at(-1)?.reason, 'backchannel-logout');
  });

  test('a logout token with only sub evicts every session of the user', async () => {
    const a = await cachedToken({ sub: 'bob', sid: 'b1' });
    const b = await cachedToken({ sub: 'bob', sid: 'b2' });
    assert.equal((await send(await latch.signLogoutToken({ sub: 'bob' }))).status, 200);
    assert.equal(a(), false);
    assert.equal(b(), false);
  });

  test('invalid logout tokens get 400 and evict nothing', async () => {
    const victim = await cachedToken({ sub: 'carol', sid: 'c1' });
    const count = ended.length;
    const now = Math.floor(Date.now() / 1000);
    const stranger = await signingKey('stranger');
    latch.keys.push(stranger);
    const strangerToken = await (async () => {
      // Signed by a key Latch does not publish: removed again before the receiver looks.
      const [current] = latch.keys.splice(0, 1);
      const t = await latch.signLogoutToken({ sub: 'carol', sid: 'c1' });
      latch.keys.unshift(current as (typeof latch.keys)[0]);
      latch.keys.pop();
      return t;
    })();
    const cases: [string, string][] = [
      ['no events claim', await latch.signLogoutToken({ sid: 'c1', events: {} })],
      ['a nonce (an ID token)', await latch.signLogoutToken({ sid: 'c1', nonce: 'n' })],
      ['another audience', await latch.signLogoutToken({ sid: 'c1', aud: 'other-client' })],
      ['another issuer', await latch.signLogoutToken({ sid: 'c1', iss: 'https://evil.example' })],
      ['neither sid nor sub', await latch.signLogoutToken({})],
      ['typ JWT', await latch.signLogoutToken({ sid: 'c1' }, { typ: 'JWT' })],
      ['an old iat', await latch.signLogoutToken({ sid: 'c1', iat: now - 600, exp: now + 60 })],
      ['expired', await latch.signLogoutToken({ sid: 'c1', iat: now - 100, exp: now - 70 })],
      ['signed by an unpublished key', strangerToken],
      ['garbage', 'a.b.c'],
    ];
    for (const [what, token] of cases) {
      const reply = await send(token);
      assert.equal(reply.status, 400, what);
      assert.equal(JSON.parse(reply.body).error, 'invalid_request', what);
    }
    assert.equal((await receiver.handle({ contentType: 'application/json', body: '{"logout_token":"x"}' })).status, 400);
    assert.equal((await receiver.handle({ contentType: FORM, body: 'other=1' })).status, 400);
    assert.ok(victim(), 'nothing evicted');
    assert.equal(ended.length, count);
  });

  test('a replayed logout token is refused and applied once', async () => {
    const token = await latch.signLogoutToken({ sub: 'dave', sid: 'd1' });
    assert.equal((await send(token)).status, 200);
    const count = ended.length;
    assert.equal((await send(token)).status, 400);
    assert.equal(ended.length, count);
  });
});
