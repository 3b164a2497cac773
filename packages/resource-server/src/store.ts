/**
 * What several processes of one API share (see redis-store.ts for the Redis implementation): cache
 * entries with their remaining lifetime, revocations (applied to the shared entries and announced
 * to every process), and claims on SET / logout token `jti`s against replays.
 */
import type { EvictBy } from './cache/introspection-cache.ts';
import type { Principal } from './principal.ts';

export interface SharedEntry {
  principal: Principal;
  /** Remaining lifetime in ms. */
  ttlMs: number;
}

export interface SharedStore {
  get(key: string): Promise<SharedEntry | undefined>;
  set(key: string, principal: Principal, ttlMs: number): Promise<void>;
  /** Deletes the shared entries concerned, keeps a tombstone for `ttlMs`, and tells every subscriber. */
  revoke(by: EvictBy, value: string, ttlMs: number): Promise<void>;
  /** Called with revocations announced by other processes (not this one's own). */
  subscribe(listener: (by: EvictBy, value: string) => void): Promise<void>;
  /** True the first time a `jti` is claimed within `ttlMs`; false for a replay. */
  claim(jti: string, ttlMs: number): Promise<boolean>;
  release(jti: string): Promise<void>;
  close(): Promise<void>;
}

/** Replay memory: `jti`s of received SETs and logout tokens. */
export interface ReplayGuard {
  claim(jti: string, ttlMs: number): Promise<boolean>;
  release(jti: string): Promise<void>;
}

/** In-process replay memory, bounded (oldest claims forgotten first). */
export class MemoryReplayGuard implements ReplayGuard {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly clock: () => number,
    private readonly max = 100_000,
  ) {}

  async claim(jti: string, ttlMs: number): Promise<boolean> {
    const now = this.clock();
    const until = this.seen.get(jti);
    if (until !== undefined && until > now) return false;
    this.seen.delete(jti);
    this.seen.set(jti, now + ttlMs);
    if (this.seen.size > this.max) this.seen.delete(this.seen.keys().next().value as string);
    return true;
  }

  async release(jti: string): Promise<void> {
    this.seen.delete(jti);
  }
}
