import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import * as oidc from 'openid-client';
import { backends } from '../../support/backends.ts';
import { startLatch, type TestLatch } from '../../support/latch.ts';
import { basic, createClient, createServiceClient, introspectAs, oauthError, post, rp, type TestClient, tokenRequest } from './helpers.ts';

for (const backend of backends()) {
  describe(`[${backend}] client_credentials, introspection and revocation with openid-client`, () => {
    let t: TestLatch;
    let svc: TestClient;
    let config: oidc.Configuration;
    before(async () => {
      t = await startLatch(backend);
      svc = await createServiceClient(t);
      config = await rp(t, svc);
    });
    after(() => t.close());

    test('discovery advertises the token, introspection and revocation endpoints and what they support', async () => {
      const doc = config.serverMetadata();
      assert.equal(doc.token_endpoint, `${t.issuer}/oauth2/token`);
      assert.equal(doc.introspection_endpoint, `${t.issuer}/oauth2/introspect`);
      assert.equal(doc.revocation_endpoint, `${t.issuer}/oauth2/revoke`);
      assert.deepEqual([...(doc.grant_types_supported ?? [])].sort(), ['authorization_code', 'client_credentials', 'refresh_token']);
      assert.deepEqual(doc.token_endpoint_auth_methods_supported, ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none']);
      assert.deepEqual(doc.introspection_endpoint_auth_methods_supported, ['client_secret_basic', 'client_secret_post', 'private_key_jwt']);
      assert.ok(doc.token_endpoint_auth_signing_alg_values_supported?.includes('ES256'));
      assert.ok(!doc.token_endpoint_auth_signing_alg_values_supported?.some((a) => a.startsWith('HS') || a === 'none'));
      assert.deepEqual(doc.code_challenge_methods_supported, ['S256']);
    });

    test('issues an opaque Bearer token with the default lifetime, no refresh token, no-store headers', async () => {
      const res = await tokenRequest(t, svc, { grant_type: 'client_credentials', scope: 'write' });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.headers.get('cache-control'), 'no-store');
      assert.equal(res.headers.get('pragma'), 'no-cache');
      assert.match(res.body.access_token as string, /^lat_at_[0-9A-Za-z]{43}_[0-9A-Za-z]{6}$/);
      assert.equal(res.body.token_type, 'Bearer');
      assert.equal(res.body.expires_in, 300);
      assert.equal(res.body.scope, 'write');
      assert.equal(res.body.refresh_token, undefined);
    });

    test('openid-client: token, introspection before and after revocation', async () => {
      const tokens = await oidc.clientCredentialsGrant(config, { scope: 'read:syn123 write' });
      assert.equal(tokens.token_type, 'bearer');
      assert.equal(tokens.scope, 'read:syn123 write');
      const active = await oidc.tokenIntrospection(config, tokens.access_token);
      assert.equal(active.active, true);
      assert.equal(active.client_id, svc.client_id);
      assert.equal(active.scope, 'read:syn123 write');
      assert.equal(active.token_type, 'Bearer');
      assert.equal(active.iss, t.issuer);
      assert.equal(active.sub, svc.client_id, 'client_credentials tokens have the client as subject');
      assert.equal(active.username, undefined);
      // RFC 7662 jti: stable for the token, different for every token, and not a counter.
      assert.match(active.jti as string, /^at_[\w-]{16}$/);
      assert.equal((await oidc.tokenIntrospection(config, tokens.access_token)).jti, active.jti);
      const other = await oidc.clientCredentialsGrant(config, { scope: 'read:syn123' });
      assert.notEqual((await oidc.tokenIntrospection(config, other.access_token)).jti, active.jti);
      assert.equal(typeof active.sid, 'string');
      assert.equal(typeof active.device_id, 'string');
      assert.equal((active.exp as number) - (active.iat as number), 300);

      await oidc.tokenRevocation(config, tokens.access_token);
      assert.deepEqual(await oidc.tokenIntrospection(config, tokens.access_token), { active: false });
    });

    test('each request is its own session (device); the session row has no user', async () => {
      const a = await oidc.clientCredentialsGrant(config, { scope: 'write' });
      const b = await oidc.clientCredentialsGrant(config, { scope: 'write' });
      const ia = await oidc.tokenIntrospection(config, a.access_token);
      const ib = await oidc.tokenIntrospection(config, b.access_token);
      assert.notEqual(ia.sid, ib.sid);
      assert.notEqual(ia.device_id, ib.device_id);
      const session = await t.latch.storage.sessions.findBySid(ia.sid as string);
      assert.equal(session?.userId, null);
      assert.equal(session?.clientId, svc.client_id);
    });

    test('no scope requested: the allowed set without patterns; patterns cover resources; others are invalid_scope', async () => {
      const none = await tokenRequest(t, svc, { grant_type: 'client_credentials' });
      assert.equal(none.body.scope, 'write');
      const pattern = await tokenRequest(t, svc, { grant_type: 'client_credentials', scope: 'read:syn9 read:other' });
      assert.equal(pattern.status, 200);
      assert.equal(pattern.body.scope, 'read:syn9 read:other');
      for (const scope of ['admin', 'read:', 'write admin', 'openid']) {
        const res = await tokenRequest(t, svc, { grant_type: 'client_credentials', scope });
        assert.equal(res.status, 400, scope);
        assert.equal(res.body.error, 'invalid_scope', scope);
      }
      const syntax = await tokenRequest(t, svc, { grant_type: 'client_credentials', scope: 'a\\b' });
      assert.equal(syntax.body.error, 'invalid_scope');
    });

    test('client_secret_post works; a per-client access_token_ttl applies', async () => {
      const post1 = await createServiceClient(t, { token_endpoint_auth_method: 'client_secret_post', access_token_ttl: 60 });
      const cfg = await rp(t, post1, oidc.ClientSecretPost(post1.client_secret as string));
      const tokens = await oidc.clientCredentialsGrant(cfg, { scope: 'write' });
      assert.equal(tokens.expires_in, 60);
      assert.equal((await oidc.tokenIntrospection(cfg, tokens.access_token)).active, true);
    });

    test('a client without the grant type gets unauthorized_client; wrong secret 401 invalid_client', async () => {
      const web = await createClient(t);
      const res = await tokenRequest(t, web, { grant_type: 'client_credentials' });
      assert.equal(res.status, 400);
      assert.equal(res.body.error, 'unauthorized_client');
      const wrong = await post(t, '/oauth2/token', { grant_type: 'client_credentials' }, { authorization: basic(svc.client_id, 'lat_cs_wrong') });
      assert.equal(wrong.status, 401);
      assert.equal(wrong.body.error, 'invalid_client');
      assert.match(wrong.headers.get('www-authenticate') ?? '', /^Basic realm=/);
      assert.equal(wrong.headers.get('cache-control'), 'no-store');
    });

    test('a rotated secret stops working at once; the new one works', async () => {
      const c = await createServiceClient(t);
      assert.equal((await tokenRequest(t, c, { grant_type: 'client_credentials' })).status, 200);
      const rotated = await t.admin<TestClient>('POST', `/admin/v1/clients/${c.client_id}/secret`);
      assert.equal(rotated.status, 200);
      const old = await tokenRequest(t, c, { grant_type: 'client_credentials' });
      assert.equal(old.status, 401, 'the cached verification of the old secret was dropped');
      assert.equal((await tokenRequest(t, { ...c, client_secret: rotated.body.client_secret as string }, { grant_type: 'client_credentials' })).status, 200);
      // A deleted client is gone at once too.
      assert.equal((await t.admin('DELETE', `/admin/v1/clients/${c.client_id}`)).status, 204);
      assert.equal((await tokenRequest(t, { ...c, client_secret: rotated.body.client_secret as string }, { grant_type: 'client_credentials' })).status, 401);
    });

    test('introspection: another client sees {"active":false} unless allowed to introspect any token', async () => {
      const tokens = await oidc.clientCredentialsGrant(config, { scope: 'write' });
      const other = await createServiceClient(t);
      assert.deepEqual(await introspectAs(t, other, tokens.access_token), { active: false });
      const rs = await createServiceClient(t, { introspect_any_token: true });
      const seen = await introspectAs(t, rs, tokens.access_token);
      assert.equal(seen.active, true);
      assert.equal(seen.client_id, svc.client_id);
      // Revocation by another client has no effect (and still answers 200).
      const revoke = await post(t, '/oauth2/revoke', { token: tokens.access_token }, { authorization: basic(other.client_id, other.client_secret as string) });
      assert.equal(revoke.status, 200);
      assert.equal((await introspectAs(t, svc, tokens.access_token)).active, true);
    });

    test('introspection: unknown, malformed and wrong-kind tokens are all exactly {"active":false}', async () => {
      for (const token of ['nope', 'lat_at_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA_AAAAAA', 'x'.repeat(4000), svc.client_secret as string]) {
        const res = await post(t, '/oauth2/introspect', { token }, { authorization: basic(svc.client_id, svc.client_secret as string) });
        assert.equal(res.status, 200);
        assert.equal(res.text, '{"active":false}');
      }
    });

    test('introspection requires client authentication: none or a public client is 401', async () => {
      const tokens = await oidc.clientCredentialsGrant(config, { scope: 'write' });
      const anonymous = await post(t, '/oauth2/introspect', { token: tokens.access_token });
      assert.equal(anonymous.status, 401);
      assert.equal(anonymous.body.error, 'invalid_client');
      const pub = await createClient(t, { token_endpoint_auth_method: 'none' });
      const asPublic = await post(t, '/oauth2/introspect', { token: tokens.access_token, client_id: pub.client_id });
      assert.equal(asPublic.status, 401);
      assert.equal(asPublic.body.error, 'invalid_client');
    });

    test('introspection: a finished session makes its tokens inactive', async () => {
      const tokens = await oidc.clientCredentialsGrant(config, { scope: 'write' });
      const info = await oidc.tokenIntrospection(config, tokens.access_token);
      const session = await t.latch.storage.sessions.findBySid(info.sid as string);
      assert.ok(session);
      assert.equal(await t.latch.storage.transaction((repos) => t.latch.sessions.end(repos, session, 'admin', Date.now())), true);
      assert.deepEqual(await oidc.tokenIntrospection(config, tokens.access_token), { active: false });
    });
  });

  describe(`[${backend}] token endpoint rate limit per client`, () => {
    let t: TestLatch;
    before(async () => {
      t = await startLatch(backend, { config: { 'rateLimit.tokenPerClient': 3 } });
    });
    after(() => t.close());

    test('the fourth request in a minute is 429 with Retry-After and an OAuth-style body; other clients are unaffected', async () => {
      const a = await createServiceClient(t);
      const b = await createServiceClient(t);
      for (let i = 0; i < 3; i++) assert.equal((await tokenRequest(t, a, { grant_type: 'client_credentials' })).status, 200);
      const limited = await tokenRequest(t, a, { grant_type: 'client_credentials' });
      assert.equal(limited.status, 429);
      assert.ok(Number(limited.headers.get('retry-after')) > 0);
      assert.equal(limited.body.error, 'rate_limited');
      assert.equal(typeof limited.body.error_description, 'string');
      assert.equal(limited.headers.get('cache-control'), 'no-store');
      assert.equal((await tokenRequest(t, b, { grant_type: 'client_credentials' })).status, 200);
      // Requests that fail authentication do not spend the client's budget (the key is the verified client).
      const c = await createServiceClient(t);
      for (let i = 0; i < 5; i++) {
        assert.equal((await post(t, '/oauth2/token', { grant_type: 'client_credentials' }, { authorization: basic(c.client_id, 'wrong') })).status, 401);
      }
      assert.equal((await tokenRequest(t, c, { grant_type: 'client_credentials' })).status, 200);
    });

    test('openid-client surfaces the 429', async () => {
      const a = await createServiceClient(t);
      const cfg = await rp(t, a);
      for (let i = 0; i < 3; i++) await oidc.clientCredentialsGrant(cfg);
      const err = await oauthError(oidc.clientCredentialsGrant(cfg));
      assert.equal(err.status, 429);
    });
  });
}

const redisUrl = process.env.LATCH_TEST_REDIS_URL;
if (redisUrl) {
  describe('[redis] the per-client token limit is shared through Redis by two processes', () => {
    const backend = backends()[backends().length - 1] as 'sqlite' | 'postgres';
    let a: TestLatch;
    let b: TestLatch;
    let redis: Redis;
    let svc: TestClient;
    before(async () => {
      redis = new Redis(redisUrl);
      const config = { 'redis.url': redisUrl, 'rateLimit.tokenPerClient': 3 };
      a = await startLatch(backend, { config });
      b = await startLatch(backend, { config, database: a.database });
      svc = await createServiceClient(a);
      for (const latch of [a.latch, b.latch]) {
        const shared = latch.redis as Redis;
        if (shared.status !== 'ready') await new Promise((resolve) => shared.once('ready', resolve));
      }
    });
    after(async () => {
      await redis.del(`latch-rl:token:${svc.client_id}`);
      redis.disconnect();
      await b.stop();
      await a.close();
    });

    test('requests on either process spend one budget; the fourth is refused on both', async () => {
      assert.equal((await tokenRequest(a, svc, { grant_type: 'client_credentials' })).status, 200);
      assert.equal((await tokenRequest(b, svc, { grant_type: 'client_credentials' })).status, 200);
      assert.equal((await tokenRequest(a, svc, { grant_type: 'client_credentials' })).status, 200);
      assert.equal(await redis.get(`latch-rl:token:${svc.client_id}`), '3');
      const limited = await tokenRequest(b, svc, { grant_type: 'client_credentials' });
      assert.equal(limited.status, 429);
      assert.equal(limited.body.error, 'rate_limited');
      const retryAfter = Number(limited.headers.get('retry-after'));
      assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
      assert.equal((await tokenRequest(a, svc, { grant_type: 'client_credentials' })).status, 429);
    });
  });
}
