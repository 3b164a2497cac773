/**
 * createIntrospector: RFC 7662 token introspection at Latch, with the cache of
 * cache/introspection-cache.ts in front, single-flight for concurrent requests of one token, and
 * optionally a store shared by several processes.
 */
import { createHash } from 'node:crypto';
import { Authority } from './authority.ts';
import { type CacheLimits, type CacheStats, DEFAULT_CACHE_LIMITS, type EvictBy, IntrospectionCache } from './cache/introspection-cache.ts';
import type { ClientCredentials } from './client-auth.ts';
import { type Clock, systemClock } from './clock.ts';
import { AuthorityUnavailableError } from './errors.ts';
import { formBody, isObject, request } from './http.ts';
import type { MetricsHooks } from './metrics.ts';
import { INACTIVE, type Principal, principalFromIntrospection } from './principal.ts';
import type { SharedStore } from './store.ts';
import { plausibleToken, type TokenFormat } from './token-shape.ts';

export interface IntrospectorOptions {
  /** Latch's issuer identifier, exactly as in its metadata (e.g. https://login.example.com). */
  issuer: string;
  /** The API's own client at Latch (needs `introspect_any_token` to see other clients' tokens). */
  client: ClientCredentials;
  /** Cache limits (defaults: 5 min, inactive 10 s, 100 000 entries, 64 MiB); false: no cache. */
  cache?: Partial<CacheLimits> | false;
  /** `latch` (default): only well-formed Latch access tokens reach Latch; `any`: any RFC 6750 token. */
  tokenFormat?: TokenFormat;
  /** Longer bearer tokens are refused without a call (default 4096 characters). */
  maxTokenLength?: number;
  /** Deadline of each call to Latch in ms (default 5000). */
  timeoutMs?: number;
  /** Cache entries and revocations shared by several processes (redis-store.ts). */
  store?: SharedStore;
  metrics?: MetricsHooks;
  /** Problems that do not fail a request (a shared store down); default: ignored. */
  onError?: (err: unknown) => void;
  clock?: Clock;
}

export class Introspector {
  readonly authority: Authority;
  readonly cache: IntrospectionCache;
  readonly metrics: MetricsHooks;
  private readonly inflight = new Map<string, Promise<Principal>>();
  private readonly clock: Clock;
  private readonly tokenFormat: TokenFormat;
  private readonly maxTokenLength: number;
  /** The shared store, when several processes share the cache (also their SET replay memory). */
  readonly store: SharedStore | undefined;
  private readonly onError: (err: unknown) => void;
  private readonly ready: Promise<void>;
  /** Introspection requests sent to Latch (tests, benchmarks). */
  calls = 0;

  constructor(options: IntrospectorOptions) {
    this.clock = options.clock ?? systemClock;
    this.metrics = options.metrics ?? {};
    this.authority = new Authority({ issuer: options.issuer, credentials: options.client, clock: this.clock, timeoutMs: options.timeoutMs ?? 5000 });
    const limits: CacheLimits = options.cache === false ? { ...DEFAULT_CACHE_LIMITS, ttlMs: 0 } : { ...DEFAULT_CACHE_LIMITS, ...options.cache };
    this.cache = new IntrospectionCache(limits, this.clock, (n) => this.metrics.cache?.('eviction', n));
    this.tokenFormat = options.tokenFormat ?? 'latch';
    this.maxTokenLength = options.maxTokenLength ?? 4096;
    this.store = options.store;
    this.onError = options.onError ?? (() => {});
    this.ready = this.store ? this.store.subscribe((by, value) => this.cache.revoke(by, value)).catch((err) => this.onError(err)) : Promise.resolve();
  }

  /** Resolves once the shared store's subscription is up (revocations of other processes arrive). */
  whenReady(): Promise<void> {
    return this.ready;
  }

  /**
   * The principal of a bearer token. Implausible tokens are inactive without a call. Throws
   * AuthorityUnavailableError when Latch cannot answer: never treat that as allowed.
   */
  introspect(token: string): Promise<Principal> {
    if (!plausibleToken(token, this.tokenFormat, this.maxTokenLength)) return Promise.resolve(INACTIVE);
    const key = createHash('sha256').update(token).digest('base64url');
    const cached = this.cache.get(key);
    if (cached !== undefined) {
      this.metrics.cache?.('hit', 1);
      return Promise.resolve(cached);
    }
    let pending = this.inflight.get(key);
    if (pending === undefined) {
      this.metrics.cache?.('miss', 1);
      pending = this.load(key, token).finally(() => this.inflight.delete(key));
      this.inflight.set(key, pending);
    }
    return pending;
  }

  /**
   * Applies a revocation: evicts the entries it concerns here, and through the shared store in
   * every process. Returns the number of entries evicted in this process.
   */
  async revoke(by: EvictBy, value: string): Promise<number> {
    const n = this.cache.revoke(by, value);
    if (this.store) await this.store.revoke(by, value, this.cache.limits.ttlMs).catch((err) => this.onError(err));
    return n;
  }

  stats(): CacheStats & { introspections: number } {
    return { ...this.cache.stats(), introspections: this.calls };
  }

  async close(): Promise<void> {
    await this.store?.close();
  }

  private async load(key: string, token: string): Promise<Principal> {
    if (this.store && this.cache.limits.ttlMs > 0) {
      try {
        const shared = await this.store.get(key);
        if (shared !== undefined && !this.cache.ended(shared.principal)) {
          this.metrics.cache?.('shared_hit', 1);
          this.cache.set(key, shared.principal, this.clock(), shared.ttlMs);
          return shared.principal;
        }
      } catch (err) {
        this.onError(err);
      }
    }
    const started = this.clock();
    let principal = await this.call(token, started);
    // The answer reflects Latch at some moment after `started`; a revocation received meanwhile
    // may or may not be in it. A session or token revoked is final: the answer is stale.
    if (this.cache.ended(principal)) principal = INACTIVE;
    if (principal.active && principal.exp !== undefined && principal.exp * 1000 <= this.clock()) principal = INACTIVE;
    if (!this.cache.revoked(principal)) {
      const lifetime = this.cache.lifetime(principal, started);
      this.cache.set(key, principal, started, lifetime);
      const remaining = started + lifetime - this.clock();
      if (this.store && remaining > 0) await this.store.set(key, principal, remaining).catch((err) => this.onError(err));
    }
    return principal;
  }

  private async call(token: string, started: number): Promise<Principal> {
    this.calls++;
    try {
      const url = await this.authority.endpoint('introspection_endpoint');
      const auth = await this.authority.authenticate();
      const reply = await request(url, {
        method: 'POST',
        headers: { ...auth.headers, 'content-type': 'application/x-www-form-urlencoded' },
        // RFC 7662 §2.1; the hint saves the server a lookup.
        body: formBody({ token, token_type_hint: 'access_token', ...auth.params }),
        timeoutMs: this.authority.timeoutMs,
      });
      if (reply.status !== 200 || !isObject(reply.json) || typeof reply.json.active !== 'boolean') {
        const hint = reply.status === 401 ? ' (the introspection client credentials were refused)' : '';
        throw new AuthorityUnavailableError(`introspection answered ${reply.status}${hint}`, reply.status);
      }
      const principal = principalFromIntrospection(reply.json);
      this.metrics.introspection?.(principal.active ? 'active' : 'inactive', this.clock() - started);
      return principal;
    } catch (err) {
      this.metrics.introspection?.('error', this.clock() - started);
      if (err instanceof AuthorityUnavailableError) throw err;
      throw new AuthorityUnavailableError(`introspection failed: ${(err as Error).message}`, undefined, { cause: err });
    }
  }
}

export function createIntrospector(options: IntrospectorOptions): Introspector {
  return new Introspector(options);
}
