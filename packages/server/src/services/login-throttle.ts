/**
 * Limits on failed sign-ins, per client IP address and per username (OWASP Authentication Cheat
 * Sheet, "Protect against automated attacks"; NIST SP 800-63B §5.2.2 rate limiting). Only failures
 * count. When a key reaches its limit it stays locked until its window, which starts at the first
 * failure, runs out; the lockout answer carries that time as Retry-After.
 *
 * Two implementations behind one interface: in process memory (one process, the default) and in
 * Redis (shared by every process when `redis.url` is configured). Usernames are hashed before they
 * become keys, so Redis never holds them in clear.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Clock } from '../domain/clock.ts';
import { normalizeUsername } from '../domain/user.ts';
import { FixedWindows, secondsLeft } from './fixed-windows.ts';

export interface LoginLimits {
  perIp: number;
  perUsername: number;
  /** seconds */
  window: number;
}

export interface LoginSubject {
  ip: string;
  username: string;
}

export interface LoginThrottle {
  /** Seconds until sign-in may be tried again, or 0 when it is allowed now. */
  retryAfter(subject: LoginSubject): Promise<number>;
  /** Counts one failed sign-in against both keys. */
  recordFailure(subject: LoginSubject): Promise<void>;
}

const usernameKey = (username: string) => `u:${createHash('sha256').update(normalizeUsername(username)).digest('base64url')}`;
const ipKey = (ip: string) => `ip:${ip}`;

function keysOf(subject: LoginSubject, limits: LoginLimits): [string, number][] {
  return [
    [ipKey(subject.ip), limits.perIp],
    [usernameKey(subject.username), limits.perUsername],
  ];
}

/** Fixed windows in process memory (services/fixed-windows.ts). */
export class MemoryLoginThrottle implements LoginThrottle {
  private readonly windows: FixedWindows;

  constructor(
    private readonly limits: LoginLimits,
    private readonly clock: Clock,
    maxEntries = 100_000,
  ) {
    this.windows = new FixedWindows(limits.window * 1000, maxEntries);
  }

  async retryAfter(subject: LoginSubject): Promise<number> {
    const now = this.clock();
    let wait = 0;
    for (const [key, limit] of keysOf(subject, this.limits)) {
      const w = this.windows.peek(key, now);
      if (w && w.count >= limit) wait = Math.max(wait, secondsLeft(w, now));
    }
    return wait;
  }

  async recordFailure(subject: LoginSubject): Promise<void> {
    const now = this.clock();
    for (const [key] of keysOf(subject, this.limits)) this.windows.hit(key, now);
  }
}

// INCR and set the expiry on the first failure in one step, so a crash between them cannot leave a
// key without expiry (a permanent lockout).
const RECORD_SCRIPT = `
local c = redis.call('INCR', KEYS[1])
if c == 1 or redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return c`;

/**
 * Shared counters in Redis. When Redis is unreachable the process falls back to its own memory
 * counters rather than failing open entirely or refusing every sign-in.
 */
export class RedisLoginThrottle implements LoginThrottle {
  private readonly fallback: MemoryLoginThrottle;

  constructor(
    private readonly redis: Redis,
    private readonly limits: LoginLimits,
    clock: Clock,
    private readonly prefix = 'latch-login:',
    private readonly onError: (err: unknown) => void = () => {},
  ) {
    this.fallback = new MemoryLoginThrottle(limits, clock);
  }

  async retryAfter(subject: LoginSubject): Promise<number> {
    try {
      const keys = keysOf(subject, this.limits);
      const pipeline = this.redis.pipeline();
      for (const [key] of keys) pipeline.get(this.prefix + key).pttl(this.prefix + key);
      const results = (await pipeline.exec()) ?? [];
      let wait = 0;
      keys.forEach(([, limit], i) => {
        const [countErr, count] = results[i * 2] ?? [];
        const [ttlErr, ttl] = results[i * 2 + 1] ?? [];
        if (countErr || ttlErr) throw countErr ?? ttlErr;
        if (Number(count ?? 0) >= limit && Number(ttl) > 0) wait = Math.max(wait, Math.ceil(Number(ttl) / 1000));
      });
      return wait;
    } catch (err) {
      this.onError(err);
      return this.fallback.retryAfter(subject);
    }
  }

  async recordFailure(subject: LoginSubject): Promise<void> {
    await this.fallback.recordFailure(subject);
    try {
      const ms = String(this.limits.window * 1000);
      await Promise.all(keysOf(subject, this.limits).map(([key]) => this.redis.eval(RECORD_SCRIPT, 1, this.prefix + key, ms)));
    } catch (err) {
      this.onError(err);
    }
  }
}
