/**
 * The issuer's signing keys for verifying SETs and logout tokens. Kept for `maxAgeMs`; a token
 * whose `kid` is unknown causes one refetch (a key published since), but at most one per
 * `refetchIntervalMs`, so tokens with made-up kids cannot make us hammer Latch. Latch publishes a
 * new key well before it signs with it, so the regular refresh normally has it already.
 */
import { createLocalJWKSet, type FlattenedJWSInput, type JSONWebKeySet, type JWSHeaderParameters } from 'jose';
import type { Clock } from './clock.ts';
import { AuthorityUnavailableError } from './errors.ts';
import { isObject, request } from './http.ts';

type KeyGetter = ReturnType<typeof createLocalJWKSet>;
type Key = Awaited<ReturnType<KeyGetter>>;

export class UnknownKeyError extends Error {
  override readonly name = 'UnknownKeyError';
}

export interface JwksCacheOptions {
  uri: string;
  clock: Clock;
  timeoutMs: number;
  maxAgeMs?: number;
  refetchIntervalMs?: number;
}

export class JwksCache {
  private keys: { getter: KeyGetter; kids: Set<string>; fetchedAt: number } | undefined;
  private pending: Promise<void> | undefined;
  private lastFetch = Number.NEGATIVE_INFINITY;
  private lastUnknownKidFetch = Number.NEGATIVE_INFINITY;
  /** How many times the JWKS was fetched (tests and metrics). */
  fetches = 0;

  constructor(private readonly options: JwksCacheOptions) {}

  /** A key resolver for jose's jwtVerify. */
  readonly resolve = async (header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<Key> => {
    const now = this.options.clock();
    if (!this.keys || now - this.keys.fetchedAt > (this.options.maxAgeMs ?? 300_000)) await this.refresh();
    const known = (kid: string | undefined) => kid === undefined || (this.keys?.kids.has(kid) ?? false);
    if (!known(header.kid) && now - this.lastUnknownKidFetch >= (this.options.refetchIntervalMs ?? 10_000)) {
      this.lastUnknownKidFetch = now;
      await this.refresh();
    }
    if (!known(header.kid)) throw new UnknownKeyError(`no key with kid "${header.kid}" in ${this.options.uri}`);
    return (this.keys as { getter: KeyGetter }).getter(header, token);
  };

  private refresh(): Promise<void> {
    this.pending ??= this.fetch().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  private async fetch(): Promise<void> {
    this.lastFetch = this.options.clock();
    this.fetches++;
    const reply = await request(this.options.uri, { timeoutMs: this.options.timeoutMs });
    if (reply.status !== 200 || !isObject(reply.json) || !Array.isArray(reply.json.keys)) {
      throw new AuthorityUnavailableError(`${this.options.uri} answered ${reply.status} without a JWK set`, reply.status);
    }
    const jwks = reply.json as unknown as JSONWebKeySet;
    const kids = new Set(jwks.keys.map((k) => k.kid).filter((k): k is string => typeof k === 'string'));
    this.keys = { getter: createLocalJWKSet(jwks), kids, fetchedAt: this.lastFetch };
  }
}
