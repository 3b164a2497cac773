/**
 * A SharedStore on Redis (ioredis), for an API running as several processes:
 * - cache entries (`<prefix>e:<token hash>`) with the entry's remaining lifetime as their TTL, and
 *   per-sid / per-sub / per-jti index sets, so a revocation deletes exactly its entries;
 * - revocation tombstones (`<prefix>t:<by>:<value>`, TTL = the cache TTL): an entry written by a
 *   process whose introspection was in flight during a revocation is refused by the same Lua
 *   script that writes it, so no process can put a revoked token back;
 * - pub/sub (`<prefix>revocations`): a revocation received by one process (the one holding the
 *   stream, or whichever the push hit) is applied by every process within milliseconds;
 * - SET and logout token `jti` claims (`SET NX PX`), shared so a replay to another process is
 *   caught too.
 * Redis errors surface to the introspector, which falls back to its own cache (onError).
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { EvictBy } from './cache/introspection-cache.ts';
import { deserializePrincipal, type Principal, serializePrincipal } from './principal.ts';
import type { SharedEntry, SharedStore } from './store.ts';

export interface RedisStoreOptions {
  /** The connection for commands. */
  redis: Redis;
  /** A second connection for the subscription (default `redis.duplicate()`). */
  subscriber?: Redis;
  /** Key prefix, one per API (default `latch-rs:`). */
  prefix?: string;
}

// KEYS: entry, sid index, sub index, jti index, sid tombstone, sub tombstone, jti tombstone
// ARGV: value, ttl ms, entry key name
const SET_SCRIPT = `
if redis.call('EXISTS', KEYS[5]) == 1 or redis.call('EXISTS', KEYS[6]) == 1 or redis.call('EXISTS', KEYS[7]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
for i = 2, 4 do
  if KEYS[i] ~= '' and string.sub(KEYS[i], -1) ~= ':' then
    redis.call('SADD', KEYS[i], ARGV[3])
    if redis.call('PTTL', KEYS[i]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[i], ARGV[2]) end
  end
end
return 1`;

// KEYS: index, tombstone. ARGV: ttl ms. Deletes the indexed entries and the index, sets the tombstone.
const REVOKE_SCRIPT = `
redis.call('SET', KEYS[2], '1', 'PX', ARGV[1])
local members = redis.call('SMEMBERS', KEYS[1])
for _, key in ipairs(members) do redis.call('DEL', key) end
redis.call('DEL', KEYS[1])
return #members`;

export class RedisStore implements SharedStore {
  private readonly prefix: string;
  private readonly subscriber: Redis;
  private readonly origin = randomBytes(9).toString('base64url');
  private readonly ownsSubscriber: boolean;

  constructor(private readonly options: RedisStoreOptions) {
    this.prefix = options.prefix ?? 'latch-rs:';
    this.ownsSubscriber = options.subscriber === undefined;
    this.subscriber = options.subscriber ?? options.redis.duplicate();
    options.redis.defineCommand('latchRsSet', { numberOfKeys: 7, lua: SET_SCRIPT });
    options.redis.defineCommand('latchRsRevoke', { numberOfKeys: 2, lua: REVOKE_SCRIPT });
  }

  private get channel(): string {
    return `${this.prefix}revocations`;
  }

  async get(key: string): Promise<SharedEntry | undefined> {
    const name = `${this.prefix}e:${key}`;
    const [[, value], [, ttl]] = (await this.options.redis.multi().get(name).pttl(name).exec()) as [[unknown, string | null], [unknown, number]];
    if (value === null || ttl <= 0) return undefined;
    const principal = deserializePrincipal(value);
    return principal ? { principal, ttlMs: ttl } : undefined;
  }

  async set(key: string, principal: Principal, ttlMs: number): Promise<void> {
    const ms = Math.floor(ttlMs);
    if (ms <= 0) return;
    const p = this.prefix;
    const entry = `${p}e:${key}`;
    const a = principal.active ? principal : undefined;
    const keys = [
      entry,
      `${p}i:sid:${a?.sid ?? ''}`,
      `${p}i:sub:${a?.sub ?? ''}`,
      `${p}i:jti:${a?.jti ?? ''}`,
      `${p}t:sid:${a?.sid ?? ''}`,
      `${p}t:sub:${a?.sub ?? ''}`,
      `${p}t:jti:${a?.jti ?? ''}`,
    ];
    await (this.options.redis as unknown as { latchRsSet(...args: (string | number)[]): Promise<number> }).latchRsSet(
      ...keys,
      serializePrincipal(principal),
      ms,
      entry,
    );
  }

  async revoke(by: EvictBy, value: string, ttlMs: number): Promise<void> {
    const p = this.prefix;
    await (this.options.redis as unknown as { latchRsRevoke(...args: (string | number)[]): Promise<number> }).latchRsRevoke(
      `${p}i:${by}:${value}`,
      `${p}t:${by}:${value}`,
      Math.max(1000, Math.floor(ttlMs)),
    );
    await this.options.redis.publish(this.channel, JSON.stringify({ origin: this.origin, by, value }));
  }

  async subscribe(listener: (by: EvictBy, value: string) => void): Promise<void> {
    this.subscriber.on('message', (channel: string, message: string) => {
      if (channel !== this.channel) return;
      try {
        const m = JSON.parse(message) as { origin?: string; by?: string; value?: unknown };
        if (m.origin === this.origin || typeof m.value !== 'string') return;
        if (m.by === 'sid' || m.by === 'sub' || m.by === 'jti') listener(m.by, m.value);
      } catch {
        // Not ours: ignored.
      }
    });
    await this.subscriber.subscribe(this.channel);
  }

  async claim(jti: string, ttlMs: number): Promise<boolean> {
    return (await this.options.redis.set(`${this.prefix}j:${jti}`, '1', 'PX', Math.max(1000, Math.floor(ttlMs)), 'NX')) === 'OK';
  }

  async release(jti: string): Promise<void> {
    await this.options.redis.del(`${this.prefix}j:${jti}`);
  }

  async close(): Promise<void> {
    if (this.ownsSubscriber) this.subscriber.disconnect();
    else await this.subscriber.unsubscribe(this.channel);
  }
}

export function createRedisStore(options: RedisStoreOptions): RedisStore {
  return new RedisStore(options);
}
