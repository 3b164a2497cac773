/** createIntrospector against a spec-written authorization server (test/support/fake-latch.ts). */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { exportJWK, generateKeyPair } from 'jose';
import { CLIENT_ID, CLIENT_SECRET, FakeLatch } from '../test/support/fake-latch.ts';
import { latchToken } from '../test/support/tokens.ts';
import { AuthorityUnavailableError } from './errors.ts';
import { createIntrospector, type IntrospectorOptions } from './introspector.ts';
import { deviceKeyOf } from './principal.ts';

describe('createIntrospector', () => {
  let latch: FakeLatch;
  before(async () => {
    latch = await FakeLatch.start();
  });
  after(() => latch.close());

  const make = (options: Partial<IntrospectorOptions> = {}) =>
    createIntrospector({ issuer: latch.issuer, client: { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET }, ...options });

  test('discovers the endpoint and maps the answer to a typed principal with deviceKey', async () => {
    const token = latchToken();
    const answer = latch.addToken(token, {
      sub: 'alice',
      device_id: 'dev-9',
      sid: 'sid-9',
      scope: 'notes:read profile',
      username: 'alice',
      act: { sub: 'batch-job' },
      aud: ['https://notes.example/', 'https://other.example/'],
    });
    const p = await make().introspect(token);
    assert.ok(p.active);
    assert.equal(p.sub, 'alice');
    assert.equal(p.clientId, 'web-app');
    assert.deepEqual([...p.scope], ['notes:read', 'profile']);
    assert.equal(p.sid, 'sid-9');
    assert.equal(p.deviceId, 'dev-9');
    assert.equal(p.deviceKey, deviceKeyOf('alice', 'dev-9'));
    assert.match(p.deviceKey as string, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(p.exp, answer.exp);
    assert.equal(p.jti, answer.jti);
    assert.equal(p.username, 'alice');
    assert.deepEqual(p.act, { sub: 'batch-job' });
    assert.deepEqual(p.aud, ['https://notes.example/', 'https://other.example/']);
  });

  test('deviceKey is stable per user and device and cannot be confused by moving characters between them', () => {
    assert.equal(deviceKeyOf('alice', 'd1'), deviceKeyOf('alice', 'd1'));
    assert.notEqual(deviceKeyOf('ab', 'c'), deviceKeyOf('a', 'bc'));
    assert.notEqual(deviceKeyOf('a:1', ''), deviceKeyOf('a', ':1'));
    assert.notEqual(deviceKeyOf('1:a', 'b'), deviceKeyOf('1', ':ab'));
  });

  test('a refresh token is not an access token: inactive', async () => {
    const token = latchToken();
    latch.addToken(token, { token_type: 'refresh_token' });
    assert.equal((await make().introspect(token)).active, false);
  });

  test('the cache is keyed by the SHA-256 of the token, never the token', async () => {
    const token = latchToken();
    latch.addToken(token);
    const introspector = make();
    await introspector.introspect(token);
    const keys = [...(introspector.cache as unknown as { entries: Map<string, unknown> }).entries.keys()];
    assert.deepEqual(keys, [createHash('sha256').update(token).digest('base64url')]);
    const before = latch.introspections;
    assert.ok((await introspector.introspect(token)).active);
    assert.equal(latch.introspections, before, 'the second call is a hit');
  });

  for (const method of ['client_secret_basic', 'client_secret_post', 'private_key_jwt'] as const) {
    test(`authenticates with ${method}`, async () => {
      const token = latchToken();
      latch.addToken(token);
      let client: IntrospectorOptions['client'];
      if (method === 'private_key_jwt') {
        const { privateKey, publicKey } = await generateKeyPair('ES256');
        latch.clientJwks = [{ ...(await exportJWK(publicKey)), kid: 'c1', alg: 'ES256' }];
        client = { clientId: CLIENT_ID, method, privateKey, alg: 'ES256', kid: 'c1' };
      } else client = { clientId: CLIENT_ID, method, clientSecret: CLIENT_SECRET };
      assert.ok((await make({ client }).introspect(token)).active);
      // Wrong credentials are refused by the server: an error, never a principal.
      const wrong =
        method === 'private_key_jwt' ? { ...client, kid: 'c1', privateKey: (await generateKeyPair('ES256')).privateKey } : { ...client, clientSecret: 'wrong' };
      await assert.rejects(make({ client: wrong as IntrospectorOptions['client'] }).introspect(token), AuthorityUnavailableError);
    });
  }

  test('malformed, huge and wrong-checksum tokens are inactive without a call to Latch', async () => {
    const introspector = make();
    const good = latchToken();
    const before = latch.introspections;
    const flipped = good.slice(0, 10) + (good[10] === 'a' ? 'b' : 'a') + good.slice(11);
    for (const t of ['', 'x'.repeat(5000), 'lat_at_short_abcdef', flipped, 'lat_rt_' + good.slice(7), 'not a token', 'eyJhbGciOi.x.y']) {
      assert.equal((await introspector.introspect(t)).active, false, t.slice(0, 20));
    }
    assert.equal(latch.introspections, before);
    assert.equal(introspector.stats().entries, 0, 'nothing cached');
    // With tokenFormat any, other RFC 6750 tokens are asked about (and huge ones still are not).
    const any = make({ tokenFormat: 'any', maxTokenLength: 100 });
    assert.equal((await any.introspect('opaque-token-123')).active, false);
    assert.equal(latch.introspections, before + 1);
    assert.equal((await any.introspect('y'.repeat(101))).active, false);
    assert.equal(latch.introspections, before + 1);
  });

  test('5xx and transport errors throw and are never cached', async () => {
    const token = latchToken();
    latch.addToken(token);
    const introspector = make();
    latch.introspectionStatus = 503;
    try {
      await assert.rejects(introspector.introspect(token), AuthorityUnavailableError);
    } finally {
      latch.introspectionStatus = undefined;
    }
    assert.ok((await introspector.introspect(token)).active, 'the next call asks again and succeeds');
    const unreachable = createIntrospector({ issuer: 'http://127.0.0.1:1', client: { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET }, timeoutMs: 2000 });
    await assert.rejects(unreachable.introspect(token), AuthorityUnavailableError);
    assert.equal(unreachable.stats().entries, 0);
  });

  test('inactive answers are cached for inactiveTtlMs only', async () => {
    let now = Date.now();
    const introspector = make({ clock: () => now, cache: { inactiveTtlMs: 10_000 } });
    const token = latchToken();
    const before = latch.introspections;
    assert.equal((await introspector.introspect(token)).active, false);
    assert.equal((await introspector.introspect(token)).active, false);
    assert.equal(latch.introspections, before + 1);
    now += 10_001;
    latch.addToken(token);
    assert.ok((await introspector.introspect(token)).active, 'asked again after 10 s');
    assert.equal(latch.introspections, before + 2);
  });

  test('single flight: 100 concurrent calls for one uncached token make one introspection', async () => {
    const token = latchToken();
    latch.addToken(token);
    const introspector = make();
    latch.introspectionDelayMs = 50;
    const before = latch.introspections;
    try {
      const results = await Promise.all(Array.from({ length: 100 }, () => introspector.introspect(token)));
      assert.ok(results.every((p) => p.active));
    } finally {
      latch.introspectionDelayMs = 0;
    }
    assert.equal(latch.introspections - before, 1);
    assert.equal(introspector.calls, 1);
  });

  test('single flight shares failures too, and the next call tries again', async () => {
    const token = latchToken();
    latch.addToken(token);
    const introspector = make();
    latch.introspectionStatus = 500;
    latch.introspectionDelayMs = 30;
    try {
      const results = await Promise.allSettled(Array.from({ length: 20 }, () => introspector.introspect(token)));
      assert.ok(results.every((r) => r.status === 'rejected'));
      assert.equal(introspector.calls, 1);
    } finally {
      latch.introspectionStatus = undefined;
      latch.introspectionDelayMs = 0;
    }
    assert.ok((await introspector.introspect(token)).active);
    assert.equal(introspector.calls, 2);
  });

  test('a revocation received while an introspection is in flight wins: the stale active answer is neither returned nor cached', async () => {
    const token = latchToken();
    latch.addToken(token, { sid: 'sid-race' });
    const introspector = make();
    latch.introspectionDelayMs = 100;
    try {
      const pending = introspector.introspect(token);
      await new Promise((r) => setTimeout(r, 20));
      await introspector.revoke('sid', 'sid-race');
      assert.equal((await pending).active, false);
    } finally {
      latch.introspectionDelayMs = 0;
    }
    // Latch still says active (the fake does not end sessions), yet the next call stays inactive.
    assert.equal((await introspector.introspect(token)).active, false);
  });

  test('an issuer whose metadata names another issuer is refused (RFC 8414 §3.3)', async () => {
    const introspector = createIntrospector({ issuer: `${latch.issuer}/`, client: { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET } });
    await assert.rejects(introspector.introspect(latchToken()), /names issuer/);
  });

  test('counts hits, misses and evictions, and reports them to the metrics hooks', async () => {
    const seen: string[] = [];
    const introspector = make({ metrics: { cache: (e, n) => seen.push(`${e}:${n}`), introspection: (o) => seen.push(`introspection:${o}`) } });
    const token = latchToken();
    latch.addToken(token, { sid: 'sid-m' });
    await introspector.introspect(token);
    await introspector.introspect(token);
    await introspector.revoke('sid', 'sid-m');
    assert.deepEqual(seen, ['miss:1', 'introspection:active', 'hit:1', 'eviction:1']);
    const stats = introspector.stats();
    assert.equal(stats.hits, 1);
    assert.equal(stats.misses, 1);
    assert.equal(stats.evictions, 1);
  });
});
