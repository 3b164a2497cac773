/**
 * JSON logs: one JSON object per line, request ids on every request line, and never a
 * password, client secret, token or credential header, at the most verbose level, across the admin
 * API, the public endpoints and malformed requests.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../../src/config/load.ts';
import { createLatch, type Latch } from '../../../src/latch.ts';
import { backends, freshDatabase, type TestDatabase } from '../../support/backends.ts';
import { ADMIN_TOKEN, freePort } from '../../support/latch.ts';

for (const backend of backends()) {
  describe(`[${backend}] logs: request ids, no secrets`, () => {
    let database: TestDatabase;
    let latch: Latch;
    let issuer: string;
    let adminUrl: string;
    const lines: string[] = [];

    before(async () => {
      database = await freshDatabase(backend);
      const [publicPort, adminPort] = [await freePort(), await freePort()];
      issuer = `http://127.0.0.1:${publicPort}`;
      adminUrl = `http://127.0.0.1:${adminPort}`;
      const config = loadConfig({
        env: {},
        file: undefined,
        overrides: {
          issuer,
          'public.port': publicPort,
          'admin.port': adminPort,
          'admin.token': ADMIN_TOKEN,
          'database.url': database.url,
          'log.level': 'trace',
          'log.requests': true,
        },
      });
      latch = await createLatch(config, {
        logStream: { write: (chunk: string) => lines.push(...chunk.split('\n').filter((l) => l !== '')) },
        ...(database.pgSchema ? { pgSchema: database.pgSchema } : {}),
      });
      await latch.listen();
    });
    after(async () => {
      await latch?.close();
      await database?.drop();
    });

    test('every request is logged with its request id; passwords, secrets and tokens never appear', async () => {
      const secrets: string[] = [ADMIN_TOKEN];
      const admin = async (method: string, path: string, body?: unknown, token = ADMIN_TOKEN) => {
        const res = await fetch(adminUrl + path, {
          method,
          headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
          ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
        });
        const text = await res.text();
        return { status: res.status, json: text ? JSON.parse(text) : undefined };
      };
      let requests = 0;
      const count = <T>(p: Promise<T>) => {
        requests++;
        return p;
      };

      // Users: passwords in the body of create and update.
      secrets.push('first-Secret-passw0rd', 'second-Secret-passw0rd', 'never-logged-json-pw');
      const user = await count(admin('POST', '/admin/v1/users', { username: 'logged-user', password: 'first-Secret-passw0rd' }));
      assert.equal(user.status, 201);
      assert.equal((await count(admin('PATCH', `/admin/v1/users/${user.json.id}`, { password: 'second-Secret-passw0rd' }))).status, 200);
      assert.equal((await count(admin('POST', '/admin/v1/users', '{"username":"x","password":"never-logged-json-pw",'))).status, 400);

      // Clients: the secret shown at creation and at rotation.
      const client = await count(
        admin('POST', '/admin/v1/clients', { client_name: 'logged', grant_types: ['client_credentials'], redirect_uris: [], scope: 'api' }),
      );
      assert.equal(client.status, 201);
      const rotated = await count(admin('POST', `/admin/v1/clients/${client.json.client_id}/secret`));
      secrets.push(client.json.client_secret, rotated.json.client_secret);

      // Wrong credentials are not echoed either.
      secrets.push('wrong-admin-token-value-1234567890');
      assert.equal((await count(admin('GET', '/admin/v1/users', undefined, 'wrong-admin-token-value-1234567890'))).status, 401);

      // Public endpoints with credentials in headers, form bodies and query strings.
      const basic = Buffer.from(`${client.json.client_id}:${rotated.json.client_secret}`).toString('base64');
      secrets.push(basic, 'query-code-SECRET-123', 'query-token-SECRET-456', 'form-token-SECRET-789', 'cookie-SECRET-abc');
      const form = (body: Record<string, string>) => ({
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${basic}`, cookie: 'latch_session=cookie-SECRET-abc' },
        body: new URLSearchParams(body).toString(),
      });
      await count(fetch(`${issuer}/.well-known/openid-configuration?code=query-code-SECRET-123&access_token=query-token-SECRET-456`));
      await count(fetch(`${issuer}/oauth2/token`, form({ grant_type: 'client_credentials', scope: 'api' })));
      await count(fetch(`${issuer}/oauth2/token`, form({ grant_type: 'refresh_token', refresh_token: 'form-token-SECRET-789' })));
      await count(fetch(`${issuer}/oauth2/introspect`, form({ token: 'form-token-SECRET-789' })));
      await count(fetch(`${issuer}/oauth2/revoke`, form({ token: 'form-token-SECRET-789' })));
      await count(
        fetch(`${issuer}/oauth2/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: `grant_type=client_credentials&client_id=${client.json.client_id}&client_secret=${rotated.json.client_secret}`,
        }),
      );
      await count(fetch(`${issuer}/no-such-path?token=query-token-SECRET-456`));

      // Let the last "request completed" lines flush.
      await new Promise((r) => setImmediate(r));

      assert.ok(lines.length > 0, 'logs were captured');
      const entries: Record<string, unknown>[] = [];
      for (const l of lines) {
        let parsed: unknown;
        assert.doesNotThrow(() => {
          parsed = JSON.parse(l);
        }, `not a JSON log line: ${l}`);
        entries.push(parsed as Record<string, unknown>);
      }
      for (const e of entries) {
        assert.equal(typeof e.level, 'number');
        assert.equal(typeof e.time, 'number');
      }

      const all = lines.join('\n');
      for (const secret of secrets) assert.ok(!all.includes(secret), `a secret leaked into the logs: ${secret.slice(0, 12)}…`);
      // Nor the random part of a lat_ token on its own (e.g. a truncated or re-encoded copy).
      for (const secret of secrets.filter((s) => s.startsWith('lat_'))) assert.ok(!all.includes(secret.split('_')[2] as string));

      // Request lines carry the request id; incoming and completed lines pair up by it.
      const incoming = entries.filter((e) => e.msg === 'incoming request');
      const completed = entries.filter((e) => e.msg === 'request completed');
      assert.equal(incoming.length, requests, 'one "incoming request" line per request');
      assert.equal(completed.length, requests, 'one "request completed" line per request');
      const ids = new Set(incoming.map((e) => e.reqId));
      assert.equal(ids.size, requests, 'request ids are unique');
      for (const e of completed) assert.ok(ids.has(e.reqId), 'completed lines carry the id of their request');
      for (const e of entries.filter((x) => x.req !== undefined || x.res !== undefined)) assert.equal(typeof e.reqId, 'string');
      for (const e of incoming) {
        const req = e.req as { path?: string; url?: string; headers?: unknown };
        assert.equal(typeof req.path, 'string');
        assert.ok(!String(req.path).includes('?'), 'paths are logged without query strings');
        assert.equal(req.headers, undefined, 'request headers are not logged');
      }
    });
  });
}
