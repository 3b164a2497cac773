import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createOutbound, guardedLookup, OutboundError } from './outbound.ts';
import { addressProblem, urlProblem } from './outbound-targets.ts';

describe('outbound address policy', () => {
  test('private, link-local, reserved and mapped addresses are refused; public ones pass', () => {
    for (const a of ['10.1.2.3', '172.20.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '224.0.0.1', 'fe80::1', 'fd00::1', '::']) {
      assert.ok(addressProblem(a, true), `${a} must be refused even with allowLoopback`);
    }
    for (const a of ['::ffff:10.0.0.1', '::ffff:a9fe:a9fe']) assert.ok(addressProblem(a, true), `${a} (IPv4-mapped) must be refused`);
    for (const a of ['8.8.8.8', '2606:4700::1111', '93.184.216.34']) assert.equal(addressProblem(a, false), undefined, a);
  });

  test('loopback is refused unless allowLoopback, including IPv4-mapped forms', () => {
    for (const a of ['127.0.0.1', '127.9.9.9', '::1', '::ffff:127.0.0.1', '::ffff:7f00:1', '[::1]']) {
      assert.ok(addressProblem(a, false), a);
      assert.equal(addressProblem(a, true), undefined, a);
    }
  });

  test('URLs: http(s) only, no credentials, loopback names refused', () => {
    assert.ok(urlProblem('file:///etc/passwd', true));
    assert.ok(urlProblem('ftp://example.com/', true));
    assert.ok(urlProblem('https://user:pw@example.com/', true));
    assert.ok(urlProblem('http://localhost:8080/', false));
    assert.ok(urlProblem('http://[::1]/', false));
    assert.ok(urlProblem('not a url', true));
    assert.equal(urlProblem('https://example.com/jwks', false), undefined);
  });
});

describe('safeFetch against a local server', () => {
  let server: Server;
  let base: string;
  before(async () => {
    server = createServer((req, res) => {
      if (req.url === '/json') return res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      if (req.url === '/big') return res.writeHead(200).end('x'.repeat(10_000));
      if (req.url === '/big-chunked') {
        res.writeHead(200);
        for (let i = 0; i < 10; i++) res.write('y'.repeat(1000));
        return res.end();
      }
      if (req.url === '/slow') return setTimeout(() => res.writeHead(200).end('late'), 2000).unref();
      if (req.url === '/redirect') return res.writeHead(302, { location: '/json' }).end();
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  test('fetches JSON when loopback is allowed', async () => {
    const out = createOutbound({ allowLoopback: true, timeoutMs: 1000 });
    try {
      const res = await out.safeFetch(`${base}/json`);
      assert.equal(res.status, 200);
      assert.deepEqual(res.json(), { ok: true });
    } finally {
      await out.close();
    }
  });

  test('refuses loopback by default, as a literal and by name', async () => {
    const out = createOutbound({ allowLoopback: false, timeoutMs: 1000 });
    const port = new URL(base).port;
    try {
      await assert.rejects(out.safeFetch(`${base}/json`), (e: unknown) => e instanceof OutboundError && e.reason === 'forbidden_target');
      await assert.rejects(out.safeFetch(`http://localhost:${port}/json`), (e: unknown) => e instanceof OutboundError && e.reason === 'forbidden_target');
    } finally {
      await out.close();
    }
  });

  test('the socket lookup refuses a name that resolves to a forbidden address', async () => {
    // Names pass the URL check; what they resolve to is checked where the socket connects.
    const result = await new Promise<unknown>((resolve) => guardedLookup(false)('localhost', {}, (err, address) => resolve(err ?? address)));
    assert.ok(result instanceof OutboundError && result.reason === 'forbidden_target');
    const allowed = await new Promise<unknown>((resolve) => guardedLookup(true)('localhost', { all: true }, (err, address) => resolve(err ?? address)));
    assert.ok(Array.isArray(allowed) && allowed.length > 0);
  });

  test('caps the response size (declared and streamed), times out, and does not follow redirects', async () => {
    const out = createOutbound({ allowLoopback: true, timeoutMs: 300 });
    try {
      await assert.rejects(out.safeFetch(`${base}/big`, { maxBytes: 1000 }), (e: unknown) => e instanceof OutboundError && e.reason === 'too_large');
      await assert.rejects(out.safeFetch(`${base}/big-chunked`, { maxBytes: 1000 }), (e: unknown) => e instanceof OutboundError && e.reason === 'too_large');
      await assert.rejects(out.safeFetch(`${base}/slow`), (e: unknown) => e instanceof OutboundError && e.reason === 'timeout');
      const res = await out.safeFetch(`${base}/redirect`);
      assert.equal(res.status, 302);
    } finally {
      await out.close();
    }
  });
});
