import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { randomId } from '../crypto/random.ts';
import { type LoginThrottle, MemoryLoginThrottle, RedisLoginThrottle } from './login-throttle.ts';

const limits = { perIp: 4, perUsername: 2, window: 60 };

function conformance(name: string, make: (clock: () => number) => LoginThrottle, options: { controlsTime: boolean }) {
  describe(name, () => {
    let now = 1_000_000;
    const clock = () => now;
    const ip = `10.0.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}`;
    const user = () => `u-${randomId(8)}`;

    test('locks a username after its limit of failures, with the remaining window as retry time', async () => {
      const t = make(clock);
      const alice = user();
      assert.equal(await t.retryAfter({ ip, username: alice }), 0);
      await t.recordFailure({ ip, username: alice });
      assert.equal(await t.retryAfter({ ip, username: alice }), 0);
      await t.recordFailure({ ip, username: alice });
      const wait = await t.retryAfter({ ip, username: alice });
      assert.ok(wait > 0 && wait <= 60, String(wait));
      assert.ok((await t.retryAfter({ ip, username: alice.toUpperCase() })) > 0, 'usernames are case-folded');
      assert.equal(await t.retryAfter({ ip: '10.9.9.9', username: user() }), 0, 'others are not locked');
      if (options.controlsTime) {
        now += 61_000;
        assert.equal(await t.retryAfter({ ip, username: alice }), 0, 'unlocked after the window');
      }
    });

    test('locks an address after its limit across usernames', async () => {
      const t = make(clock);
      const addr = `10.1.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}`;
      for (let i = 0; i < 4; i++) await t.recordFailure({ ip: addr, username: user() });
      assert.ok((await t.retryAfter({ ip: addr, username: user() })) > 0);
    });
  });
}

conformance('MemoryLoginThrottle', (clock) => new MemoryLoginThrottle(limits, clock), { controlsTime: true });

test('MemoryLoginThrottle stays bounded', async () => {
  const t = new MemoryLoginThrottle(limits, () => 0, 10);
  for (let i = 0; i < 100; i++) await t.recordFailure({ ip: `ip${i}`, username: `u${i}` });
  assert.ok((t as unknown as { windows: { size: number } }).windows.size <= 10);
});

const url = process.env.LATCH_TEST_REDIS_URL;
if (url) {
  const redis = new Redis(url);
  const prefix = `latch-login-test-${randomId(8)}:`;
  after(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });
  conformance('RedisLoginThrottle', (clock) => new RedisLoginThrottle(redis, limits, clock, prefix), { controlsTime: false });

  test('RedisLoginThrottle falls back to memory counters when Redis is unreachable', async () => {
    const dead = new Redis('redis://127.0.0.1:1', { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    dead.on('error', () => {});
    const errors: unknown[] = [];
    const t = new RedisLoginThrottle(
      dead,
      limits,
      () => 0,
      prefix,
      (err) => errors.push(err),
    );
    await t.recordFailure({ ip: '1.1.1.1', username: 'x' });
    await t.recordFailure({ ip: '1.1.1.1', username: 'x' });
    assert.ok((await t.retryAfter({ ip: '1.1.1.1', username: 'x' })) > 0);
    assert.ok(errors.length > 0);
    dead.disconnect();
  });
}
