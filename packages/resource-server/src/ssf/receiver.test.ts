/**
 * The Shared Signals receiver against a transmitter written from SSF 1.0 / RFC 8935 / RFC 8936
 * (test/support/fake-latch.ts), with SETs signed in the tests by jose.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, beforeEach, describe, test } from 'node:test';
import { SignJWT } from 'jose';
import { CLIENT_ID, CLIENT_SECRET, FakeLatch, signingKey } from '../../test/support/fake-latch.ts';
import { eventually, serve } from '../../test/support/servers.ts';
import { latchToken } from '../../test/support/tokens.ts';
import { pushHandler } from '../adapters/node.ts';
import type { SessionEnded, TokenRevoked, UserEvent } from '../effects.ts';
import { createIntrospector, type Introspector } from '../introspector.ts';
import { deviceKeyOf } from '../principal.ts';
import { ACCOUNT_DISABLED, ACCOUNT_PURGED, CREDENTIAL_CHANGE, EVENTS_REQUESTED, SESSION_REVOKED, TOKEN_REVOKED } from './events.ts';
import { createReceiver, type Receiver, type ReceiverOptions } from './receiver.ts';

const AUTH = 'Bearer push-secret-0123456789';

const sessionSubject = (issuer: string, sub: string, sid: string, device = 'device-1') => ({
  format: 'complex',
  user: { format: 'iss_sub', iss: issuer, sub },
  session: { format: 'opaque', id: sid },
  device: { format: 'opaque', id: device },
  application: { format: 'opaque', id: 'web-app' },
});

describe('Shared Signals receiver (push)', () => {
  let latch: FakeLatch;
  let introspector: Introspector;
  let receiver: Receiver;
  let endpoint: Awaited<ReturnType<typeof serve>>;
  const seen = { sessions: [] as SessionEnded[], tokens: [] as TokenRevoked[], users: [] as UserEvent[] };
  let failNextCallback = false;

  before(async () => {
    latch = await FakeLatch.start();
    let handler: ReturnType<typeof pushHandler> | undefined;
    endpoint = await serve((req, res) => handler?.(req, res));
    introspector = createIntrospector({ issuer: latch.issuer, client: { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET } });
    const options: ReceiverOptions = {
      introspector,
      delivery: { method: 'push', endpointUrl: `${endpoint.url}/ssf/events`, authorizationHeader: AUTH },
      onSessionEnded: (e) => {
        if (failNextCallback) {
          failNextCallback = false;
          throw new Error('the database is down');
        }
        seen.sessions.push(e);
      },
      onTokenRevoked: (e) => void seen.tokens.push(e),
      onCredentialChange: (e) => void seen.users.push(e),
      onAccountDisabled: (e) => void seen.users.push(e),
      onAccountPurged: (e) => void seen.users.push(e),
    };
    receiver = createReceiver(options);
    handler = pushHandler(receiver);
  });
  after(async () => {
    await endpoint.close();
    await latch.close();
  });
  beforeEach(() => {
    seen.sessions.length = 0;
    seen.tokens.length = 0;
    seen.users.length = 0;
  });

  /** Introspects a new token (so it is cached) and returns a check of whether it still is. */
  async function cachedToken(claims: Record<string, unknown>): Promise<() => boolean> {
    const token = latchToken();
    latch.addToken(token, claims);
    assert.ok((await introspector.introspect(token)).active);
    const key = createHash('sha256').update(token).digest('base64url');
    return () => (introspector.cache as unknown as { entries: Map<string, unknown> }).entries.has(key);
  }

  const push = (set: string, headers: Record<string, string> = {}) =>
    fetch(`${endpoint.url}/ssf/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/secevent+jwt', authorization: AUTH, ...headers },
      body: set,
    });

  test('ensureStream creates a push stream for the events it acts on, with the push credential, and verifies it', async () => {
    const stream = await receiver.ensureStream();
    const created = latch.onlyStream;
    assert.equal(stream.stream_id, created.stream_id);
    assert.deepEqual([...created.events_requested].sort(), [...EVENTS_REQUESTED].sort());
    assert.equal(created.delivery.method, 'urn:ietf:rfc:8935');
    assert.equal(created.delivery.endpoint_url, `${endpoint.url}/ssf/events`);
    assert.equal(created.delivery.authorization_header, AUTH);
    const verification = latch.verificationRequests.at(-1);
    assert.equal(verification?.stream_id, created.stream_id);
    assert.ok(verification?.state && verification.state.length >= 16, 'a random state');
    await eventually(() => latch.pushes.at(-1)?.status === 202, 'the verification SET accepted with 202');
  });

  test('a second ensureStream reuses the stream; a 429 on verification (too soon) is not an error', async () => {
    latch.verificationStatus = 429;
    try {
      const stream = await receiver.ensureStream();
      assert.equal(latch.streams.size, 1);
      assert.equal(stream.stream_id, latch.onlyStream.stream_id);
    } finally {
      latch.verificationStatus = 204;
    }
  });

  test('session-revoked evicts by sid and reports the device', async () => {
    const ended = await cachedToken({ sub: 'alice', sid: 'sid-a', device_id: 'dev-a' });
    const sameSession = await cachedToken({ sub: 'alice', sid: 'sid-a', device_id: 'dev-a' });
    const otherSession = await cachedToken({ sub: 'alice', sid: 'sid-b', device_id: 'dev-b' });
    const set = await latch.signSet(
      { [SESSION_REVOKED]: { event_timestamp: 1, initiating_entity: 'user', reason_admin: { en: 'Signed out on another device' } } },
      { claims: { sub_id: sessionSubject(latch.issuer, 'alice', 'sid-a', 'dev-a') } },
    );
    const res = await push(set);
    assert.equal(res.status, 202);
    assert.equal(await res.text(), '');
    assert.equal(ended(), false);
    assert.equal(sameSession(), false);
    assert.ok(otherSession(), 'another session of the user stays cached');
    assert.equal(seen.sessions.length, 1);
    const e = seen.sessions[0] as SessionEnded;
    assert.equal(e.sub, 'alice');
    assert.equal(e.sid, 'sid-a');
    assert.equal(e.deviceId, 'dev-a');
    assert.equal(e.deviceKey, deviceKeyOf('alice', 'dev-a'));
    assert.equal(e.clientId, 'web-app');
    assert.equal(e.reason, 'session-revoked');
    assert.equal(e.initiatingEntity, 'user');
    assert.deepEqual(e.reasonAdmin, { en: 'Signed out on another device' });
  });

  test("Latch's token-revoked evicts exactly that token by jti", async () => {
    const revoked = await cachedToken({ sid: 'sid-t', jti: 'at_revoked' });
    const sibling = await cachedToken({ sid: 'sid-t', jti: 'at_sibling' });
    const set = await latch.signSet(
      { [TOKEN_REVOKED]: { jti: 'at_revoked' } },
      { claims: { sub_id: { format: 'complex', session: { format: 'opaque', id: 'sid-t' } } } },
    );
    assert.equal((await push(set)).status, 202);
    assert.equal(revoked(), false);
    assert.ok(sibling());
    assert.deepEqual(
      seen.tokens.map((t) => [t.jti, t.sid]),
      [['at_revoked', 'sid-t']],
    );
  });

  for (const [type, name] of [
    [CREDENTIAL_CHANGE, 'credential-change'],
    [ACCOUNT_DISABLED, 'account-disabled'],
    [ACCOUNT_PURGED, 'account-purged'],
  ] as const) {
    test(`${name} evicts every entry of the user`, async () => {
      const user = `user-${name}`;
      const a = await cachedToken({ sub: user, sid: `${name}-1` });
      const b = await cachedToken({ sub: user, sid: `${name}-2` });
      const bystander = await cachedToken({ sub: 'bystander', sid: `${name}-3` });
      const body = type === CREDENTIAL_CHANGE ? { credential_type: 'password', change_type: 'update' } : {};
      // A simple iss_sub subject (RFC 9493 §3.2.3) and the complex form both name the user.
      const subId =
        type === ACCOUNT_PURGED
          ? { format: 'complex', user: { format: 'iss_sub', iss: latch.issuer, sub: user } }
          : { format: 'iss_sub', iss: latch.issuer, sub: user };
      assert.equal((await push(await latch.signSet({ [type]: body }, { claims: { sub_id: subId } }))).status, 202);
      assert.equal(a(), false);
      assert.equal(b(), false);
      assert.ok(bystander());
      assert.equal(seen.users.length, 1);
      assert.equal(seen.users[0]?.sub, user);
      assert.equal(seen.users[0]?.type, name);
      if (type === CREDENTIAL_CHANGE) assert.equal(seen.users[0]?.event.credential_type, 'password');
    });
  }

  test('the subject inside the event (older CAEP drafts) is understood too', async () => {
    const ended = await cachedToken({ sid: 'sid-legacy' });
    const set = await latch.signSet({ [SESSION_REVOKED]: { subject: { format: 'complex', session: { format: 'opaque', id: 'sid-legacy' } } } });
    assert.equal((await push(set)).status, 202);
    assert.equal(ended(), false);
  });

  test('bad SETs get 400 with the RFC 8935 error code, and evict nothing', async () => {
    const victim = await cachedToken({ sub: 'victim', sid: 'sid-victim', jti: 'at_victim' });
    const events = { [SESSION_REVOKED]: {} };
    const claims = { sub_id: sessionSubject(latch.issuer, 'victim', 'sid-victim') };
    const k = latch.keys[0];
    assert.ok(k);
    const impostor = await signingKey(k.kid);
    const now = Math.floor(Date.now() / 1000);
    const cases: [string, Promise<string> | string, string, Record<string, string>?][] = [
      ['a signature by another key with the same kid', latch.signSet(events, { claims, key: impostor }), 'invalid_key'],
      ['a wrong aud', latch.signSet(events, { claims, aud: 'https://other-api.example/' }), 'invalid_audience'],
      ['a wrong iss', latch.signSet(events, { claims: { ...claims, iss: 'https://evil.example' } }), 'invalid_issuer'],
      ['an iat older than the window', latch.signSet(events, { claims: { ...claims, iat: now - 25 * 3600 } }), 'invalid_request'],
      ['an iat in the future', latch.signSet(events, { claims: { ...claims, iat: now + 3600 } }), 'invalid_request'],
      ['typ JWT instead of secevent+jwt', latch.signSet(events, { claims, header: { typ: 'JWT' } }), 'invalid_request'],
      ['no events', latch.signSet({}, { claims }), 'invalid_request'],
      ['a token-revoked without jti', latch.signSet({ [TOKEN_REVOKED]: {} }, { claims }), 'invalid_request'],
      [
        'a session-revoked of another issuer’s user',
        latch.signSet(events, { claims: { sub_id: { format: 'iss_sub', iss: 'https://evil.example', sub: 'victim' } } }),
        'invalid_request',
      ],
      [
        'an unsigned SET (alg none)',
        `${Buffer.from('{"alg":"none","typ":"secevent+jwt"}').toString('base64url')}.${Buffer.from(JSON.stringify({ iss: latch.issuer, aud: latch.audience, iat: now, jti: 'n1', events, ...claims })).toString('base64url')}.`,
        'invalid_key',
      ],
      [
        'an HS256 SET keyed with a guessable secret',
        new SignJWT({ iss: latch.issuer, aud: latch.audience, iat: now, jti: 'h1', events, ...claims })
          .setProtectedHeader({ alg: 'HS256', typ: 'secevent+jwt' })
          .sign(new TextEncoder().encode('x'.repeat(32))),
        'invalid_key',
      ],
      ['garbage', 'not-a-jwt', 'invalid_request'],
      ['the wrong content type', latch.signSet(events, { claims }), 'invalid_request', { 'content-type': 'application/json' }],
    ];
    for (const [what, set, code, headers] of cases) {
      const res = await push(await set, headers);
      assert.equal(res.status, 400, what);
      assert.match(res.headers.get('content-type') ?? '', /application\/json/, what);
      const body = (await res.json()) as { err: string; description: string };
      assert.equal(body.err, code, `${what}: ${body.description}`);
      assert.equal(typeof body.description, 'string');
    }
    const noAuth = await push(await latch.signSet(events, { claims }), { authorization: 'Bearer wrong' });
    assert.equal(noAuth.status, 401);
    assert.equal(((await noAuth.json()) as { err: string }).err, 'authentication_failed');
    assert.ok(victim(), 'nothing was evicted');
    assert.equal(seen.sessions.length, 0);
  });

  test('an unknown kid makes one JWKS refetch (a new key is found), not one per SET', async () => {
    const cached = await cachedToken({ sid: 'sid-kid' });
    const fetches = latch.jwksFetches;
    const stranger = await signingKey('kid-unknown');
    const events = { [SESSION_REVOKED]: {} };
    const claims = { sub_id: { format: 'complex', session: { format: 'opaque', id: 'sid-kid' } } };
    const res = await push(await latch.signSet(events, { claims, key: stranger }));
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { err: string }).err, 'invalid_key');
    assert.equal(latch.jwksFetches, fetches + 1, 'refetched once');
    for (let i = 0; i < 5; i++) assert.equal((await push(await latch.signSet(events, { claims, key: await signingKey(`kid-x${i}`) }))).status, 400);
    assert.equal(latch.jwksFetches, fetches + 1, 'made-up kids cannot make us fetch again right away');
    assert.ok(cached());
  });

  test('a key published since the last fetch is found by the refetch', async () => {
    // Its own introspector, so its key cache starts empty.
    const own = createIntrospector({ issuer: latch.issuer, client: { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET } });
    const r = createReceiver({ introspector: own, audience: latch.audience, delivery: { method: 'push', endpointUrl: 'http://127.0.0.1:9/unused' } });
    assert.equal((await r.process(await latch.signSet({ 'urn:example:unknown': {} }))).outcome, 'applied', 'the cache holds the current key');
    const fetches = latch.jwksFetches;
    const next = await signingKey('kid-next');
    latch.keys.push(next);
    try {
      const result = await r.process(
        await latch.signSet({ [SESSION_REVOKED]: {} }, { key: next, claims: { sub_id: sessionSubject(latch.issuer, 'u', 'sid-rotated') } }),
      );
      assert.equal(result.outcome, 'applied');
      assert.equal(latch.jwksFetches, fetches + 1);
    } finally {
      latch.keys.pop();
    }
  });

  test('a replayed SET is refused (400) and applied only once', async () => {
    const set = await latch.signSet({ [SESSION_REVOKED]: {} }, { claims: { sub_id: sessionSubject(latch.issuer, 'replay', 'sid-replay') } });
    assert.equal((await push(set)).status, 202);
    const again = await push(set);
    assert.equal(again.status, 400);
    assert.equal(((await again.json()) as { err: string }).err, 'invalid_request');
    assert.equal(seen.sessions.length, 1);
  });

  test('a callback that fails answers 503 so the transmitter retries, and the retry is applied', async () => {
    const set = await latch.signSet({ [SESSION_REVOKED]: {} }, { claims: { sub_id: sessionSubject(latch.issuer, 'retry', 'sid-retry') } });
    failNextCallback = true;
    const first = await push(set);
    assert.equal(first.status, 503);
    assert.equal(seen.sessions.length, 0);
    assert.equal((await push(set)).status, 202);
    assert.equal(seen.sessions.length, 1);
  });

  test('unknown event types are accepted and ignored', async () => {
    const set = await latch.signSet({ 'https://schemas.openid.net/secevent/caep/event-type/assurance-level-change': { current_level: 'nist-aal2' } });
    assert.equal((await push(set)).status, 202);
  });
});

describe('Shared Signals receiver (poll, RFC 8936)', () => {
  let latch: FakeLatch;
  let receiver: Receiver;
  let introspector: Introspector;
  const ended: SessionEnded[] = [];

  before(async () => {
    latch = await FakeLatch.start();
    introspector = createIntrospector({ issuer: latch.issuer, client: { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET } });
    receiver = createReceiver({ introspector, delivery: { method: 'poll', longPollTimeoutMs: 5000 }, onSessionEnded: (e) => void ended.push(e) });
  });
  after(async () => {
    await receiver.stop();
    await latch.close();
  });

  test('ensureStream creates a poll stream, polls, and the verification arrives by poll', async () => {
    const stream = await receiver.ensureStream();
    assert.equal(latch.onlyStream.delivery.method, 'urn:ietf:rfc:8936');
    assert.equal(stream.delivery?.endpoint_url, `${latch.issuer}/ssf/poll/${stream.stream_id}`);
    // The verification SET was acknowledged in a following poll.
    await eventually(() => latch.onlyStream.queue.length === 0, 'the verification SET acknowledged');
    assert.ok(
      latch.polls.every((p) => p.returnImmediately === false),
      'long polling',
    );
  });

  test('a long poll returns as soon as an event is delivered; the SET is applied and acknowledged', async () => {
    const token = latchToken();
    latch.addToken(token, { sub: 'polly', sid: 'sid-poll', device_id: 'dev-poll' });
    assert.ok((await introspector.introspect(token)).active);
    const set = await latch.signSet({ [SESSION_REVOKED]: {} }, { claims: { sub_id: sessionSubject(latch.issuer, 'polly', 'sid-poll', 'dev-poll') } });
    const jti = JSON.parse(Buffer.from(set.split('.')[1] as string, 'base64url').toString()).jti as string;
    const start = Date.now();
    await latch.deliver(latch.onlyStream.stream_id, set);
    await eventually(() => ended.some((e) => e.sid === 'sid-poll'), 'the session-revoked applied');
    assert.ok(Date.now() - start < 1500, `applied ${Date.now() - start} ms after delivery (long poll, not a 2 s wait)`);
    assert.equal(introspector.stats().entries, 0);
    await eventually(() => latch.polls.some((p) => Array.isArray(p.ack) && (p.ack as string[]).includes(jti)), 'the ack');
    assert.equal(ended.find((e) => e.sid === 'sid-poll')?.deviceKey, deviceKeyOf('polly', 'dev-poll'));
  });

  test('a bad SET is reported in setErrs with its code and not acknowledged', async () => {
    const bad = await latch.signSet({ [SESSION_REVOKED]: {} }, { aud: 'https://someone-else.example/' });
    const jti = JSON.parse(Buffer.from(bad.split('.')[1] as string, 'base64url').toString()).jti as string;
    await latch.deliver(latch.onlyStream.stream_id, bad);
    const poll = await eventually(() => latch.polls.find((p) => (p.setErrs as Record<string, unknown> | undefined)?.[jti]), 'setErrs');
    assert.deepEqual(Object.keys((poll.setErrs as Record<string, { err: string }>)[jti] as object).sort(), ['description', 'err']);
    assert.equal((poll.setErrs as Record<string, { err: string }>)[jti]?.err, 'invalid_audience');
    assert.ok(!latch.polls.some((p) => Array.isArray(p.ack) && (p.ack as string[]).includes(jti)));
  });
});
