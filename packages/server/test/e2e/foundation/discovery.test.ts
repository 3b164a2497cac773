import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createLocalJWKSet, jwtVerify, SignJWT } from 'jose';
import { backends, freshDatabase } from '../../support/backends.ts';
import { startLatch, type TestLatch } from '../../support/latch.ts';

for (const backend of backends()) {
  describe(`[${backend}] discovery, JWKS and health`, () => {
    let t: TestLatch;
    before(async () => {
      t = await startLatch(backend);
    });
    after(() => t.close());

    test('both discovery documents carry exactly the configured issuer and the JWKS URI', async () => {
      for (const path of ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server']) {
        const res = await fetch(t.issuer + path);
        assert.equal(res.status, 200);
        const doc = (await res.json()) as Record<string, unknown>;
        assert.equal(doc.issuer, t.issuer);
        assert.equal(doc.jwks_uri, `${t.issuer}/oauth2/keys.json`);
      }
    });

    test('the JWKS publishes one RS256 and one ES256 public key, and they verify what the active keys sign', async () => {
      const res = await fetch(`${t.issuer}/oauth2/keys.json`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('cache-control') ?? '', /max-age=\d+/);
      const jwks = (await res.json()) as { keys: Record<string, unknown>[] };
      assert.deepEqual(jwks.keys.map((k) => k.alg).sort(), ['ES256', 'RS256']);
      for (const key of jwks.keys) {
        assert.equal(key.d, undefined, 'no private parts');
        assert.equal(key.p, undefined, 'no private parts');
        assert.equal(key.use, 'sig');
      }
      for (const alg of ['RS256', 'ES256'] as const) {
        const signing = await t.latch.keys.signingKey(alg);
        const jwt = await new SignJWT({ hello: 'world' }).setProtectedHeader({ alg, kid: signing.kid }).sign(signing.privateKey);
        const { payload } = await jwtVerify(jwt, createLocalJWKSet(jwks as never));
        assert.equal(payload.hello, 'world');
      }
    });

    test('keys survive a restart: the same kids are served after reopening the database', async () => {
      const before = (await (await fetch(`${t.issuer}/oauth2/keys.json`)).json()) as { keys: { kid: string }[] };
      await t.stop();
      t = await startLatch(backend, { database: t.database });
      const after = (await (await fetch(`${t.issuer}/oauth2/keys.json`)).json()) as { keys: { kid: string }[] };
      assert.deepEqual(after.keys.map((k) => k.kid).sort(), before.keys.map((k) => k.kid).sort());
    });

    test('health endpoints answer on both listeners; metrics only on the admin listener', async () => {
      assert.equal((await fetch(`${t.issuer}/health/live`)).status, 200);
      assert.equal((await fetch(`${t.issuer}/health/ready`)).status, 200);
      assert.equal((await fetch(`${t.adminUrl}/health/ready`)).status, 200);
      assert.equal((await fetch(`${t.issuer}/metrics`)).status, 404);
      const metrics = await fetch(`${t.adminUrl}/metrics`, { headers: { authorization: 'Bearer test-admin-token-0123456789abcdefghijklmnop' } });
      assert.equal(metrics.status, 200);
      const text = await metrics.text();
      assert.match(text, /latch_http_requests_total\{listener="public",method="GET",route="\/health\/ready",status="200"\} \d+/);
      assert.match(text, /latch_http_request_duration_seconds_bucket/);
      assert.match(text, /latch_db_pool_connections/);
    });

    // Several processes share a database only on PostgreSQL (SQLite is the one-process shape).
    if (backend === 'postgres') {
      test('processes starting together on one empty database create one key per algorithm and publish the same set', async () => {
        const database = await freshDatabase(backend);
        const started = await Promise.all([0, 1, 2].map(() => startLatch(backend, { database })));
        try {
          const records = await (started[0] as TestLatch).latch.storage.signingKeys.list();
          assert.deepEqual(records.map((k) => `${k.alg}:${k.state}`).sort(), ['ES256:active', 'RS256:active']);
          const sets = await Promise.all(
            started.map(async (x) =>
              ((await (await fetch(`${x.issuer}/oauth2/keys.json`)).json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid).sort(),
            ),
          );
          assert.deepEqual(sets[1], sets[0]);
          assert.deepEqual(sets[2], sets[0]);
        } finally {
          await Promise.all(started.map((x) => x.stop()));
          await database.drop();
        }
      });
    }

    test('admin API is not served on the public listener', async () => {
      const res = await fetch(`${t.issuer}/admin/v1/users`);
      assert.equal(res.status, 404);
    });
  });
}
