/**
 * `latch serve` as `npm start` runs it: zero configuration besides LATCH_*
 * variables, the generated admin token printed exactly once as `admin token: <token>`, JSON logs,
 * and a graceful shutdown on SIGTERM / SIGINT that finishes an in-flight request.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, describe, test } from 'node:test';
import { freePort } from '../../support/latch.ts';
import { CliProcess, tempDir } from '../cli/run-cli.ts';

const TOKEN_LINE = /^admin token: (\S+)$/;

async function startServe(dbUrl: string) {
  const [publicPort, adminPort] = [await freePort(), await freePort()];
  const proc = new CliProcess(['serve'], {
    LATCH_DATABASE_URL: dbUrl,
    LATCH_ISSUER: `http://127.0.0.1:${publicPort}`,
    LATCH_PUBLIC_PORT: String(publicPort),
    LATCH_ADMIN_PORT: String(adminPort),
    LATCH_LOG_LEVEL: 'info',
  });
  await proc.waitForLine((l) => l.includes('"latch started"'));
  return { proc, publicUrl: `http://127.0.0.1:${publicPort}`, adminPort, adminUrl: `http://127.0.0.1:${adminPort}` };
}

describe('[sqlite] latch serve: first start, admin token, graceful shutdown', () => {
  const dir = tempDir();
  const procs: CliProcess[] = [];
  after(async () => {
    for (const p of procs) await p.kill();
    dir.dispose();
  });
  const dbUrl = `sqlite:${dir.path}/data/latch.db`;
  let token = '';

  test('the first start prints `admin token: <token>` exactly once; the token works; SIGTERM finishes an in-flight request and exits 0', async () => {
    const s = await startServe(dbUrl);
    procs.push(s.proc);
    const tokenLines = s.proc.lines.filter((l) => TOKEN_LINE.test(l));
    assert.equal(tokenLines.length, 1, s.proc.stdout);
    token = TOKEN_LINE.exec(tokenLines[0] as string)?.[1] as string;
    assert.match(token, /^lat_adm_[0-9A-Za-z]{43}_[0-9A-Za-z]{6}$/);
    assert.equal(s.proc.stdout.split(token).length - 1, 1, 'the token appears nowhere else on stdout (not in the logs)');
    assert.ok(!s.proc.stderr.includes(token));

    const discovery = await fetch(`${s.publicUrl}/.well-known/openid-configuration`);
    assert.equal(discovery.status, 200);
    assert.equal(((await discovery.json()) as { issuer: string }).issuer, s.publicUrl);
    assert.equal((await fetch(`${s.adminUrl}/admin/v1/users`, { headers: { authorization: `Bearer ${token}` } })).status, 200);
    assert.equal((await fetch(`${s.adminUrl}/admin/v1/users`)).status, 401);

    // An in-flight request: headers sent (the server acknowledges them with 100 Continue), body not yet.
    const body = JSON.stringify({ username: 'in-flight-user', password: 'password-123' });
    const response = new Promise<{ status: number; text: string; connection: string | undefined }>((resolvePromise, reject) => {
      const req = request({
        host: '127.0.0.1',
        port: s.adminPort,
        method: 'POST',
        path: '/admin/v1/users',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), expect: '100-continue' },
      });
      req.on('continue', async () => {
        try {
          s.proc.child.kill('SIGTERM');
          await s.proc.waitForLine((l) => l.includes('shutting down'));
          req.end(body);
        } catch (err) {
          reject(err);
        }
      });
      req.on('response', (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => {
          text += d;
        });
        res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, text, connection: res.headers.connection }));
      });
      req.on('error', reject);
      req.flushHeaders();
    });
    const res = await response;
    assert.equal(res.status, 201, res.text);
    assert.equal(JSON.parse(res.text).username, 'in-flight-user');
    assert.equal(res.connection, 'close', 'a response during shutdown closes its keep-alive connection');

    const exit = await s.proc.exited;
    assert.deepEqual(exit, { code: 0, signal: null }, s.proc.stderr);
    assert.ok(s.proc.logs.some((l) => l.signal === 'SIGTERM'));
    // Stopped listening: new connections are refused.
    await assert.rejects(() => fetch(`${s.adminUrl}/health/live`));
  });

  test('a second start on the same database prints no token, accepts the first one, and stops cleanly on SIGINT', async () => {
    assert.ok(token, 'needs the token of the first start');
    const s = await startServe(dbUrl);
    procs.push(s.proc);
    assert.ok(!s.proc.lines.some((l) => TOKEN_LINE.test(l)), s.proc.stdout);
    const users = await fetch(`${s.adminUrl}/admin/v1/users?q=in-flight`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(users.status, 200);
    assert.equal(((await users.json()) as { users: unknown[] }).users.length, 1, 'the in-flight request was committed');
    s.proc.child.kill('SIGINT');
    assert.deepEqual(await s.proc.exited, { code: 0, signal: null }, s.proc.stderr);
  });
});
