import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { randomId } from '../crypto/random.ts';
import { MemoryRequestBudget, RedisRequestBudget, type RequestBudget } from './request-budget.ts';

const limits = { limit: 3, window: 60 };

function conformance(name: string, make: (clock: () => number) => RequestBudget, options: { controlsTime: boolean }) {
  describe(name, () => {
    let now = 1_000_000;
    const clock = () => now;

    test('admits the limit per key, then refuses with the rest of the window as the wait; keys are independent', async () => {
      const budget = make(clock);
      const key = `client-${randomId(8)}`;
      for (let i = 0; i < 3; i++) assert.equal(await budget.take(key), 0, `request ${i + 1}`);
      const wait = await budget.take(key);
      assert.ok(wait >= 1 && wait <= 60, `wait ${wait}`);
      assert.ok((await budget.take(key)) > 0, 'refused requests do not reopen the window');
      assert.equal(await budget.take(`other-${randomId(8)}`), 0);
      if (options.controlsTime) {
        now += 30_000;
        assert.equal(await budget.take(key), 30, 'the wait shrinks as the window runs');
        now += 30_001;
        assert.equal(await budget.take(key), 0, 'a new window after the old one ends');
      }
    });
  });
}

conformance('MemoryRequestBudget', (clock) => new MemoryRequestBudget(limits, clock), { controlsTime: true });

test('MemoryRequestBudget stays bounded', async () => {
  const budget = new MemoryRequestBudget(limits, () => 0, 10);
  for (let i = 0; i < 100; i++) await budget.take(`k${i}`);
  assert.ok((budget as unknown as { windows: { size: number } }).windows.size <= 10);
});

const url = process.env.LATCH_TEST_REDIS_URL;
if (url) {
  const redis = new Redis(url);
  const prefix = `latch-budget-test-${randomId(8)}:`;
  after(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });
  conformance('RedisRequestBudget', (clock) => new RedisRequestBudget(redis, limits, clock, prefix), { controlsTime: false });

  test('RedisRequestBudget keeps its counter in Redis with the window as expiry', async () => {
    const budget = new RedisRequestBudget(redis, limits, Date.now, prefix);
    await budget.take('shared');
    await new RedisRequestBudget(redis, limits, Date.now, prefix).take('shared');
    assert.equal(await redis.get(`${prefix}shared`), '2', 'two instances count in one place');
    const ttl = await redis.pttl(`${prefix}shared`);
    assert.ok(ttl > 0 && ttl <= 60_000, `expiry ${ttl}`);
  });

  test('RedisRequestBudget counts in memory when Redis is unreachable', async () => {
    const dead = new Redis('redis://127.0.0.1:1', { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    dead.on('error', () => {});
    const errors: unknown[] = [];
    const budget = new RedisRequestBudget(
      dead,
      limits,
      () => 0,
      prefix,
      (err) => errors.push(err),
    );
    for (let i = 0; i < 3; i++) assert.equal(await budget.take('k'), 0);
    assert.ok((await budget.take('k')) > 0);
    assert.ok(errors.length > 0);
    dead.disconnect();
  });
}
