/**
 * POST /oauth2/register is rate limited per IP address (`rateLimit.registerPerIp` per minute), in
 * memory or shared through Redis. Each test speaks from its own loopback source address
 * (127.x.y.z, all of 127/8 is loopback on Linux), so the counters of tests never meet.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { Agent, fetch } from 'undici';
import { loadConfig } from '../../../src/config/load.ts';
import { backends } from '../../support/backends.ts';
import { startLatch, type TestLatch } from '../../support/latch.ts';
import type { JsonResponse } from './helpers.ts';

const valid = { client_name: 'flood', redirect_uris: ['https://app.example.com/cb'] };

/** A client whose requests come from one random loopback address. */
function fromAddress() {
  const address = `127.${randomInt(1, 255)}.${randomInt(0, 256)}.${randomInt(1, 255)}`;
  const agent = new Agent({ localAddress: address });
  const request = async (url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<JsonResponse> => {
    const res = await fetch(url, { ...init, dispatcher: agent });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      // keep the text
    }
    return { status: res.status, body: body as Record<string, unknown>, headers: res.headers as unknown as Headers };
  };
  const register = (t: TestLatch, body: unknown) =>
    request(`${t.issuer}/oauth2/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { address, agent, request, register };
}

function assertLimited(res: JsonResponse): void {
  assert.equal(res.status, 429, JSON.stringify(res.body));
  assert.equal(res.body.error, 'rate_limited');
  assert.match(res.body.error_description as string, /^Too many registration requests from this address; retry in \d+ (second|seconds|minute)\.$/);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  assert.equal(res.headers.get('cache-control'), 'no-store');
  const retryAfter = Number(res.headers.get('retry-after'));
  assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After: ${res.headers.get('retry-after')}`);
}

async function dynamicClientCount(t: TestLatch): Promise<number> {
  const res = await t.admin<{ clients: unknown[] }>('GET', '/admin/v1/clients?source=dynamic&limit=200');
  return res.body.clients.length;
}

test('the default is 20 registration requests per IP address per minute', () => {
  assert.equal(loadConfig({ env: {}, file: undefined }).rateLimit.registerPerIp, 20);
});

for (const backend of backends()) {
  describe(`[${backend}] registration rate limit per IP address`, () => {
    let t: TestLatch;
    before(async () => {
      t = await startLatch(backend, { config: { 'registration.policy': 'open', 'rateLimit.registerPerIp': 3 } });
    });
    after(() => t.close());

    test('the fourth request in a minute from one address is 429 rate_limited with Retry-After; refused requests count too', async () => {
      const a = fromAddress();
      try {
        const first = await a.register(t, valid);
        assert.equal(first.status, 201, JSON.stringify(first.body));
        assert.equal((await a.register(t, { ...valid, scope: 'admin' })).status, 400);
        assert.equal((await a.register(t, '{"not json')).status, 400);
        const count = await dynamicClientCount(t);
        assertLimited(await a.register(t, valid));
        assertLimited(await a.register(t, valid));
        assert.equal(await dynamicClientCount(t), count, 'a limited request registers nothing');

        // Another address has its own budget.
        const b = fromAddress();
        try {
          assert.equal((await b.register(t, valid)).status, 201);
        } finally {
          await b.agent.close();
        }

        // RFC 7592 management is not counted: the limited address can still read and delete its client.
        const uri = first.body.registration_client_uri as string;
        const auth = { authorization: `Bearer ${first.body.registration_access_token}` };
        assert.equal((await a.request(uri, { headers: auth })).status, 200);
        assert.equal((await a.request(uri, { method: 'DELETE', headers: auth })).status, 204);
      } finally {
        await a.agent.close();
      }
    });

    test('the limit applies whatever the policy, before any token or body is looked at', async () => {
      const other = await startLatch(backend, { config: { 'registration.policy': 'initial_access_token', 'rateLimit.registerPerIp': 2 } });
      const a = fromAddress();
      try {
        const bad = { 'content-type': 'application/json', authorization: 'Bearer lat_iat_nonsense' };
        for (let i = 0; i < 2; i++) {
          assert.equal((await a.request(`${other.issuer}/oauth2/register`, { method: 'POST', headers: bad, body: '{}' })).status, 401);
        }
        assertLimited(await a.request(`${other.issuer}/oauth2/register`, { method: 'POST', headers: bad, body: '{}' }));
        assertLimited(await a.request(`${other.issuer}/oauth2/register`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' }));
      } finally {
        await a.agent.close();
        await other.close();
      }
    });
  });
}

const redisUrl = process.env.LATCH_TEST_REDIS_URL;
if (redisUrl) {
  describe('[redis] registration rate limit shared through Redis by two processes', () => {
    const backend = backends()[backends().length - 1] as 'sqlite' | 'postgres';
    let a: TestLatch;
    let b: TestLatch;
    let redis: Redis;
    const client = fromAddress();
    // The plugin's key: our namespace, its per-route part, then our key `register:<ip>`.
    const keys = () => redis.keys(`latch-rl:*register:${client.address}`);
    before(async () => {
      redis = new Redis(redisUrl);
      for (const key of await keys()) await redis.del(key);
      const config = { 'redis.url': redisUrl, 'registration.policy': 'open', 'rateLimit.registerPerIp': 3 };
      a = await startLatch(backend, { config });
      b = await startLatch(backend, { config, database: a.database });
    });
    after(async () => {
      for (const key of await keys()) await redis.del(key);
      redis.disconnect();
      await client.agent.close();
      await b.stop();
      await a.close();
    });

    test('requests to either process count against one budget kept in Redis with an expiry', async () => {
      assert.equal((await client.register(a, valid)).status, 201);
      assert.equal((await client.register(b, valid)).status, 201);
      assert.equal((await client.register(a, valid)).status, 201);
      const [key, ...more] = await keys();
      assert.ok(key !== undefined && more.length === 0, 'one counter for the address');
      assert.equal(await redis.get(key), '3');
      const ttl = await redis.pttl(key);
      assert.ok(ttl > 0 && ttl <= 60_000, `key expires (${ttl} ms)`);
      assertLimited(await client.register(b, valid));
      assertLimited(await client.register(a, valid));
    });
  });
}
