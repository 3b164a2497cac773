/**
 * The token and introspection endpoints are answered on node:http before fastify (http/direct.ts)
 * for ordinary form POSTs, and by fastify for everything else. Both lanes must give the same
 * answers: these tests send each request both ways (a query string sends it to fastify) and compare.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { backends } from '../../support/backends.ts';
import { startLatch, type TestLatch } from '../../support/latch.ts';
import { basic, createServiceClient, post, type Reply, type TestClient } from './helpers.ts';

/** What must match between the lanes: status, the JSON members present and the headers that matter. */
function shape(reply: Reply) {
  const h = reply.headers;
  return {
    status: reply.status,
    error: reply.body.error,
    members: Object.keys(reply.body).sort(),
    active: reply.body.active,
    headers: ['content-type', 'cache-control', 'pragma', 'x-content-type-options', 'www-authenticate', 'retry-after'].map((n) => `${n}: ${h.get(n)}`),
  };
}

/** A raw HTTP/1.1 POST, for bodies fetch cannot send (chunked without length, oversized with a lying length). */
function rawPost(
  t: TestLatch,
  path: string,
  chunks: string[],
  headers: Record<string, string | number>,
): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  const url = new URL(t.issuer);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method: 'POST', path, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    for (const chunk of chunks) req.write(chunk);
    req.end();
  });
}

for (const backend of backends()) {
  describe(`[${backend}] token and introspection: the direct lane answers like fastify`, () => {
    let t: TestLatch;
    let svc: TestClient;
    let auth: string;
    before(async () => {
      t = await startLatch(backend, { config: { 'rateLimit.tokenPerClient': 1000 } });
      svc = await createServiceClient(t);
      auth = basic(svc.client_id, svc.client_secret as string);
    });
    after(() => t.close());

    /** Sends the request on both lanes and checks that the direct one was really taken. */
    async function bothLanes(path: string, form: Record<string, string> | string, options: { authorization?: string; contentType?: string } = {}) {
      const served = t.latch.directLane.stats.served;
      const direct = await post(t, path, form, options);
      assert.equal(t.latch.directLane.stats.served, served + 1, 'answered on the direct lane');
      const viaFastify = await post(t, `${path}?lane=fastify`, form, options);
      assert.equal(t.latch.directLane.stats.served, served + 1, 'answered by fastify');
      assert.deepEqual(shape(direct), shape(viaFastify), `${path} ${JSON.stringify(form)}`);
      return direct;
    }

    test('successful answers: a token, and introspection of it (active) and of garbage (inactive)', async () => {
      const issued = await bothLanes('/oauth2/token', { grant_type: 'client_credentials', scope: 'read:syn123' }, { authorization: auth });
      assert.equal(issued.status, 200, issued.text);
      assert.equal(issued.body.token_type, 'Bearer');
      const info = await bothLanes('/oauth2/introspect', { token: issued.body.access_token as string }, { authorization: auth });
      assert.equal(info.body.active, true);
      assert.equal(info.body.client_id, svc.client_id);
      assert.deepEqual((await bothLanes('/oauth2/introspect', { token: 'not-a-token' }, { authorization: auth })).body, { active: false });
    });

    test('errors: wrong credentials, no credentials, repeated and missing parameters, unknown grant', async () => {
      const wrong = await bothLanes('/oauth2/token', { grant_type: 'client_credentials' }, { authorization: basic(svc.client_id, 'wrong') });
      assert.equal(wrong.status, 401);
      assert.equal(wrong.body.error, 'invalid_client');
      assert.match(wrong.headers.get('www-authenticate') ?? '', /^Basic realm=/);
      assert.equal((await bothLanes('/oauth2/introspect', { token: 'x' })).status, 401);
      const repeated = await bothLanes('/oauth2/token', 'grant_type=client_credentials&scope=a&scope=b', { authorization: auth });
      assert.equal(repeated.body.error, 'invalid_request');
      assert.equal((await bothLanes('/oauth2/introspect', {}, { authorization: auth })).body.error, 'invalid_request');
      assert.equal((await bothLanes('/oauth2/token', { grant_type: 'urn:example:nope' }, { authorization: auth })).body.error, 'unsupported_grant_type');
      assert.equal((await bothLanes('/oauth2/token', 'grant_type=client_credentials&scope=%ZZ', { authorization: auth })).status, 400);
      const long = await bothLanes('/oauth2/token', { grant_type: 'client_credentials', scope: 'x'.repeat(5000) }, { authorization: auth });
      assert.equal(long.body.error, 'invalid_request');
    });

    test('a charset parameter keeps the direct lane; other media types go to fastify and are refused there', async () => {
      const served = t.latch.directLane.stats.served;
      const utf8 = await post(
        t,
        '/oauth2/token',
        { grant_type: 'client_credentials' },
        { authorization: auth, contentType: 'application/x-www-form-urlencoded; charset=UTF-8' },
      );
      assert.equal(utf8.status, 200, utf8.text);
      assert.equal(t.latch.directLane.stats.served, served + 1);
      const json = await post(t, '/oauth2/token', JSON.stringify({ grant_type: 'client_credentials' }), {
        authorization: auth,
        contentType: 'application/json',
      });
      assert.equal(json.status, 400);
      assert.equal(json.body.error, 'invalid_request');
      assert.equal(t.latch.directLane.stats.served, served + 1, 'JSON is not taken on the direct lane');
    });

    test('a chunked body without Content-Length is read whole', async () => {
      const res = await rawPost(t, '/oauth2/token', ['grant_type=client_', 'credentials&scope=read:syn123'], {
        authorization: auth,
        'content-type': 'application/x-www-form-urlencoded',
        'transfer-encoding': 'chunked',
      });
      assert.equal(res.status, 200, res.body);
      assert.equal(JSON.parse(res.body).scope, 'read:syn123');
    });

    test('a body over 64 KiB is refused with 413 invalid_request, by its declared length or as it streams', async () => {
      const big = `grant_type=client_credentials&pad=${'x'.repeat(70 * 1024)}`;
      const framings: Record<string, string | number>[] = [{ 'content-length': Buffer.byteLength(big) }, { 'transfer-encoding': 'chunked' }];
      for (const headers of framings) {
        const res = await rawPost(t, '/oauth2/token', [big.slice(0, 1000), big.slice(1000)], {
          authorization: auth,
          'content-type': 'application/x-www-form-urlencoded',
          ...headers,
        });
        assert.equal(res.status, 413, JSON.stringify(headers));
        assert.equal(JSON.parse(res.body).error, 'invalid_request');
        assert.equal(res.headers['cache-control'], 'no-store');
      }
    });

    test('requests on the direct lane are counted in the metrics by route and status', async () => {
      await post(t, '/oauth2/introspect', { token: 'x' });
      const metrics = await fetch(`${t.adminUrl}/metrics`, { headers: { authorization: `Bearer ${'test-admin-token-0123456789abcdefghijklmnop'}` } });
      const text = await metrics.text();
      assert.match(text, /latch_http_requests_total\{listener="public",method="POST",route="\/oauth2\/token",status="200"\} [1-9]/);
      assert.match(text, /latch_http_requests_total\{listener="public",method="POST",route="\/oauth2\/introspect",status="401"\} [1-9]/);
      assert.match(text, /latch_http_request_duration_seconds_count\{listener="public",method="POST",route="\/oauth2\/introspect"\} [1-9]/);
    });
  });
}

describe('[sqlite] the direct lane during graceful shutdown', () => {
  let t: TestLatch;
  after(() => t.close());

  test('a token request in flight when shutdown begins is answered, with Connection: close', async () => {
    t = await startLatch('sqlite');
    const svc = await createServiceClient(t);
    const body = 'grant_type=client_credentials&scope=write';
    const url = new URL(t.issuer);
    let closing: Promise<void> | undefined;
    const res = await new Promise<{ status: number; text: string; connection: string | undefined }>((resolve, reject) => {
      const req = request({
        host: url.hostname,
        port: url.port,
        method: 'POST',
        path: '/oauth2/token',
        headers: {
          authorization: basic(svc.client_id, svc.client_secret as string),
          'content-type': 'application/x-www-form-urlencoded',
          'content-length': Buffer.byteLength(body),
          expect: '100-continue',
        },
      });
      // Headers are in (the lane has the request), the body is not: begin the shutdown now.
      req.on('continue', async () => {
        closing = t.latch.close();
        while (t.latch.publicApp.server.listening) await new Promise((r) => setTimeout(r, 5));
        req.end(body);
      });
      req.on('response', (r) => {
        let text = '';
        r.setEncoding('utf8').on('data', (d: string) => {
          text += d;
        });
        r.on('end', () => resolve({ status: r.statusCode ?? 0, text, connection: r.headers.connection }));
      });
      req.on('error', reject);
      req.flushHeaders();
    });
    assert.equal(res.status, 200, res.text);
    assert.equal(JSON.parse(res.text).token_type, 'Bearer');
    assert.equal(res.connection, 'close');
    assert.equal(t.latch.directLane.stats.served, 1);
    await closing;
  });
});
