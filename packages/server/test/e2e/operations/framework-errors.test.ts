/**
 * Error responses that fastify or Node's HTTP parser would otherwise shape themselves (router errors
 * such as FST_ERR_BAD_URL and FST_ERR_MAX_PARAM_LENGTH, unparsable HTTP, oversized headers, unmet
 * Expect) come out like every other error on both listeners: RFC 6749 §5.2-shaped JSON
 * `{"error", "error_description"}` with `Cache-Control: no-store`, never fastify's
 * `{"statusCode", "code", "message"}` and never a stack trace. Requests are written to a raw socket,
 * since fetch refuses to send most of them.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { backends } from '../../support/backends.ts';
import { ADMIN_TOKEN, startLatch, type TestLatch } from '../../support/latch.ts';

interface RawResponse {
  status: number;
  headers: Map<string, string>;
  text: string;
}

/** Writes `request` as is and reads the whole response (the server closes after it: `Connection: close` or an error). */
function rawRequest(port: number, request: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // The server may reset the connection after answering a parse error; what arrived still counts.
      if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') reject(err);
    });
    socket.on('close', () => {
      let raw = Buffer.concat(chunks).toString('utf8');
      // Skip interim 100 Continue responses.
      while (raw.startsWith('HTTP/1.1 100 ')) raw = raw.slice(raw.indexOf('\r\n\r\n') + 4);
      const end = raw.indexOf('\r\n\r\n');
      if (end < 0) return reject(new Error(`no complete response: ${JSON.stringify(raw.slice(0, 200))}`));
      const [statusLine, ...lines] = raw.slice(0, end).split('\r\n');
      const headers = new Map<string, string>();
      for (const line of lines) {
        const colon = line.indexOf(':');
        headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
      }
      resolve({ status: Number(statusLine?.split(' ')[1]), headers, text: raw.slice(end + 4) });
    });
    // Not end(): Node's server drops in-flight responses when the client half-closes. The server
    // closes after answering (Connection: close, or a parse error); the timer only guards a hang.
    socket.write(request);
    const guard = setTimeout(() => socket.destroy(), 10_000);
    socket.on('close', () => clearTimeout(guard));
  });
}

type Listener = 'public' | 'admin';

/** A request with the usual headers (Host, Connection: close and, on the admin listener, the admin token). */
function http(method: string, target: string, extra: string[] = [], body = ''): (listener: Listener) => string {
  return (listener) =>
    [
      `${method} ${target} HTTP/1.1`,
      'Host: 127.0.0.1',
      ...(listener === 'admin' ? [`Authorization: Bearer ${ADMIN_TOKEN}`] : []),
      ...extra,
      'Connection: close',
      '',
      body,
    ].join('\r\n');
}

/** Our error shape; `head` for responses to HEAD, which carry the headers but no body. */
function assertOurShape(res: RawResponse, status: number, error?: string, options: { head?: boolean } = {}): void {
  const context = `${res.status} ${JSON.stringify(Object.fromEntries(res.headers))} ${res.text.slice(0, 300)}`;
  assert.equal(res.status, status, context);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/, context);
  assert.equal(res.headers.get('cache-control'), 'no-store', context);
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff', context);
  if (options.head) {
    assert.equal(res.text, '', 'no body for HEAD');
    return;
  }
  const body = JSON.parse(res.text) as Record<string, unknown>;
  assert.equal(typeof body.error, 'string', context);
  assert.match(body.error as string, /^[a-z_]+$/, context);
  assert.equal(typeof body.error_description, 'string', context);
  if (error) assert.equal(body.error, error, context);
  // None of fastify's own fields, no stack, no internal codes.
  for (const key of ['statusCode', 'code', 'message', 'stack']) assert.equal(body[key], undefined, `${key} in ${context}`);
  assert.doesNotMatch(res.text, /FST_|ERR_|HPE_|\bat .+:\d+:\d+/, context);
}

for (const backend of backends()) {
  describe(`[${backend}] framework-level errors answer in the OAuth error shape on both listeners`, () => {
    let t: TestLatch;
    const ports = {} as Record<Listener, number>;
    before(async () => {
      t = await startLatch(backend, { config: { 'registration.policy': 'open' } });
      ports.public = Number(new URL(t.issuer).port);
      ports.admin = Number(new URL(t.adminUrl).port);
    });
    after(() => t.close());

    const send = (listener: Listener, request: string | ((l: Listener) => string)) =>
      rawRequest(ports[listener], typeof request === 'string' ? request : request(listener));

    test('malformed percent-encoding in the path (FST_ERR_BAD_URL): 400 invalid_request', async () => {
      const cases: [Listener, string][] = [
        ['public', '/oauth2/%zz'],
        ['public', '/oauth2/register/%E0%A4%A'],
        ['public', '/%'],
        ['admin', '/admin/v1/%zz'],
        ['admin', '/admin/v1/clients/%E0%A4%A'],
        ['admin', '/admin/v1/users/%C3%28'],
      ];
      for (const [listener, path] of cases) {
        const res = await send(listener, http('GET', path));
        assertOurShape(res, 400, 'invalid_request');
        assert.match(JSON.parse(res.text).error_description, /percent-encoding/);
      }
      // Before authentication on the admin listener as well (the router runs first), and it says nothing more.
      assertOurShape(await send('admin', 'GET /admin/v1/clients/%E0%A4%A HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'), 400, 'invalid_request');
    });

    test('malformed percent-encoding in the query or a form body: a normal answer or our 4xx, never fastify’s or a 500', async () => {
      const cases: [Listener, string | ((l: Listener) => string), number][] = [
        ['public', http('GET', '/.well-known/openid-configuration?x=%zz'), 200],
        ['public', http('GET', '/oauth2/register/some-client?x=%E0%A4%A'), 401],
        [
          'public',
          http('POST', '/oauth2/token?x=%zz', ['Content-Type: application/x-www-form-urlencoded', 'Content-Length: 21'], 'grant_type=%E0%A4%A&a'),
          401,
        ],
        ['public', http('POST', '/oauth2/introspect', ['Content-Type: application/x-www-form-urlencoded', 'Content-Length: 9'], 'token=%zz'), 401],
        ['admin', http('GET', '/admin/v1/clients?limit=%zz'), 400],
        ['admin', http('GET', '/admin/v1/audit?target_id=%E0%A4%A'), 200],
      ];
      for (const [listener, request, status] of cases) {
        const res = await send(listener, request);
        if (status === 200) {
          assert.equal(res.status, 200, res.text);
          continue;
        }
        assertOurShape(res, status);
      }
    });

    test('the authorization endpoint answers a malformed query with its HTML error page (RFC 6749 §4.1.2.1: never a redirect), not fastify’s JSON', async () => {
      const res = await send('public', http('GET', '/oauth2/authorize?client_id=%E0%A4%A&response_type=code'));
      assert.equal(res.status, 400);
      assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
      assert.equal(res.headers.get('cache-control'), 'no-store');
      assert.equal(res.headers.get('location'), undefined);
      assert.doesNotMatch(res.text, /FST_|statusCode|\bat .+:\d+:\d+/);
    });

    test('a path parameter over the length limit (FST_ERR_MAX_PARAM_LENGTH): 414 invalid_request', async () => {
      const long = 'x'.repeat(300);
      for (const [listener, path] of [
        ['public', `/oauth2/register/${long}`],
        ['admin', `/admin/v1/clients/${long}`],
        ['admin', `/admin/v1/users/${long}`],
      ] as [Listener, string][]) {
        assertOurShape(await send(listener, http('GET', path)), 414, 'invalid_request');
      }
      // At the router's limit the route's own validation answers.
      const atLimit = await send('admin', http('GET', `/admin/v1/clients/${'x'.repeat(200)}`));
      assertOurShape(atLimit, 400, 'invalid_request');
      assert.equal(JSON.parse(atLimit.text).field, 'client_id');
    });

    test('unsupported methods on existing paths and unknown paths: 404 not_found in our shape', async () => {
      const cases: [Listener, string, string][] = [
        ['public', 'DELETE', '/oauth2/token'],
        ['public', 'GET', '/oauth2/token'],
        ['public', 'PUT', '/oauth2/introspect'],
        ['public', 'OPTIONS', '/oauth2/token'],
        ['public', 'PROPFIND', '/oauth2/register'],
        ['public', 'PATCH', '/oauth2/register/some-client'],
        ['public', 'GET', '/no/such/endpoint'],
        ['public', 'OPTIONS', '*'],
        ['admin', 'PUT', '/admin/v1/users'],
        ['admin', 'POST', '/admin/v1/audit'],
        ['admin', 'GET', '/admin/v2/anything'],
      ];
      for (const [listener, method, path] of cases) {
        assertOurShape(await send(listener, http(method, path)), 404, 'not_found');
      }
    });

    test('a method the HTTP parser does not know, a missing request line, conflicting or bad lengths: 400 invalid_request', async () => {
      const requests = [
        'BREW /oauth2/token HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n',
        'GARBAGE\r\n\r\n',
        'GET /oauth2/token HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n',
        'POST /oauth2/token HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n',
        'POST /oauth2/token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: abc\r\n\r\n',
        'POST /oauth2/token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab',
        'GET /oauth2/token HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header Name: x\r\n\r\n',
      ];
      for (const listener of ['public', 'admin'] as const) {
        for (const request of requests) {
          const res = await send(listener, request);
          assertOurShape(res, 400, 'invalid_request');
          assert.equal(res.headers.get('connection'), 'close');
        }
      }
    });

    test('HEAD requests: answered with the headers of the GET answer and no body; errors keep our headers', async () => {
      for (const [listener, path, status] of [
        ['public', '/oauth2/token', 404],
        ['public', '/no/such/endpoint', 404],
        ['public', '/oauth2/register/some-client', 401],
        ['admin', '/admin/v1/clients/unknown-client', 404],
        ['admin', '/admin/v1/nothing', 404],
      ] as [Listener, string, number][]) {
        assertOurShape(await send(listener, http('HEAD', path)), status, undefined, { head: true });
      }
      const ok = await send('public', http('HEAD', '/.well-known/openid-configuration'));
      assert.equal(ok.status, 200);
      assert.equal(ok.text, '');
      const bad = await send('public', http('HEAD', '/oauth2/%zz'));
      assert.equal(bad.status, 400);
      assert.equal(bad.headers.get('cache-control'), 'no-store');
      assert.equal(bad.text, '');
    });

    test('unsupported or malformed content types: 415 invalid_request', async () => {
      const json = (listener: Listener, method: string, path: string, contentType: string | undefined, body: string) =>
        send(
          listener,
          http(method, path, [...(contentType !== undefined ? [`Content-Type: ${contentType}`] : []), `Content-Length: ${Buffer.byteLength(body)}`], body),
        );
      const cases: [Listener, string, string, string | undefined][] = [
        ['public', 'POST', '/oauth2/register', 'text/plain'],
        ['public', 'POST', '/oauth2/register', 'application/xml'],
        ['public', 'POST', '/oauth2/register', ';;;'],
        ['public', 'POST', '/oauth2/register', undefined],
        ['public', 'PUT', '/oauth2/register/some-client', 'multipart/form-data; boundary=x'],
        ['admin', 'POST', '/admin/v1/clients', 'application/xml'],
        ['admin', 'POST', '/admin/v1/users', 'text/plain'],
        ['admin', 'PATCH', '/admin/v1/users/someone', 'application/octet-stream'],
        ['admin', 'DELETE', '/admin/v1/clients/some-client', 'text/plain'],
      ];
      for (const [listener, method, path, contentType] of cases) {
        assertOurShape(await json(listener, method, path, contentType, '{}'), 415, 'invalid_request');
      }
      // The token endpoint reads only form bodies and says so (RFC 6749 §3.2, a 400 of its own).
      assertOurShape(await json('public', 'POST', '/oauth2/token', 'application/xml', '<x/>'), 400, 'invalid_request');
    });

    test('empty and invalid JSON bodies: 400 in our shape', async () => {
      const cases: [Listener, string, string, string][] = [
        ['public', 'POST', '/oauth2/register', ''],
        ['public', 'POST', '/oauth2/register', '{"client_name":'],
        ['admin', 'POST', '/admin/v1/users', ''],
        ['admin', 'POST', '/admin/v1/clients', ''],
        ['admin', 'POST', '/admin/v1/clients', '{"client_name":'],
        ['admin', 'PATCH', '/admin/v1/users/someone', ''],
        ['admin', 'POST', '/admin/v1/initial-access-tokens', '\u0000'],
      ];
      for (const [listener, method, path, body] of cases) {
        const res = await send(listener, http(method, path, ['Content-Type: application/json', `Content-Length: ${Buffer.byteLength(body)}`], body));
        assertOurShape(res, 400);
      }
    });

    test('headers or a request line over the size limit: 431 invalid_request', async () => {
      for (const listener of ['public', 'admin'] as const) {
        assertOurShape(await send(listener, http('GET', '/.well-known/openid-configuration', [`X-Big: ${'a'.repeat(20_000)}`])), 431, 'invalid_request');
        assertOurShape(await send(listener, http('GET', `/${'a'.repeat(20_000)}`)), 431, 'invalid_request');
      }
    });

    test('a body over the limit: 413; an Expect other than 100-continue: 417 (RFC 9110 §10.1.1)', async () => {
      const big = 'a'.repeat(70_000);
      for (const [listener, path] of [
        ['public', '/oauth2/token'],
        ['public', '/oauth2/register'],
        ['admin', '/admin/v1/clients'],
      ] as [Listener, string][]) {
        const type = path === '/oauth2/token' ? 'application/x-www-form-urlencoded' : 'application/json';
        assertOurShape(await send(listener, http('POST', path, [`Content-Type: ${type}`, `Content-Length: ${big.length}`], big)), 413, 'invalid_request');
        assertOurShape(await send(listener, http('POST', path, [`Content-Type: ${type}`, 'Expect: teapot', 'Content-Length: 0'])), 417, 'invalid_request');
      }
      // 100-continue itself works as usual: the body is read and answered by the endpoint.
      const res = await send('public', http('POST', '/oauth2/register', ['Content-Type: application/json', 'Expect: 100-continue', 'Content-Length: 2'], '{}'));
      assertOurShape(res, 400, 'invalid_redirect_uri');
    });
  });
}
