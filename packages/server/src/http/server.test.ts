/**
 * createServer: the error responses that do not come from a route (shutdown, failed async
 * constraints) keep the OAuth error shape. The listener-level cases (bad URLs, parse errors, huge
 * headers) are covered end to end in test/e2e/operations/framework-errors.test.ts.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { describe, test } from 'node:test';
import { createServer } from './server.ts';

const options = { logger: false as const, logRequests: false, trustProxy: false };

function readAll(socket: ReturnType<typeof connect>): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      out += d;
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(out));
  });
}

describe('createServer error shapes', () => {
  test('a request whose headers complete after close() began gets 503 temporarily_unavailable in our shape, with Connection: close', async () => {
    const app = createServer(options);
    app.get('/ping', async () => ({ ok: true }));
    let closingStarted!: () => void;
    const closing = new Promise<void>((resolve) => {
      closingStarted = resolve;
    });
    // Registered after createServer's own preClose hook, so it runs once the server is marked closing.
    app.addHook('preClose', (done) => {
      closingStarted();
      done();
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const socket = connect((app.server.address() as AddressInfo).port, '127.0.0.1');
    const response = readAll(socket);
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    // Half a request: the connection is busy, so close() does not drop it as idle.
    socket.write('GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    await new Promise((resolve) => setImmediate(resolve));
    const closed = app.close();
    await closing;
    socket.write('\r\n');
    const raw = await response;
    await closed;
    const [head = '', body = ''] = raw.split('\r\n\r\n');
    assert.match(head, /^HTTP\/1\.1 503 /);
    assert.match(head, /\r\nconnection: close/i);
    assert.match(head, /\r\ncache-control: no-store/i);
    assert.match(head, /\r\nretry-after: 1/i);
    assert.deepEqual(JSON.parse(body), { error: 'temporarily_unavailable', error_description: 'The server is shutting down; retry the request.' });
  });

  test('a failing async route constraint (FST_ERR_ASYNC_CONSTRAINT) is a 500 server_error in our shape without details', async () => {
    const app = createServer(options);
    // A deriveConstraint taking a callback is asynchronous (find-my-way looks at its arity); the type knows only the sync form.
    const failing = (_req: IncomingMessage, _ctx: unknown, done: (err: Error) => void) => done(new Error('secret internal detail'));
    app.addConstraintStrategy({
      name: 'tenant',
      storage() {
        const store = new Map<string, unknown>();
        return { get: (k: string) => (store.get(k) as never) ?? null, set: (k: string, v: unknown) => void store.set(k, v) };
      },
      deriveConstraint: failing as unknown as (req: IncomingMessage) => string,
      mustMatchWhenDerived: true,
    });
    app.get('/tenant', { constraints: { tenant: 'a' } }, async () => ({ ok: true }));
    try {
      const res = await app.inject({ method: 'GET', url: '/tenant' });
      assert.equal(res.statusCode, 500);
      assert.equal(res.headers['cache-control'], 'no-store');
      assert.match(String(res.headers['content-type']), /^application\/json/);
      assert.deepEqual(res.json(), { error: 'server_error', error_description: 'An unexpected error occurred.' });
      assert.doesNotMatch(res.body, /secret internal detail|FST_/);
    } finally {
      await app.close();
    }
  });
});
