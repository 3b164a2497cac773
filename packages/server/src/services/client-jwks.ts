/**
 * Public keys of `private_key_jwt` clients (RFC 7523, OIDC Core §9): the registered `jwks`, or the
 * document at `jwks_uri` fetched through `safeFetch` (SSRF-checked, size-capped, timed out) and cached.
 * A signature by an unknown `kid` may force one early re-fetch (the client rotated its keys), at
 * most every `minRefreshMs`, so assertions with made-up kids cannot make us hammer the client's server.
 */
import { createLocalJWKSet, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import type { Client } from '../domain/client.ts';
import type { Clock } from '../domain/clock.ts';
import { OAuthError } from '../domain/errors.ts';
import type { Outbound } from './outbound.ts';

interface Entry {
  source: string;
  fetchedAt: number;
  keys: JWTVerifyGetKey;
}

export interface ClientJwksOptions {
  /** How long a fetched jwks_uri document is used (default 5 minutes). */
  ttlMs?: number;
  /** Minimum time between forced re-fetches for one client (default 30 s). */
  minRefreshMs?: number;
  /** Largest accepted JWKS document (default 64 KiB). */
  maxBytes?: number;
}

const keysProblem = (description: string, detail: string) => new OAuthError('invalid_client', description, { detail });

export class ClientJwks {
  private readonly cache = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<Entry>>();
  private readonly ttlMs: number;
  private readonly minRefreshMs: number;
  private readonly maxBytes: number;

  constructor(
    private readonly outbound: Pick<Outbound, 'safeFetch'> | undefined,
    private readonly clock: Clock,
    options: ClientJwksOptions = {},
  ) {
    this.ttlMs = options.ttlMs ?? 5 * 60_000;
    this.minRefreshMs = options.minRefreshMs ?? 30_000;
    this.maxBytes = options.maxBytes ?? 64 * 1024;
  }

  /** The key set to verify a client's assertion with; `refresh` asks for a fresh jwks_uri document. */
  async keys(client: Client, options: { refresh?: boolean } = {}): Promise<JWTVerifyGetKey> {
    const { jwks, jwks_uri: uri } = client.metadata;
    const now = this.clock();
    if (jwks) {
      const source = `inline:${client.updatedAt}`;
      const hit = this.cache.get(client.clientId);
      if (hit?.source === source) return hit.keys;
      const entry = { source, fetchedAt: now, keys: toKeySet(jwks as JSONWebKeySet) };
      this.cache.set(client.clientId, entry);
      return entry.keys;
    }
    if (!uri) throw keysProblem('The client has no registered keys.', `client ${client.clientId} has neither jwks nor jwks_uri`);
    const hit = this.cache.get(client.clientId);
    const fresh = hit && hit.source === uri && now - hit.fetchedAt < this.ttlMs;
    const mayRefresh = !hit || hit.source !== uri || now - hit.fetchedAt >= this.minRefreshMs;
    if (hit && fresh && !(options.refresh && mayRefresh)) return hit.keys;
    const key = `${client.clientId}\n${uri}`;
    let pending = this.inflight.get(key);
    if (!pending) {
      pending = this.fetch(uri).finally(() => this.inflight.delete(key));
      this.inflight.set(key, pending);
    }
    const entry = await pending;
    this.cache.set(client.clientId, entry);
    return entry.keys;
  }

  /** Drops what is cached for a client (its registration changed). */
  invalidate(clientId: string): void {
    this.cache.delete(clientId);
  }

  private async fetch(uri: string): Promise<Entry> {
    if (!this.outbound) throw keysProblem('The client keys could not be retrieved.', 'no outbound HTTP configured');
    let document: unknown;
    try {
      const res = await this.outbound.safeFetch(uri, { headers: { accept: 'application/jwk-set+json, application/json' }, maxBytes: this.maxBytes });
      if (res.status !== 200) throw new Error(`status ${res.status}`);
      document = res.json();
    } catch (err) {
      throw keysProblem('The client keys could not be retrieved from its jwks_uri.', `jwks_uri ${uri}: ${(err as Error).message}`);
    }
    return { source: uri, fetchedAt: this.clock(), keys: toKeySet(document) };
  }
}

function toKeySet(document: unknown): JWTVerifyGetKey {
  const keys = (document as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys)) throw keysProblem('The client keys are not a JWK Set.', 'JWKS without a keys array');
  // Private parts are never accepted as client keys (a leaked private JWK is not a public key).
  const publicOnly = keys.filter((k) => typeof k === 'object' && k !== null && !('d' in k));
  try {
    return createLocalJWKSet({ keys: publicOnly } as JSONWebKeySet);
  } catch (err) {
    throw keysProblem('The client keys are not a valid JWK Set.', (err as Error).message);
  }
}
