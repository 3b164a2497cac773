import assert from 'node:assert/strict';
import { test } from 'node:test';
import { afterFailure, retryDelay } from './backoff.ts';

const policy = { baseMs: 1000, maxMs: 60_000, maxAttempts: 5 };

test('retry delays double per attempt, stay within [ceiling/2, ceiling] and are capped', () => {
  assert.equal(
    retryDelay(1, policy, () => 0),
    500,
  );
  assert.equal(
    retryDelay(1, policy, () => 0.999999),
    1000,
  );
  assert.equal(
    retryDelay(2, policy, () => 0),
    1000,
  );
  assert.equal(
    retryDelay(3, policy, () => 0),
    2000,
  );
  assert.equal(
    retryDelay(4, policy, () => 0.5),
    6000,
  );
  assert.equal(
    retryDelay(20, policy, () => 0),
    30_000,
  );
  assert.equal(
    retryDelay(20, policy, () => 0.999999),
    60_000,
  );
  assert.equal(
    retryDelay(10_000, policy, () => 0.999999),
    60_000,
    'no overflow for absurd attempt counts',
  );
});

test('jitter spreads retries of events that failed together', () => {
  const delays = new Set(Array.from({ length: 50 }, () => retryDelay(6, policy)));
  assert.ok(delays.size > 10);
  for (const d of delays) assert.ok(d >= 16_000 && d <= 32_000, `${d}`);
});

test('an event is dead-lettered after maxAttempts attempts, not before', () => {
  assert.deepEqual(
    afterFailure(4, 100, policy, () => 0),
    { nextAttemptAt: 100 + 4000, dead: false },
  );
  assert.equal(afterFailure(5, 100, policy).dead, true);
  assert.equal(afterFailure(6, 100, policy).dead, true);
});
