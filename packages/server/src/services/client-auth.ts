/**
 * Client authentication at the token, introspection and revocation endpoints (RFC 6749 §2.3, §3.2.1):
 * - `client_secret_basic`: HTTP Basic with the form-urlencoded id and secret (RFC 6749 §2.3.1);
 * - `client_secret_post`: `client_id` and `client_secret` in the form body (RFC 6749 §2.3.1);
 * - `private_key_jwt`: a signed JWT assertion (RFC 7523 §2.2, §3; OIDC Core §9);
 * - `none`: a public client names itself with `client_id` (RFC 6749 §2.1; PKCE then carries the proof).
 * "The client MUST NOT use more than one authentication method in each request" (RFC 6749 §2.3), and
 * a client must use the method it registered (`token_endpoint_auth_method`, RFC 7591 §2).
 *
 * This runs on every token and introspection request, so a successful secret check is remembered
 * briefly (docs/architecture.md §8): the verified credential (the raw Authorization header, or id + secret from
 * the body) maps to the client for `cacheTtlMs` (a few seconds). The cache is dropped for a client at
 * once when this process updates, deletes or rotates it (`invalidate`); another process sharing the
 * database may accept an old secret for at most that TTL. Failures are never cached. Assertions
 * (`private_key_jwt`) are never cached: each `jti` must be recorded to detect replay.
 */
import { decodeJwt, type JWTPayload, errors as joseErrors, jwtVerify } from 'jose';
import { secretMatches } from '../crypto/random.ts';
import type { AuthMethod, Client } from '../domain/client.ts';
import type { Clock } from '../domain/clock.ts';
import { invalidRequest, OAuthError } from '../domain/errors.ts';
import type { ClientAssertionJtiRepository, ClientRepository } from '../storage/repositories.ts';
import type { ClientJwks } from './client-jwks.ts';

/** RFC 7523 §2.2 */
export const JWT_BEARER_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** Asymmetric algorithms accepted for client assertions (`client_secret_jwt`/HS* is not offered). */
export const ASSERTION_SIGNING_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;
/** An assertion may live at most this long from now ("exp … SHOULD be short", OIDC Core §9). */
export const MAX_ASSERTION_LIFETIME_S = 600;
const CLOCK_TOLERANCE_S = 5;

export interface AuthenticatedClient {
  client: Client;
  method: AuthMethod;
}

export interface ClientCredentialsInput {
  /** The Authorization header, if any. */
  authorization: string | undefined;
  /** The form parameters (client_id, client_secret, client_assertion, client_assertion_type). */
  params: { get(name: string): string | undefined };
  /** URL of the endpoint being called; accepted as an assertion `aud` besides the issuer and the token endpoint. */
  endpoint: string;
}

export interface ClientAuthDeps {
  clients: Pick<ClientRepository, 'lookup'>;
  assertionJtis: Pick<ClientAssertionJtiRepository, 'addIfAbsent'>;
  jwks: Pick<ClientJwks, 'keys'>;
  issuer: string;
  tokenEndpoint: string;
  clock: Clock;
  /** How long a verified secret is remembered, in ms (default 5000; 0 disables the cache). */
  cacheTtlMs?: number;
}

interface CacheEntry {
  client: Client;
  expiresAt: number;
}

const MAX_CACHE_ENTRIES = 10_000;

/** invalid_client with a generic public description; what exactly failed is only logged. */
const failed = (detail: string) => new OAuthError('invalid_client', 'Client authentication failed.', { detail });

/** `application/x-www-form-urlencoded` decoding of one Basic credential half (RFC 6749 §2.3.1). */
function formDecode(value: string): string {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    throw failed('Basic credentials are not form-urlencoded');
  }
}

const BASIC = /^Basic +([A-Za-z0-9+/]+={0,2}) *$/i;

/** RFC 7617 Basic credentials, each half form-urlencoded first (RFC 6749 §2.3.1). */
export function parseBasic(header: string): { clientId: string; secret: string } {
  const m = BASIC.exec(header);
  if (!m) throw failed('Authorization header is not HTTP Basic');
  const decoded = Buffer.from(m[1] as string, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw failed('Basic credentials without a colon');
  return { clientId: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)) };
}

export class ClientAuthenticator {
  private readonly cache = new Map<string, CacheEntry>();
  /** Bumped by every invalidation: a lookup that started before it must not fill the cache after it. */
  private generation = 0;
  private readonly cacheTtlMs: number;

  constructor(private readonly deps: ClientAuthDeps) {
    this.cacheTtlMs = deps.cacheTtlMs ?? 5000;
  }

  /**
   * Authenticates the calling client. `allowPublic: false` refuses `none` (introspection needs a
   * credential, RFC 7662 §2.1). Throws invalid_client (401) on failure, invalid_request when more
   * than one method is used.
   */
  async authenticate(input: ClientCredentialsInput, options: { allowPublic: boolean }): Promise<AuthenticatedClient> {
    const { authorization, params } = input;
    const bodyId = params.get('client_id');
    const secret = params.get('client_secret');
    const assertion = params.get('client_assertion');
    const assertionType = params.get('client_assertion_type');
    const usesAssertion = assertion !== undefined || assertionType !== undefined;
    if ((authorization !== undefined ? 1 : 0) + (secret !== undefined ? 1 : 0) + (usesAssertion ? 1 : 0) > 1) {
      throw invalidRequest('Use exactly one client authentication method (RFC 6749 §2.3).');
    }
    if (authorization !== undefined) return this.basic(authorization, bodyId);
    if (secret !== undefined) {
      if (bodyId === undefined) throw invalidRequest('client_id is required with client_secret.');
      return this.post(bodyId, secret);
    }
    if (usesAssertion) return this.privateKeyJwt(assertion, assertionType, bodyId, input.endpoint);
    if (bodyId !== undefined) return this.none(bodyId, options.allowPublic);
    throw new OAuthError('invalid_client', 'Client authentication is required.');
  }

  /** Forgets what is cached for a client (its secret, metadata or existence changed). */
  invalidate(clientId: string): void {
    this.generation++;
    for (const [key, entry] of this.cache) if (entry.client.clientId === clientId) this.cache.delete(key);
  }

  private async basic(header: string, bodyId: string | undefined): Promise<AuthenticatedClient> {
    const hit = this.cached(`b ${header}`);
    if (hit) {
      if (bodyId !== undefined && bodyId !== hit.clientId) throw invalidRequest('client_id in the body does not match the Authorization header.');
      return { client: hit, method: 'client_secret_basic' };
    }
    const { clientId, secret } = parseBasic(header);
    if (bodyId !== undefined && bodyId !== clientId) throw invalidRequest('client_id in the body does not match the Authorization header.');
    const client = await this.verifySecret(`b ${header}`, clientId, secret, 'client_secret_basic');
    return { client, method: 'client_secret_basic' };
  }

  private async post(clientId: string, secret: string): Promise<AuthenticatedClient> {
    const key = `p ${clientId}\n${secret}`;
    const client = this.cached(key) ?? (await this.verifySecret(key, clientId, secret, 'client_secret_post'));
    return { client, method: 'client_secret_post' };
  }

  private async none(clientId: string, allowPublic: boolean): Promise<AuthenticatedClient> {
    if (!allowPublic) throw failed(`client ${clientId} sent no credentials where they are required`);
    const key = `n ${clientId}`;
    let client = this.cached(key);
    if (!client) {
      const generation = this.generation;
      client = await this.deps.clients.lookup(clientId);
      if (!client) throw failed(`unknown client ${clientId}`);
      requireMethod(client, 'none');
      this.remember(key, client, generation);
    }
    return { client, method: 'none' };
  }

  private async verifySecret(key: string, clientId: string, secret: string, method: AuthMethod): Promise<Client> {
    const generation = this.generation;
    const client = await this.deps.clients.lookup(clientId);
    if (!client) throw failed(`unknown client ${clientId}`);
    requireMethod(client, method);
    // Constant time against the stored SHA-256 (docs/architecture.md §2).
    if (!secretMatches(secret, client.secretHash)) throw failed(`wrong secret for client ${clientId}`);
    this.remember(key, client, generation);
    return client;
  }

  /** RFC 7523 §3 and OIDC Core §9 checks, then `jti` replay (RFC 7523 §3 item 7). */
  private async privateKeyJwt(
    assertion: string | undefined,
    assertionType: string | undefined,
    bodyId: string | undefined,
    endpoint: string,
  ): Promise<AuthenticatedClient> {
    if (assertion === undefined) throw invalidRequest('client_assertion is required with client_assertion_type.');
    if (assertionType === undefined) throw invalidRequest('client_assertion_type is required with client_assertion.');
    // RFC 7521 §4.2.1: an unsupported or invalid assertion is invalid_client.
    if (assertionType !== JWT_BEARER_ASSERTION_TYPE) throw failed(`unsupported client_assertion_type ${assertionType}`);
    let unverified: JWTPayload;
    try {
      unverified = decodeJwt(assertion);
    } catch {
      throw failed('client_assertion is not a JWT');
    }
    const clientId = unverified.sub;
    if (typeof clientId !== 'string' || clientId === '') throw failed('client_assertion has no sub');
    // RFC 7521 §4.2: a client_id sent alongside must identify the same client.
    if (bodyId !== undefined && bodyId !== clientId) throw failed('client_id does not match the assertion sub');
    const client = await this.deps.clients.lookup(clientId);
    if (!client) throw failed(`unknown client ${clientId}`);
    requireMethod(client, 'private_key_jwt');

    const now = this.deps.clock();
    const registeredAlg = client.metadata.token_endpoint_auth_signing_alg;
    const verifyOptions = {
      // OIDC Core §9: iss and sub are the client_id; aud the token endpoint (the issuer is accepted too,
      // as RFC 7523 §3 allows any value identifying the authorization server).
      issuer: clientId,
      subject: clientId,
      audience: [...new Set([this.deps.issuer, this.deps.tokenEndpoint, endpoint])],
      algorithms: registeredAlg ? [registeredAlg] : [...ASSERTION_SIGNING_ALGS],
      requiredClaims: ['exp', 'jti'],
      clockTolerance: CLOCK_TOLERANCE_S,
      currentDate: new Date(now),
    };
    let payload: JWTPayload;
    try {
      payload = (await jwtVerify(assertion, await this.deps.jwks.keys(client), verifyOptions)).payload;
    } catch (err) {
      if (!(err instanceof joseErrors.JWKSNoMatchingKey)) throw assertionFailure(err);
      // The client may have rotated its keys: fetch its jwks_uri again (rate-limited there) and retry once.
      try {
        payload = (await jwtVerify(assertion, await this.deps.jwks.keys(client, { refresh: true }), verifyOptions)).payload;
      } catch (retryErr) {
        throw assertionFailure(retryErr);
      }
    }
    const exp = payload.exp as number;
    if (exp * 1000 - now > MAX_ASSERTION_LIFETIME_S * 1000) throw failed(`client_assertion expires more than ${MAX_ASSERTION_LIFETIME_S} s from now`);
    const jti = payload.jti;
    if (typeof jti !== 'string' || jti === '' || jti.length > 255) throw failed('client_assertion jti must be a string of 1-255 characters');
    // Kept until the assertion could no longer be accepted anyway (exp + tolerance).
    if (!(await this.deps.assertionJtis.addIfAbsent(clientId, jti, (exp + CLOCK_TOLERANCE_S) * 1000))) {
      throw failed(`client_assertion jti ${jti} was already used`);
    }
    return { client, method: 'private_key_jwt' };
  }

  private cached(key: string): Client | undefined {
    if (this.cacheTtlMs <= 0) return undefined;
    const entry = this.cache.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.deps.clock()) {
      this.cache.delete(key);
      return undefined;
    }
    return entry.client;
  }

  private remember(key: string, client: Client, generation: number): void {
    if (this.cacheTtlMs <= 0 || generation !== this.generation) return;
    if (this.cache.size >= MAX_CACHE_ENTRIES) this.cache.clear();
    this.cache.set(key, { client, expiresAt: this.deps.clock() + this.cacheTtlMs });
  }
}

function requireMethod(client: Client, method: AuthMethod): void {
  const registered = client.metadata.token_endpoint_auth_method;
  if (registered !== method) throw failed(`client ${client.clientId} is registered for ${registered}, not ${method}`);
}

function assertionFailure(err: unknown): OAuthError {
  if (err instanceof OAuthError) return err;
  return failed(`client_assertion rejected: ${(err as Error)?.message ?? String(err)}`);
}
