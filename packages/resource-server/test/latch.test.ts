/**
 * The SDK against the real Latch server (introspection half): discovery, the three client
 * authentication methods, the principal of a real Latch token, what a resource server is allowed
 * to see, checksum failures answered without a call, and 503 when Latch is down.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { exportJWK, generateKeyPair } from 'jose';
import { createServiceClient, type TestClient, tokenRequest } from '../../server/test/e2e/token/helpers.ts';
import { backends } from '../../server/test/support/backends.ts';
import { startLatch, type TestLatch } from '../../server/test/support/latch.ts';
import { type ClientCredentials, createGuard, createIntrospector } from '../src/index.ts';

for (const backend of backends()) {
  describe(`[${backend}] resource-server SDK against Latch`, () => {
    let t: TestLatch;
    let job: TestClient;
    let token: string;
    const apis: Record<string, ClientCredentials> = {};

    before(async () => {
      t = await startLatch(backend);
      job = await createServiceClient(t);
      const res = await tokenRequest(t, job, { grant_type: 'client_credentials', scope: 'read:syn1 write' });
      assert.equal(res.status, 200, res.text);
      token = res.body.access_token as string;
      const api = (extra: Record<string, unknown>) =>
        createServiceClient(t, { client_name: 'Notes API', introspect_any_token: true, scope: 'read:*', ...extra });
      const basicClient = await api({});
      apis.client_secret_basic = { clientId: basicClient.client_id, clientSecret: basicClient.client_secret as string };
      const postClient = await api({ token_endpoint_auth_method: 'client_secret_post' });
      apis.client_secret_post = { clientId: postClient.client_id, method: 'client_secret_post', clientSecret: postClient.client_secret as string };
      const { privateKey, publicKey } = await generateKeyPair('ES256');
      const jwtClient = await api({
        token_endpoint_auth_method: 'private_key_jwt',
        jwks: { keys: [{ ...(await exportJWK(publicKey)), kid: 'api-1', alg: 'ES256', use: 'sig' }] },
      });
      apis.private_key_jwt = { clientId: jwtClient.client_id, method: 'private_key_jwt', privateKey, alg: 'ES256', kid: 'api-1' };
    });
    after(() => t.close());

    for (const method of ['client_secret_basic', 'client_secret_post', 'private_key_jwt']) {
      test(`introspects a Latch token with ${method}: the typed principal`, async () => {
        const introspector = createIntrospector({ issuer: t.issuer, client: apis[method] as ClientCredentials });
        const p = await introspector.introspect(token);
        assert.ok(p.active);
        assert.equal(p.sub, job.client_id, 'a client credentials token: sub is the client');
        assert.equal(p.clientId, job.client_id);
        assert.deepEqual([...p.scope].sort(), ['read:syn1', 'write']);
        assert.match(p.sid ?? '', /.+/);
        assert.match(p.deviceId ?? '', /.+/);
        assert.match(p.deviceKey ?? '', /^[A-Za-z0-9_-]{43}$/);
        assert.match(p.jti ?? '', /^at_/);
        assert.ok((p.exp as number) > Date.now() / 1000);
        assert.deepEqual(p.aud, []);
      });
    }

    test('without introspect_any_token Latch shows an API nothing of other clients’ tokens: inactive', async () => {
      const own = await createServiceClient(t, { client_name: 'Plain API' });
      const introspector = createIntrospector({ issuer: t.issuer, client: { clientId: own.client_id, clientSecret: own.client_secret as string } });
      assert.equal((await introspector.introspect(token)).active, false);
    });

    test('a Latch token with a wrong checksum never reaches Latch', async () => {
      const introspector = createIntrospector({ issuer: t.issuer, client: apis.client_secret_basic as ClientCredentials });
      const last = token.at(-1) === 'A' ? 'B' : 'A';
      assert.equal((await introspector.introspect(token.slice(0, -1) + last)).active, false);
      assert.equal(introspector.calls, 0);
    });

    test('a revoked token is inactive at once without a cache, and at the TTL with one', async () => {
      const res = await tokenRequest(t, job, { grant_type: 'client_credentials', scope: 'write' });
      const fresh = res.body.access_token as string;
      const uncached = createIntrospector({ issuer: t.issuer, client: apis.client_secret_basic as ClientCredentials, cache: false });
      let now = Date.now();
      const cached = createIntrospector({
        issuer: t.issuer,
        client: apis.client_secret_basic as ClientCredentials,
        cache: { ttlMs: 60_000 },
        clock: () => now,
      });
      assert.ok((await uncached.introspect(fresh)).active);
      assert.ok((await cached.introspect(fresh)).active);
      const revoke = await fetch(`${t.issuer}/oauth2/revoke`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${job.client_id}:${job.client_secret}`).toString('base64')}`,
        },
        body: new URLSearchParams({ token: fresh }),
      });
      assert.equal(revoke.status, 200);
      assert.equal((await uncached.introspect(fresh)).active, false);
      assert.ok((await cached.introspect(fresh)).active, 'no event: the cache keeps it until its TTL');
      now += 60_001;
      assert.equal((await cached.introspect(fresh)).active, false, 'and not a moment longer');
    });

    test('Latch down: the guard answers 503, never allows', async () => {
      const other = await startLatch(backend);
      const client = await createServiceClient(other, { introspect_any_token: true });
      const res = await tokenRequest(other, client, { grant_type: 'client_credentials', scope: 'write' });
      const guard = createGuard({
        introspector: createIntrospector({
          issuer: other.issuer,
          client: { clientId: client.client_id, clientSecret: client.client_secret as string },
          timeoutMs: 2000,
        }),
      });
      assert.ok((await guard.check({ authorization: `Bearer ${res.body.access_token}` })).ok);
      await other.close();
      const second = await tokenRequest(t, job, { grant_type: 'client_credentials', scope: 'write' });
      const r = await guard.check({ authorization: `Bearer ${second.body.access_token}` });
      assert.equal(r.ok, false);
      assert.equal(r.ok ? 0 : r.status, 503);
    });
  });
}
