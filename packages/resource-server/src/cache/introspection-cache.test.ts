/** The cache rules, one test each, on an injected clock. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type ActivePrincipal, INACTIVE, principalFromIntrospection } from '../principal.ts';
import { type CacheLimits, DEFAULT_CACHE_LIMITS, IntrospectionCache } from './introspection-cache.ts';

const T0 = 1_800_000_000_000;

function setup(limits: Partial<CacheLimits> = {}) {
  let now = T0;
  const clock = { now: () => now, advance: (ms: number) => (now += ms) };
  const cache = new IntrospectionCache({ ...DEFAULT_CACHE_LIMITS, ...limits }, clock.now);
  return { cache, clock };
}

function principal(claims: Record<string, unknown> = {}): ActivePrincipal {
  const p = principalFromIntrospection({
    active: true,
    sub: 'u1',
    client_id: 'c1',
    scope: 'read',
    sid: 's1',
    device_id: 'd1',
    jti: 'at_1',
    exp: T0 / 1000 + 3600,
    ...claims,
  });
  assert.ok(p.active);
  return p;
}

describe('introspection cache', () => {
  test('an active entry lives the configured TTL when the token outlives it', () => {
    const { cache, clock } = setup({ ttlMs: 300_000 });
    cache.set('k', principal(), T0);
    clock.advance(299_999);
    assert.ok(cache.get('k')?.active);
    clock.advance(1);
    assert.equal(cache.get('k'), undefined);
  });

  test("an active entry lives only until the token's exp when that comes first", () => {
    const { cache, clock } = setup({ ttlMs: 300_000 });
    cache.set('k', principal({ exp: T0 / 1000 + 60 }), T0);
    clock.advance(59_999);
    assert.ok(cache.get('k'));
    clock.advance(1);
    assert.equal(cache.get('k'), undefined);
  });

  test('the lifetime counts from retrieval, not from when the answer is stored', () => {
    const { cache, clock } = setup({ ttlMs: 300_000 });
    clock.advance(100_000);
    // The request went out at T0; stored 100 s later, it has 200 s left.
    cache.set('k', principal(), T0);
    clock.advance(199_999);
    assert.ok(cache.get('k'));
    clock.advance(1);
    assert.equal(cache.get('k'), undefined);
  });

  test("a token's far exp (a clock behind Latch's) never stretches the lifetime past the TTL", () => {
    const { cache } = setup({ ttlMs: 300_000 });
    assert.equal(cache.lifetime(principal({ exp: T0 / 1000 + 10 * 3600 }), T0), 300_000);
    assert.equal(cache.lifetime(principal({ exp: T0 / 1000 + 30 }), T0), 30_000);
    assert.equal(cache.lifetime(principal({ exp: T0 / 1000 - 1 }), T0), 0, 'already expired: not cached');
  });

  test('exp is checked again on every hit, whatever lifetime the entry was given', () => {
    const { cache, clock } = setup({ ttlMs: 300_000 });
    // A shared store may hand over an entry with its own remaining lifetime.
    cache.set('k', principal({ exp: T0 / 1000 + 10 }), T0, 300_000);
    clock.advance(9_999);
    assert.ok(cache.get('k'));
    clock.advance(1);
    assert.equal(cache.get('k'), undefined);
  });

  test('inactive answers are cached briefly (default 10 s)', () => {
    const { cache, clock } = setup();
    cache.set('bad', INACTIVE, T0);
    clock.advance(9_999);
    assert.deepEqual(cache.get('bad'), INACTIVE);
    clock.advance(1);
    assert.equal(cache.get('bad'), undefined);
  });

  test('a TTL of 0 turns caching off', () => {
    const { cache } = setup({ ttlMs: 0 });
    cache.set('k', principal(), T0);
    cache.set('bad', INACTIVE, T0);
    assert.equal(cache.get('k'), undefined);
    assert.equal(cache.get('bad'), undefined);
  });

  test('the entry count is bounded: least recently used out first, counted as evictions', () => {
    const { cache } = setup({ maxEntries: 3 });
    for (const k of ['a', 'b', 'c']) cache.set(k, principal({ jti: k, sid: k }), T0);
    assert.ok(cache.get('a'), 'a is now the most recently used');
    cache.set('d', principal({ jti: 'd', sid: 'd' }), T0);
    assert.equal(cache.get('b'), undefined, 'b was least recently used');
    assert.ok(cache.get('a') && cache.get('c') && cache.get('d'));
    const stats = cache.stats();
    assert.equal(stats.entries, 3);
    assert.equal(stats.evictions, 1);
    assert.equal(stats.hits, 4);
    assert.equal(stats.misses, 1);
    assert.equal(cache.revoke('sid', 'b'), 0, 'the evicted entry left the indexes too');
  });

  test('the byte budget is bounded too', () => {
    const { cache } = setup({ maxBytes: 4_000 });
    for (let i = 0; i < 50; i++) cache.set(`k${i}`, principal({ jti: `j${i}`, scope: 'read write admin notes:read notes:write' }), T0);
    const stats = cache.stats();
    assert.ok(stats.bytes <= 4_000, `${stats.bytes} bytes`);
    assert.ok(stats.entries > 0 && stats.entries < 50, `${stats.entries} entries`);
    assert.equal(stats.evictions, 50 - stats.entries);
    assert.ok(cache.get('k49'), 'the newest entry stays');
  });

  test('revocation by sid, sub and jti evicts exactly the entries concerned', () => {
    const { cache } = setup();
    cache.set('a1', principal({ sub: 'alice', sid: 'sa1', jti: 'ja1' }), T0);
    cache.set('a2', principal({ sub: 'alice', sid: 'sa1', jti: 'ja2' }), T0);
    cache.set('a3', principal({ sub: 'alice', sid: 'sa2', jti: 'ja3' }), T0);
    cache.set('b1', principal({ sub: 'bob', sid: 'sb1', jti: 'jb1' }), T0);
    cache.set('b2', principal({ sub: 'bob', sid: 'sb2', jti: 'jb2' }), T0);
    assert.equal(cache.revoke('sid', 'sa1'), 2);
    assert.equal(cache.get('a1'), undefined);
    assert.equal(cache.get('a2'), undefined);
    assert.ok(cache.get('a3'));
    assert.equal(cache.revoke('jti', 'jb1'), 1);
    assert.equal(cache.get('b1'), undefined);
    assert.ok(cache.get('b2'));
    assert.equal(cache.revoke('sub', 'alice'), 1);
    assert.equal(cache.get('a3'), undefined);
    assert.ok(cache.get('b2'), "bob's other session is untouched");
    assert.equal(cache.revoke('sid', 'unknown'), 0);
    assert.equal(cache.stats().revocations, 4);
  });

  test('after a revocation, answers for that session, token or user are not cached for a TTL', () => {
    const { cache, clock } = setup({ ttlMs: 300_000 });
    cache.revoke('sid', 's-ended');
    cache.revoke('jti', 'j-revoked');
    cache.revoke('sub', 'u-changed');
    assert.ok(cache.ended(principal({ sid: 's-ended' })));
    assert.ok(cache.ended(principal({ sid: 'other', jti: 'j-revoked' })));
    assert.equal(cache.ended(principal({ sid: 'other', jti: 'other', sub: 'u-changed' })), false, 'a user revocation does not end new sessions');
    assert.ok(cache.revoked(principal({ sid: 'other', jti: 'other', sub: 'u-changed' })));
    cache.set('k', principal({ sid: 's-ended' }), T0);
    cache.set('k2', principal({ sid: 'new', jti: 'new', sub: 'u-changed' }), T0);
    assert.equal(cache.get('k'), undefined);
    assert.equal(cache.get('k2'), undefined);
    clock.advance(300_001);
    assert.equal(cache.revoked(principal({ sid: 's-ended' })), false, 'tombstones end with the TTL');
  });
});
