import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { addressProblem, createHttpSender, ForbiddenTargetError, guardedLookup, targetProblem } from './http-sender.ts';

describe('SSRF address rules', () => {
  test('public addresses pass; private, link-local, reserved and metadata addresses do not', () => {
    for (const ok of ['93.184.216.34', '8.8.8.8', '2606:4700:4700::1111']) assert.equal(addressProblem(ok, false), undefined, ok);
    for (const bad of [
      '10.1.2.3',
      '172.16.0.1',
      '172.31.255.255',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '224.0.0.1',
      '255.255.255.255',
      'fc00::1',
      'fd12:3456::1',
      'fe80::1',
      '::',
      '::ffff:10.0.0.1',
      '::ffff:a9fe:a9fe',
      '64:ff9b::192.168.0.1',
    ]) {
      assert.ok(addressProblem(bad, true), `${bad} must be refused even with loopback allowed`);
    }
  });

  test('loopback only with allowLoopback (also when IPv4-mapped)', () => {
    for (const lo of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1']) {
      assert.match(addressProblem(lo, false) ?? '', /loopback/, lo);
      assert.equal(addressProblem(lo, true), undefined, lo);
    }
  });

  test('the connect-time lookup refuses names that resolve to a forbidden address (DNS rebinding)', async () => {
    const resolve = (allow: boolean) =>
      new Promise<unknown>((res, rej) => guardedLookup(allow)('localhost', {}, (err, address) => (err ? rej(err) : res(address))));
    await assert.rejects(resolve(false), ForbiddenTargetError);
    assert.match(String(await resolve(true)), /^(127\.0\.0\.1|::1)$/);
  });

  test('target URLs: http(s) only, no credentials, IP literals and localhost checked before connecting', () => {
    assert.equal(targetProblem('https://rp.example.com/logout?x=1', false), undefined);
    assert.match(targetProblem('ftp://rp.example.com/', false) ?? '', /scheme/);
    assert.match(targetProblem('https://user:pw@rp.example.com/', false) ?? '', /credentials/);
    assert.match(targetProblem('http://[::1]:8080/', false) ?? '', /loopback/);
    assert.match(targetProblem('http://localhost:8080/', false) ?? '', /loopback/);
    assert.match(targetProblem('http://192.168.0.10/', true) ?? '', /private/);
    assert.match(targetProblem('not a url', true) ?? '', /absolute/);
  });
});

describe('createHttpSender', () => {
  let server: Server;
  let port: number;
  const seen: { body: string; type: string | undefined }[] = [];
  before(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        seen.push({ body, type: req.headers['content-type'] });
        if (req.url === '/slow') return setTimeout(() => res.end('late'), 2000);
        if (req.url === '/redirect') {
          res.writeHead(302, { location: `http://127.0.0.1:${port}/ok` });
          return res.end();
        }
        res.writeHead(req.url === '/fail' ? 503 : 200);
        res.end('x'.repeat(100_000));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  const post = (send: ReturnType<typeof createHttpSender>, path: string, host = '127.0.0.1', timeoutMs = 1000) =>
    send({ url: `http://${host}:${port}${path}`, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=1', timeoutMs });

  test('refuses loopback receivers by default, by IP and by name', async () => {
    const send = createHttpSender({ allowLoopback: false });
    try {
      await assert.rejects(post(send, '/ok'), ForbiddenTargetError);
      await assert.rejects(post(send, '/ok', 'localhost'), ForbiddenTargetError);
    } finally {
      await send.close();
    }
  });

  test('with allowLoopback it POSTs the body and reports the status; redirects are not followed', async () => {
    const send = createHttpSender({ allowLoopback: true });
    try {
      assert.deepEqual(await post(send, '/ok'), { status: 200 });
      assert.deepEqual(seen.at(-1), { body: 'a=1', type: 'application/x-www-form-urlencoded' });
      assert.deepEqual(await post(send, '/fail'), { status: 503 });
      const before = seen.length;
      assert.deepEqual(await post(send, '/redirect'), { status: 302 });
      assert.equal(seen.length, before + 1, 'the redirect target was not requested');
    } finally {
      await send.close();
    }
  });

  test('a slow receiver times out', async () => {
    const send = createHttpSender({ allowLoopback: true });
    try {
      await assert.rejects(post(send, '/slow', '127.0.0.1', 200));
    } finally {
      await send.close();
    }
  });
});
