/**
 * The same guarded route and receiver endpoints on fastify, express and plain node:http: 200 with
 * the principal, 401 / 403 with RFC 6750 challenges, 503 when Latch fails, SETs pushed to the
 * mounted endpoint (202, or 400 with the RFC 8935 code) and logout tokens to theirs.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import express from 'express';
import Fastify from 'fastify';
import { CLIENT_ID, CLIENT_SECRET, FakeLatch } from '../../test/support/fake-latch.ts';
import { serve } from '../../test/support/servers.ts';
import { latchToken } from '../../test/support/tokens.ts';
import { createBackchannelLogoutReceiver } from '../backchannel-logout.ts';
import { createGuard, type Guard } from '../guard.ts';
import { createIntrospector } from '../introspector.ts';
import { SESSION_REVOKED } from '../ssf/events.ts';
import { createReceiver, type Receiver } from '../ssf/receiver.ts';
import { backchannelLogoutRoute as expressLogout, pushRoute as expressPush, requireToken as expressRequireToken } from './express.ts';
import { latchResourceServer } from './fastify.ts';
import { authenticate, backchannelLogoutHandler, pushHandler } from './node.ts';

interface App {
  url: string;
  close(): Promise<void>;
}

interface Parts {
  guard: Guard;
  receiver: Receiver;
  logout: ReturnType<typeof createBackchannelLogoutReceiver>;
}

const apps: Record<string, (parts: Parts) => Promise<App>> = {
  async fastify({ guard, receiver, logout }) {
    const app = Fastify();
    await app.register(latchResourceServer, { guard, receiver, pushPath: '/ssf/events', backchannelLogout: logout, backchannelLogoutPath: '/logout' });
    app.get('/notes', { onRequest: app.requireToken({ scopes: ['notes:read'] }) }, async (request) => ({ sub: request.principal.sub }));
    app.get('/admin', { onRequest: app.requireToken({ scopes: ['admin'] }) }, async () => ({ ok: true }));
    // The app's own JSON parsing is untouched by the plugin's parsers.
    app.post('/echo', async (request) => request.body);
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    return { url, close: () => app.close() };
  },
  async express({ guard, receiver, logout }) {
    const app = express();
    app.post('/ssf/events', expressPush(receiver));
    app.post('/logout', expressLogout(logout));
    app.use(express.json());
    app.get('/notes', expressRequireToken(guard, { scopes: ['notes:read'] }), (req, res) => {
      res.json({ sub: (req as unknown as { principal: { sub: string } }).principal.sub });
    });
    app.get('/admin', expressRequireToken(guard, { scopes: ['admin'] }), (_req, res) => {
      res.json({ ok: true });
    });
    app.post('/echo', (req, res) => {
      res.json(req.body);
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    };
  },
  async node({ guard, receiver, logout }) {
    const push = pushHandler(receiver);
    const logoutHandler = backchannelLogoutHandler(logout);
    return serve(async (req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      if (req.method === 'POST' && path === '/ssf/events') return push(req, res);
      if (req.method === 'POST' && path === '/logout') return logoutHandler(req, res);
      if (req.method === 'POST' && path === '/echo') {
        let body = '';
        for await (const c of req) body += c;
        return res.writeHead(200, { 'content-type': 'application/json' }).end(body);
      }
      const scopes = path === '/admin' ? ['admin'] : ['notes:read'];
      const principal = await authenticate(guard, req, res, { scopes });
      if (principal) res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(path === '/admin' ? { ok: true } : { sub: principal.sub }));
    });
  },
};

for (const [name, start] of Object.entries(apps)) {
  describe(`${name} adapter`, () => {
    let latch: FakeLatch;
    let app: App;
    let token: string;
    let introspections = 0;

    before(async () => {
      latch = await FakeLatch.start();
      const introspector = createIntrospector({
        issuer: latch.issuer,
        client: { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET },
        metrics: { introspection: () => void introspections++ },
      });
      const guard = createGuard({ introspector, realm: 'notes' });
      const receiver = createReceiver({ introspector, audience: latch.audience, delivery: { method: 'push', endpointUrl: 'http://127.0.0.1/ssf/events' } });
      const logout = createBackchannelLogoutReceiver({ introspector });
      app = await start({ guard, receiver, logout });
      token = latchToken();
      latch.addToken(token, { sub: 'alice', sid: 'sid-adapter', scope: 'notes:read' });
    });
    after(async () => {
      await app.close();
      await latch.close();
    });

    const get = (path: string, authorization?: string) => fetch(app.url + path, { headers: authorization ? { authorization } : {} });

    test('a valid token reaches the route with its principal', async () => {
      const res = await get('/notes', `Bearer ${token}`);
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { sub: 'alice' });
    });

    test('401 without a token, 401 invalid_token for a bad one, 403 for a missing scope', async () => {
      const none = await get('/notes');
      assert.equal(none.status, 401);
      assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="notes"');
      const bad = await get('/notes', 'Bearer lat_at_garbage');
      assert.equal(bad.status, 401);
      assert.match(bad.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
      assert.equal(((await bad.json()) as { error: string }).error, 'invalid_token');
      const forbidden = await get('/admin', `Bearer ${token}`);
      assert.equal(forbidden.status, 403);
      assert.match(forbidden.headers.get('www-authenticate') ?? '', /error="insufficient_scope", .*scope="admin"/);
    });

    test('503 when Latch fails, for a token not in the cache', async () => {
      const fresh = latchToken();
      latch.addToken(fresh, { scope: 'notes:read' });
      latch.introspectionStatus = 502;
      try {
        const res = await get('/notes', `Bearer ${fresh}`);
        assert.equal(res.status, 503);
        assert.equal(((await res.json()) as { error: string }).error, 'temporarily_unavailable');
      } finally {
        latch.introspectionStatus = undefined;
      }
    });

    test('the push endpoint takes SETs (202) and refuses bad ones (400); the session then gets 401', async () => {
      const bad = await fetch(`${app.url}/ssf/events`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' });
      assert.equal(bad.status, 400);
      assert.equal(((await bad.json()) as { err: string }).err, 'invalid_request');
      const before = introspections;
      assert.equal((await get('/notes', `Bearer ${token}`)).status, 200);
      assert.equal(introspections, before, 'served from the cache');
      const set = await latch.signSet(
        { [SESSION_REVOKED]: {} },
        { claims: { sub_id: { format: 'complex', session: { format: 'opaque', id: 'sid-adapter' } } } },
      );
      const res = await fetch(`${app.url}/ssf/events`, { method: 'POST', headers: { 'content-type': 'application/secevent+jwt' }, body: set });
      assert.equal(res.status, 202);
      // The fake still says active; the revocation's tombstone keeps the stale answer out.
      assert.equal((await get('/notes', `Bearer ${token}`)).status, 401);
    });

    test('the back-channel logout endpoint takes logout tokens', async () => {
      const ok = await fetch(`${app.url}/logout`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ logout_token: await latch.signLogoutToken({ sub: 'alice', sid: 'sid-x' }) }),
      });
      assert.equal(ok.status, 200);
      const bad = await fetch(`${app.url}/logout`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'logout_token=a.b.c',
      });
      assert.equal(bad.status, 400);
    });

    test("the app's own JSON routes still parse JSON", async () => {
      const res = await fetch(`${app.url}/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' });
      assert.deepEqual(await res.json(), { a: 1 });
    });
  });
}
