/**
 * A fixed number of requests per key per window (the token endpoint's per-client limit). Fixed
 * windows: the first request of a key opens its window, which admits `limit` requests and then
 * refuses the rest until it ends; the refusal says how long that is (Retry-After, RFC 9110 §10.2.3).
 *
 * Two implementations behind one interface: process memory (one process, the default) and Redis
 * (shared by every process when `redis.url` is configured). This runs on every token request, so
 * the memory one is a Map lookup and the Redis one a single round trip.
 */
import type { Redis } from 'ioredis';
import type { Clock } from '../domain/clock.ts';
import { FixedWindows, secondsLeft } from './fixed-windows.ts';

export interface RequestBudget {
  /** Counts one request for `key`: 0 when it is allowed, else the seconds until the window ends. */
  take(key: string): Promise<number>;
}

export interface BudgetLimits {
  limit: number;
  /** seconds */
  window: number;
}

export class MemoryRequestBudget implements RequestBudget {
  private readonly windows: FixedWindows;

  constructor(
    private readonly limits: BudgetLimits,
    private readonly clock: Clock,
    maxEntries = 100_000,
  ) {
    this.windows = new FixedWindows(limits.window * 1000, maxEntries);
  }

  async take(key: string): Promise<number> {
    return this.takeNow(key);
  }

  /** The synchronous core, also the Redis budget's fallback. */
  takeNow(key: string): number {
    const now = this.clock();
    const w = this.windows.hit(key, now);
    return w.count > this.limits.limit ? secondsLeft(w, now) : 0;
  }
}

// INCR and the expiry of a new window in one step, so no key is left without expiry; returns the
// count and the milliseconds left.
const TAKE_SCRIPT = `
local c = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if c == 1 or ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {c, ttl}`;

/**
 * Shared counters in Redis. When Redis is unreachable the process counts in its own memory rather
 * than failing open entirely or refusing every request.
 */
export class RedisRequestBudget implements RequestBudget {
  private readonly fallback: MemoryRequestBudget;

  constructor(
    private readonly redis: Redis,
    private readonly limits: BudgetLimits,
    clock: Clock,
    private readonly prefix: string,
    private readonly onError: (err: unknown) => void = () => {},
  ) {
    this.fallback = new MemoryRequestBudget(limits, clock);
  }

  async take(key: string): Promise<number> {
    try {
      const [count, ttl] = (await this.redis.eval(TAKE_SCRIPT, 1, this.prefix + key, String(this.limits.window * 1000))) as [number, number];
      return count > this.limits.limit ? Math.max(1, Math.ceil(ttl / 1000)) : 0;
    } catch (err) {
      this.onError(err);
      return this.fallback.takeNow(key);
    }
  }
}
