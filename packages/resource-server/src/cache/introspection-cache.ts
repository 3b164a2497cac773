/**
 * The cache of introspection answers. Its rules, each a line below:
 * - the key is the SHA-256 of the token (computed by the caller), never the token itself;
 * - an active entry lives min(ttl, exp − now), counted from when the introspection was sent, so a
 *   resource server whose clock is behind Latch's cannot stretch it; `exp` is checked again on
 *   every hit;
 * - inactive answers live `inactiveTtlMs` (short: a token may become active only by being new, but
 *   a flood of garbage should not reach Latch);
 * - entries are bounded by count and by an approximate byte budget, least recently used first out,
 *   with hit / miss / eviction counters;
 * - `jti`, `sid` and `sub` indexes let revocation events evict exactly the entries they concern;
 * - a revocation leaves a tombstone for `ttl`, so an introspection that was in flight when the
 *   event arrived (and may carry the old answer) is answered but not cached.
 */
import type { Clock } from '../clock.ts';
import type { Principal } from '../principal.ts';

export interface CacheLimits {
  /** Longest life of an active entry, ms (default 5 min). 0 turns caching off. */
  ttlMs: number;
  /** Life of an inactive answer, ms (default 10 s). */
  inactiveTtlMs: number;
  maxEntries: number;
  /** Approximate memory budget of the entries, bytes. */
  maxBytes: number;
}

export const DEFAULT_CACHE_LIMITS: CacheLimits = { ttlMs: 300_000, inactiveTtlMs: 10_000, maxEntries: 100_000, maxBytes: 64 * 1024 * 1024 };

export type EvictBy = 'sid' | 'sub' | 'jti';

interface Entry {
  principal: Principal;
  expiresAt: number;
  bytes: number;
}

export interface CacheStats {
  entries: number;
  bytes: number;
  hits: number;
  misses: number;
  /** Entries dropped for room (LRU), by expiry, or by revocation. */
  evictions: number;
  revocations: number;
}

/** Tombstones kept at most (oldest dropped first; they only matter for `ttl` anyway). */
const MAX_TOMBSTONES = 100_000;

/** Rough cost of an entry: the map slot, the key, the frozen principal and its strings (UTF-16). */
function approximateBytes(key: string, p: Principal): number {
  if (!p.active) return 120 + key.length * 2;
  let n = 480 + key.length * 2 + p.sub.length * 2 + p.clientId.length * 2;
  for (const s of [p.sid, p.deviceId, p.deviceKey, p.jti, p.username]) n += (s?.length ?? 0) * 2;
  for (const s of p.scope) n += 64 + s.length * 2;
  for (const s of p.aud) n += 16 + s.length * 2;
  if (p.act) n += JSON.stringify(p.act).length * 2;
  return n;
}

export class IntrospectionCache {
  /** Map iteration order is insertion order: the first entry is the least recently used. */
  private readonly entries = new Map<string, Entry>();
  private readonly bySid = new Map<string, Set<string>>();
  private readonly bySub = new Map<string, Set<string>>();
  private readonly byJti = new Map<string, string>();
  private readonly tombstones = new Map<string, number>();
  private bytes = 0;
  private counters = { hits: 0, misses: 0, evictions: 0, revocations: 0 };

  constructor(
    readonly limits: CacheLimits,
    private readonly clock: Clock,
    private readonly onEvict: (count: number) => void = () => {},
  ) {}

  /** The cached answer, or undefined (a miss). An active entry past its `exp` is dropped. */
  get(key: string): Principal | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) {
      this.counters.misses++;
      return undefined;
    }
    const now = this.clock();
    const p = entry.principal;
    if (now >= entry.expiresAt || (p.active && p.exp !== undefined && now >= p.exp * 1000)) {
      this.remove(key, entry);
      this.counted(1);
      this.counters.misses++;
      return undefined;
    }
    // Move to the most recently used end.
    this.entries.delete(key);
    this.entries.set(key, entry);
    this.counters.hits++;
    return p;
  }

  /**
   * How long an answer retrieved (requested) at `retrievedAt` may be kept, in ms from `retrievedAt`;
   * 0 means not at all.
   */
  lifetime(principal: Principal, retrievedAt: number): number {
    if (this.limits.ttlMs <= 0) return 0;
    if (!principal.active) return this.limits.inactiveTtlMs;
    const untilExp = principal.exp !== undefined ? principal.exp * 1000 - retrievedAt : Number.POSITIVE_INFINITY;
    return Math.max(0, Math.min(this.limits.ttlMs, untilExp));
  }

  /** Caches an answer obtained by a request sent at `retrievedAt` for at most `lifetimeMs`. */
  set(key: string, principal: Principal, retrievedAt: number, lifetimeMs = this.lifetime(principal, retrievedAt)): void {
    const expiresAt = retrievedAt + lifetimeMs;
    if (lifetimeMs <= 0 || expiresAt <= this.clock()) return;
    if (principal.active && this.revoked(principal)) return;
    const old = this.entries.get(key);
    if (old) this.remove(key, old);
    const entry: Entry = { principal, expiresAt, bytes: approximateBytes(key, principal) };
    if (entry.bytes > this.limits.maxBytes) return;
    this.entries.set(key, entry);
    this.bytes += entry.bytes;
    if (principal.active) {
      if (principal.sid !== undefined) addTo(this.bySid, principal.sid, key);
      addTo(this.bySub, principal.sub, key);
      if (principal.jti !== undefined) this.byJti.set(principal.jti, key);
    }
    let dropped = 0;
    while (this.entries.size > this.limits.maxEntries || this.bytes > this.limits.maxBytes) {
      const first = this.entries.entries().next().value as [string, Entry];
      this.remove(first[0], first[1]);
      dropped++;
    }
    this.counted(dropped);
  }

  /**
   * Evicts every entry a revocation concerns and remembers the revocation for `ttl`. Returns the
   * number of entries evicted.
   */
  revoke(by: EvictBy, value: string): number {
    this.tombstone(`${by}:${value}`);
    const keys =
      by === 'jti' ? [this.byJti.get(value)].filter((k): k is string => k !== undefined) : [...((by === 'sid' ? this.bySid : this.bySub).get(value) ?? [])];
    let n = 0;
    for (const key of keys) {
      const entry = this.entries.get(key);
      if (entry) {
        this.remove(key, entry);
        n++;
      }
    }
    this.counters.revocations += n;
    this.counted(n);
    return n;
  }

  /**
   * Was the token's session or the token itself revoked within the last `ttl`? Then an active
   * answer is stale for certain: ended sessions and revoked tokens never come back.
   */
  ended(p: Principal): boolean {
    if (!p.active || this.tombstones.size === 0) return false;
    return (p.sid !== undefined && this.isTombstoned(`sid:${p.sid}`)) || (p.jti !== undefined && this.isTombstoned(`jti:${p.jti}`));
  }

  /**
   * `ended`, or a revocation of the user (credential change, account disabled) within the last
   * `ttl`: the answer may predate it, so it is not cached (a new session of the user is answered
   * by Latch, uncached, until then).
   */
  revoked(p: Principal): boolean {
    return p.active && this.tombstones.size > 0 && (this.ended(p) || this.isTombstoned(`sub:${p.sub}`));
  }

  clear(): void {
    const n = this.entries.size;
    this.entries.clear();
    this.bySid.clear();
    this.bySub.clear();
    this.byJti.clear();
    this.bytes = 0;
    this.counted(n);
  }

  stats(): CacheStats {
    return { entries: this.entries.size, bytes: this.bytes, ...this.counters };
  }

  private counted(n: number): void {
    if (n === 0) return;
    this.counters.evictions += n;
    this.onEvict(n);
  }

  private tombstone(name: string): void {
    this.tombstones.delete(name);
    this.tombstones.set(name, this.clock() + Math.max(this.limits.ttlMs, this.limits.inactiveTtlMs));
    if (this.tombstones.size > MAX_TOMBSTONES) this.tombstones.delete(this.tombstones.keys().next().value as string);
  }

  private isTombstoned(name: string): boolean {
    const until = this.tombstones.get(name);
    if (until === undefined) return false;
    if (until > this.clock()) return true;
    this.tombstones.delete(name);
    return false;
  }

  private remove(key: string, entry: Entry): void {
    this.entries.delete(key);
    this.bytes -= entry.bytes;
    const p = entry.principal;
    if (!p.active) return;
    if (p.sid !== undefined) removeFrom(this.bySid, p.sid, key);
    removeFrom(this.bySub, p.sub, key);
    if (p.jti !== undefined && this.byJti.get(p.jti) === key) this.byJti.delete(p.jti);
  }
}

function addTo(index: Map<string, Set<string>>, name: string, key: string): void {
  let set = index.get(name);
  if (!set) {
    set = new Set();
    index.set(name, set);
  }
  set.add(key);
}

function removeFrom(index: Map<string, Set<string>>, name: string, key: string): void {
  const set = index.get(name);
  if (!set) return;
  set.delete(key);
  if (set.size === 0) index.delete(name);
}
