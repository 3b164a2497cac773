/**
 * OpenID Connect Back-Channel Logout 1.0 through the outbox (docs/architecture.md §4), against a real receiver on
 * a loopback port: the logout token verifies against the JWKS with every required claim; deliveries
 * survive receiver outages and Latch restarts, reach the receiver once per session even with two
 * Latch processes on one database, dead-letter after the configured attempts and can be retried.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as oidc from 'openid-client';
import type { Session } from '../../../src/storage/repositories.ts';
import { type Backend, backends } from '../../support/backends.ts';
import { startLatch, type TestLatch } from '../../support/latch.ts';
import { Browser, createUser, eventually, LogoutReceiver, peek, relyingParty, signIn, verifyLogoutToken } from './helpers.ts';

interface EventView {
  id: number;
  kind: string;
  target: string;
  status: 'pending' | 'delivered' | 'dead';
  attempts: number;
  payload: Record<string, unknown>;
  last_error: string | null;
  delivered_at: string | null;
  dead_at: string | null;
}

/** Fast retries so outages of a second or two are several attempts. */
const FAST = { 'outbox.pollInterval': 50, 'outbox.retryBase': 100, 'outbox.retryMax': 300, 'outbox.maxAttempts': 50 };

async function events(t: TestLatch, query = ''): Promise<EventView[]> {
  const res = await t.admin<{ events: EventView[] }>('GET', `/admin/v1/events${query}`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.events;
}

async function eventFor(t: TestLatch, sid: string): Promise<EventView | undefined> {
  return (await events(t, '?limit=200')).find((e) => e.payload.sid === sid);
}

/** A user, a client with `backchannel_logout_uri` and a running session between them (as the code grant creates it). */
async function seed(t: TestLatch, receiver: LogoutReceiver, metadata: Record<string, unknown> = {}) {
  const user = await createUser(t, `u${Math.random().toString(36).slice(2, 10)}`);
  const res = await t.admin<{ client_id: string }>('POST', '/admin/v1/clients', {
    client_name: 'Notes',
    redirect_uris: ['https://rp.example/callback'],
    backchannel_logout_uri: receiver.url,
    ...metadata,
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  const clientId = res.body.client_id;
  const session = await t.latch.sessions.start(t.latch.storage, {
    userId: user.id,
    clientId,
    browserSessionId: null,
    scope: ['openid'],
    authTime: Date.now(),
    amr: ['pwd'],
    acr: null,
    now: Date.now(),
  });
  return { user, clientId, session };
}

/** Ends a session the way every caller does: through the session service, in a transaction. */
function end(t: TestLatch, session: Session, reason: 'admin' | 'logout' = 'admin'): Promise<boolean> {
  return t.latch.storage.transaction((repos) => t.latch.sessions.end(repos, session, reason, Date.now()));
}

for (const backend of backends() as Backend[]) {
  describe(`[${backend}] back-channel logout through the outbox`, () => {
    let t: TestLatch;
    let receiver: LogoutReceiver;
    /** Instances started on t's database by the restart test (closed here; t.close() drops the database). */
    const restarted: TestLatch[] = [];
    before(async () => {
      receiver = await LogoutReceiver.start();
      t = await startLatch(backend, { config: FAST });
    });
    after(async () => {
      for (const r of restarted) await r.stop();
      await t.close();
      await receiver.down();
    });

    test('revoking the refresh token ends the session; the RP receives a logout token that verifies against the JWKS with every required claim', async () => {
      const rp = await relyingParty(t, { backchannel_logout_uri: receiver.url, backchannel_logout_session_required: true });
      const user = await createUser(t, 'margaret');
      const { tokens } = await signIn(t, rp, new Browser(t.issuer), 'margaret');
      const idClaims = tokens.claims();
      assert.ok(idClaims && tokens.refresh_token);
      const sent = receiver.received.length;

      await oidc.tokenRevocation(rp.config, tokens.refresh_token);
      const got = await eventually(() => receiver.received.slice(sent).find((r) => r.logoutToken), 'the logout token');
      // §2.5: a form POST with a single logout_token parameter.
      assert.equal(got.contentType, 'application/x-www-form-urlencoded');
      assert.deepEqual([...new URLSearchParams(got.body).keys()], ['logout_token']);
      const { payload, typ } = await verifyLogoutToken(t, got.logoutToken as string, rp.clientId);
      assert.equal(typ, 'logout+jwt');
      assert.equal(payload.iss, t.issuer);
      assert.equal(payload.aud, rp.clientId);
      assert.equal(payload.sub, user.id);
      assert.equal(payload.sub, idClaims.sub);
      assert.equal(payload.sid, idClaims.sid, 'the sid of the ID token names the session that ended');
      assert.deepEqual(payload.events, { 'http://schemas.openid.net/event/backchannel-logout': {} });
      assert.equal(typeof payload.jti, 'string');
      assert.ok((payload.jti as string).length >= 16);
      assert.equal(payload.nonce, undefined, '§2.4: a nonce MUST NOT be present');
      assert.ok((payload.exp as number) - (payload.iat as number) <= 120, 'short-lived (§4: at most two minutes)');
      assert.ok(Math.abs((payload.iat as number) - Date.now() / 1000) < 30);

      // The access token died with the session.
      const res = await fetch(`${t.issuer}/oauth2/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
      assert.equal(res.status, 401);
      const event = await eventually(async () => {
        const e = await eventFor(t, idClaims.sid as string);
        return e?.status === 'delivered' ? e : undefined;
      }, 'the event recorded as delivered');
      assert.equal(event.kind, 'oidc.backchannel_logout');
      assert.equal(event.attempts, 1);
      assert.equal(event.payload.reason, 'revoked');
    });

    test('no logout token for clients without backchannel_logout_uri; one per session however often it is ended', async () => {
      const quiet = await seed(t, receiver, { backchannel_logout_uri: undefined });
      assert.ok(await end(t, quiet.session));
      const loud = await seed(t, receiver);
      const sent = receiver.received.length;
      assert.ok(await end(t, loud.session));
      assert.equal(await end(t, loud.session), false, 'ending twice changes nothing');
      await eventually(() => receiver.received.length > sent, 'one delivery');
      assert.equal(await eventFor(t, quiet.session.sid), undefined);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(receiver.received.slice(sent).length, 1);
    });

    test('receiver down (connection refused) for a while, then up: retried with backoff, then delivered', async () => {
      const { session, clientId } = await seed(t, receiver);
      await receiver.down();
      const sent = receiver.received.length;
      assert.ok(await end(t, session));
      const failing = await eventually(async () => {
        const e = await eventFor(t, session.sid);
        return e && e.attempts >= 3 ? e : undefined;
      }, 'three failed attempts');
      assert.equal(failing.status, 'pending');
      assert.equal(failing.last_error, 'connection refused');
      await receiver.up();
      const delivered = await eventually(async () => {
        const e = await eventFor(t, session.sid);
        return e?.status === 'delivered' ? e : undefined;
      }, 'delivery after the receiver came back');
      // The attempt seen failing may itself have been in flight when the receiver came back, so the
      // delivery can be that same attempt; what matters is that failed attempts came before it.
      assert.ok(delivered.attempts >= failing.attempts, `delivered on attempt ${delivered.attempts}`);
      const got = receiver.received.slice(sent);
      assert.equal(got.length, 1, 'nothing reached the receiver while it was down; exactly one request after');
      const { payload } = await verifyLogoutToken(t, got[0]?.logoutToken as string, clientId);
      assert.equal(payload.sid, session.sid);
    });

    test('a receiver answering 4xx/5xx is retried (never a crash); 204 counts as delivered', async () => {
      const { session } = await seed(t, receiver);
      receiver.status = 503;
      const sent = receiver.received.length;
      assert.ok(await end(t, session));
      await eventually(async () => ((await eventFor(t, session.sid))?.attempts ?? 0) >= 2, 'two 503 answers');
      assert.equal((await eventFor(t, session.sid))?.last_error, 'HTTP 503');
      receiver.status = 400;
      await eventually(async () => (await eventFor(t, session.sid))?.last_error === 'HTTP 400', 'a 400 answer, also retried');
      receiver.status = 204;
      await eventually(async () => (await eventFor(t, session.sid))?.status === 'delivered', 'delivery on 204');
      receiver.status = 200;
      const jtis = new Set(receiver.received.slice(sent).map((r) => peek(r.logoutToken as string).jti));
      assert.equal(jtis.size, 1, 'every attempt carries the same jti');
      // The server is still serving.
      assert.equal((await fetch(`${t.issuer}/health/ready`)).status, 200);
    });

    test('a target on a private network is refused without connecting (SSRF) and recorded as the error', async () => {
      // Registration refuses private addresses (registration/called-urls.test.ts); a host name can
      // still resolve to one later, so delivery checks again. Stored directly to get that far.
      const { clientId, session } = await seed(t, receiver);
      const client = await t.latch.storage.clients.lookup(clientId);
      assert.ok(client);
      await t.latch.storage.clients.update(clientId, { metadata: { ...client.metadata, backchannel_logout_uri: 'http://10.255.255.1/logout' } }, Date.now());
      assert.ok(await end(t, session));
      const e = await eventually(async () => {
        const x = await eventFor(t, session.sid);
        return x && x.attempts >= 1 && x.last_error ? x : undefined;
      }, 'a refused attempt');
      assert.match(e.last_error ?? '', /private|refused/);
    });

    test('a malformed backchannel_logout_uri is rejected at registration', async () => {
      for (const uri of ['not a url', 'https://rp.example/logout#frag', 'javascript:alert(1)']) {
        const res = await t.admin<{ error: string }>('POST', '/admin/v1/clients', {
          client_name: 'Bad',
          redirect_uris: ['https://rp.example/callback'],
          backchannel_logout_uri: uri,
        });
        assert.equal(res.status, 400, uri);
        assert.equal(res.body.error, 'invalid_client_metadata');
      }
    });

    test('Latch restarted between enqueue and delivery: each event delivered exactly once after the restart', async () => {
      const sent = receiver.received.length;
      await t.stop();
      // 1. A process without dispatcher commits the session end and its event, and stops.
      let current = await startLatch(backend, { database: t.database, config: { ...FAST, 'outbox.dispatcher': false } });
      const queued = await seed(current, receiver);
      assert.ok(await end(current, queued.session));
      assert.equal((await eventFor(current, queued.session.sid))?.status, 'pending');
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(receiver.received.length, sent, 'nothing sent yet');
      await current.stop();

      // 2. The next process delivers it; meanwhile a second event fails (receiver down) and that process stops mid-retry.
      current = await startLatch(backend, { database: t.database, config: FAST });
      await eventually(async () => (await eventFor(current, queued.session.sid))?.status === 'delivered', 'delivery of the queued event after the restart');
      const first = receiver.received.slice(sent).filter((r) => r.status === 200);
      assert.equal(first.length, 1);
      const verified = await verifyLogoutToken(current, first[0]?.logoutToken as string, queued.clientId);
      assert.equal(verified.payload.sid, queued.session.sid);
      const retrying = await seed(current, receiver);
      await receiver.down();
      assert.ok(await end(current, retrying.session));
      await eventually(async () => ((await eventFor(current, retrying.session.sid))?.attempts ?? 0) >= 1, 'a failed attempt before the restart');
      await current.stop();
      await receiver.up();

      // 3. Restarted again: the interrupted one goes out too.
      current = await startLatch(backend, { database: t.database, config: FAST });
      restarted.push(current);
      await eventually(async () => (await eventFor(current, retrying.session.sid))?.status === 'delivered', 'delivery of the retried event after the restart');
      await new Promise((r) => setTimeout(r, 400));

      const ok = receiver.received.slice(sent).filter((r) => r.status === 200);
      assert.equal(ok.length, 2, 'two successful deliveries in total, one per session');
      const jtisBySid = new Map<string, Set<unknown>>();
      for (const r of receiver.received.slice(sent)) {
        const claims = peek(r.logoutToken as string);
        jtisBySid.set(claims.sid as string, (jtisBySid.get(claims.sid as string) ?? new Set()).add(claims.jti));
      }
      assert.deepEqual([...jtisBySid.keys()].sort(), [queued.session.sid, retrying.session.sid].sort());
      for (const jtis of jtisBySid.values()) assert.equal(jtis.size, 1, 'one distinct jti per session across attempts and restarts');
      const last = ok.find((r) => peek(r.logoutToken as string).sid === retrying.session.sid);
      assert.equal((await verifyLogoutToken(current, last?.logoutToken as string, retrying.clientId)).payload.sub, retrying.user.id);
    });
  });

  describe(`[${backend}] outbox dead letters and two processes`, () => {
    let receiver: LogoutReceiver;
    before(async () => {
      receiver = await LogoutReceiver.start();
    });
    after(() => receiver.down());

    test('after maxAttempts the event is dead, visible in GET /admin/v1/events, and POST …/retry sends it again', async () => {
      const t = await startLatch(backend, { config: { ...FAST, 'outbox.maxAttempts': 3 } });
      try {
        const { session } = await seed(t, receiver);
        receiver.status = 500;
        const sent = receiver.received.length;
        assert.ok(await end(t, session));
        const dead = await eventually(async () => {
          const e = await eventFor(t, session.sid);
          return e?.status === 'dead' ? e : undefined;
        }, 'the dead letter');
        assert.equal(dead.attempts, 3);
        assert.equal(dead.last_error, 'HTTP 500');
        assert.ok(dead.dead_at);
        assert.equal(receiver.received.length - sent, 3, 'exactly maxAttempts requests');
        const listed = await events(t, '?status=dead');
        assert.deepEqual(
          listed.map((e) => e.id),
          [dead.id],
        );
        assert.equal((await events(t, '?status=pending')).length, 0);
        await new Promise((r) => setTimeout(r, 300));
        assert.equal(receiver.received.length - sent, 3, 'dead events are not retried by themselves');

        receiver.status = 200;
        const retried = await t.admin<EventView>('POST', `/admin/v1/events/${dead.id}/retry`);
        assert.equal(retried.status, 200);
        assert.equal(retried.body.status, 'pending');
        assert.equal(retried.body.attempts, 0);
        await eventually(async () => (await eventFor(t, session.sid))?.status === 'delivered', 'delivery after the retry');
        assert.equal((await t.admin('POST', `/admin/v1/events/${dead.id}/retry`)).status, 409, 'only dead events can be retried');
        assert.equal((await t.admin('POST', '/admin/v1/events/999999/retry')).status, 404);
        assert.equal((await t.admin('GET', `/admin/v1/events/${dead.id}`)).body.status, 'delivered');
        assert.equal((await t.admin('GET', '/admin/v1/events?status=bogus')).status, 400);
      } finally {
        receiver.status = 200;
        await t.close();
      }
    });

    test('a receiver slower than outbound.timeoutMs times out and is retried; every attempt carries the same jti', async () => {
      const t = await startLatch(backend, { config: { ...FAST, 'outbound.timeoutMs': 300 } });
      try {
        const { session } = await seed(t, receiver);
        receiver.delayMs = 1500;
        const sent = receiver.received.length;
        assert.ok(await end(t, session));
        const slow = await eventually(async () => {
          const e = await eventFor(t, session.sid);
          return e && e.attempts >= 2 ? e : undefined;
        }, 'two timed-out attempts');
        assert.equal(slow.status, 'pending');
        assert.equal(slow.last_error, 'timeout');
        receiver.delayMs = 0;
        await eventually(async () => (await eventFor(t, session.sid))?.status === 'delivered', 'delivery once the receiver is fast again');
        const jtis = new Set(receiver.received.slice(sent).map((r) => peek(r.logoutToken as string).jti));
        assert.ok(receiver.received.length - sent >= 2, 'the receiver saw the timed-out attempt too (at-least-once)');
        assert.equal(jtis.size, 1, 'so it must deduplicate by jti, which never changes');
      } finally {
        receiver.delayMs = 0;
        await t.close();
      }
    });

    test('two Latch processes on one database: every logout token is delivered exactly once', async () => {
      const a = await startLatch(backend, { config: FAST });
      const b = await startLatch(backend, { database: a.database, config: FAST });
      try {
        receiver.delayMs = 30;
        const sent = receiver.received.length;
        const seeded = [];
        for (let i = 0; i < 12; i++) seeded.push(await seed(i % 2 === 0 ? a : b, receiver));
        // End them from both processes at once.
        await Promise.all(seeded.map((s, i) => end(i % 3 === 0 ? a : b, s.session)));
        await eventually(async () => (await events(a, '?status=delivered&limit=200')).length >= seeded.length, 'all delivered', 30_000);
        await new Promise((r) => setTimeout(r, 500));
        const got = receiver.received.slice(sent);
        const sids = got.map((r) => peek(r.logoutToken as string).sid as string);
        assert.equal(got.length, seeded.length, 'one request per ended session, no duplicates');
        assert.deepEqual(new Set(sids), new Set(seeded.map((s) => s.session.sid)));
        const delivered = await events(b, '?status=delivered&limit=200');
        assert.ok(delivered.every((e) => e.attempts === 1));
      } finally {
        receiver.delayMs = 0;
        await b.stop();
        await a.close();
      }
    });
  });
}
