import { mintToken, randomId } from '../crypto/random.ts';
import {
  type Client,
  type ClientMetadata,
  type ClientPolicy,
  metadataError,
  needsSecret,
  REFRESH_TOKEN_POLICIES,
  type RefreshTokenPolicy,
  validateClientMetadata,
} from '../domain/client.ts';
import type { Clock } from '../domain/clock.ts';
import { OAuthError } from '../domain/errors.ts';
import type { ListOptions, Page, Repositories, Storage } from '../storage/repositories.ts';
import { type Actor, audit } from './audit.ts';
import { urlProblem } from './outbound-targets.ts';

export const POLICY_FIELDS = ['skip_consent', 'introspect_any_token', 'access_token_ttl', 'refresh_token_policy'] as const;

export interface CreatedClient {
  client: Client;
  /** Shown exactly once, in the create (or rotate) response; only its SHA-256 is stored. */
  clientSecret?: string;
  registrationAccessToken?: string;
}

function readPolicy(input: Record<string, unknown>): ClientPolicy {
  const policy: ClientPolicy = {};
  for (const field of ['skip_consent', 'introspect_any_token'] as const) {
    const v = input[field];
    if (v !== undefined && typeof v !== 'boolean') throw new OAuthError('invalid_client_metadata', `${field}: must be a boolean`, { extra: { field } });
    if (v !== undefined) policy[field] = v;
  }
  const ttl = input.access_token_ttl;
  if (ttl !== undefined && ttl !== null && (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < 10 || ttl > 86400)) {
    throw new OAuthError('invalid_client_metadata', 'access_token_ttl: must be whole seconds between 10 and 86400, or null', {
      extra: { field: 'access_token_ttl' },
    });
  }
  if (ttl !== undefined) policy.access_token_ttl = ttl as number | null;
  const refresh = input.refresh_token_policy;
  if (refresh !== undefined && !(REFRESH_TOKEN_POLICIES as readonly unknown[]).includes(refresh)) {
    throw new OAuthError('invalid_client_metadata', `refresh_token_policy: must be one of ${REFRESH_TOKEN_POLICIES.join(', ')}`, {
      extra: { field: 'refresh_token_policy' },
    });
  }
  if (refresh !== undefined) policy.refresh_token_policy = refresh as RefreshTokenPolicy;
  return policy;
}

function withoutPolicy(input: Record<string, unknown>): Record<string, unknown> {
  const out = { ...input };
  for (const f of POLICY_FIELDS) delete out[f];
  return out;
}

/** The URLs in client metadata that Latch itself calls (through `safeFetch`, services/outbound.ts). */
const CALLED_URL_FIELDS = ['jwks_uri', 'backchannel_logout_uri'] as const;

export interface ClientServiceOptions {
  /** `outbound.allowLoopback`: whether Latch may call loopback addresses. */
  allowLoopback: boolean;
}

export class ClientService {
  private readonly changeListeners: ((clientId: string) => void)[] = [];

  constructor(
    private readonly storage: Storage,
    private readonly clock: Clock,
    private readonly options: ClientServiceOptions,
  ) {}

  /** The same service working through other repositories (those of an enclosing transaction). */
  within(storage: Storage): ClientService {
    return new ClientService(storage, this.clock, this.options);
  }

  /**
   * A URL Latch would refuse to call (a loopback address while `outbound.allowLoopback` is false, a
   * private or reserved address) is refused at registration rather than accepted and then failing
   * on every delivery. Only literal addresses and loopback names are known here; names are checked
   * again when they resolve.
   */
  private checkCalledUrls(metadata: ClientMetadata): void {
    for (const field of CALLED_URL_FIELDS) {
      const url = metadata[field];
      if (url === undefined) continue;
      const problem = urlProblem(url, this.options.allowLoopback);
      if (problem === undefined) continue;
      // Refused only because of the setting: say which one.
      const hint = this.options.allowLoopback || urlProblem(url, true) !== undefined ? '' : ' (the server setting outbound.allowLoopback is false)';
      throw metadataError(field, `Latch does not call this URL: ${problem}${hint}`);
    }
  }

  /** Called after a client is updated, deleted or gets a new secret (e.g. to drop cached credentials). */
  onChange(listener: (clientId: string) => void): void {
    this.changeListeners.push(listener);
  }

  /** A transaction that changes one client; listeners hear of it once it has settled. */
  private changing<T>(clientId: string, work: (repos: Repositories) => Promise<T>): Promise<T> {
    return this.storage.transaction(work).finally(() => {
      for (const listener of this.changeListeners) listener(clientId);
    });
  }

  /**
   * Registers a client. Admin callers may set Latch policy fields; dynamic registration may not,
   * and unknown metadata is ignored there (RFC 7591 §2) but rejected in the admin API.
   */
  async create(input: unknown, actor: Actor, options: { source: Client['source']; withRegistrationToken?: boolean }): Promise<CreatedClient> {
    const admin = options.source !== 'dynamic';
    if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new OAuthError('invalid_client_metadata', 'The body must be a JSON object.');
    const raw = input as Record<string, unknown>;
    const policy = admin ? readPolicy(raw) : {};
    const metadata = validateClientMetadata(admin ? withoutPolicy(raw) : input, { strict: admin });
    this.checkCalledUrls(metadata);
    const secret = needsSecret(metadata.token_endpoint_auth_method) ? mintToken('cs') : undefined;
    const registration = options.withRegistrationToken ? mintToken('rat') : undefined;
    const now = this.clock();
    const client = await this.storage.transaction(async (repos) => {
      const created = await repos.clients.add({
        clientId: randomId(24),
        secretHash: secret?.hash ?? null,
        metadata,
        skipConsent: policy.skip_consent ?? false,
        introspectAnyToken: policy.introspect_any_token ?? false,
        accessTokenTtl: policy.access_token_ttl ?? null,
        refreshTokenPolicy: policy.refresh_token_policy ?? 'always',
        registrationAccessTokenHash: registration?.hash ?? null,
        source: options.source,
        now,
      });
      await audit(repos.audit, actor, 'client.create', { type: 'client', id: created.clientId }, now, { client_name: metadata.client_name ?? null });
      return created;
    });
    return {
      client,
      ...(secret ? { clientSecret: secret.token } : {}),
      ...(registration ? { registrationAccessToken: registration.token } : {}),
    };
  }

  lookup(clientId: string): Promise<Client | undefined> {
    return this.storage.clients.lookup(clientId);
  }

  list(options: ListOptions & { source?: Client['source']; grantType?: string }): Promise<Page<Client>> {
    return this.storage.clients.list(options);
  }

  /**
   * PATCH semantics for the admin API (fields present replace, others stay); RFC 7592 §2.2
   * replacement semantics for dynamic clients are achieved by passing `replace: true`.
   */
  async update(
    clientId: string,
    input: unknown,
    actor: Actor,
    options: { replace?: boolean; admin: boolean } = { admin: true },
  ): Promise<CreatedClient | undefined> {
    if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new OAuthError('invalid_client_metadata', 'The body must be a JSON object.');
    const raw = input as Record<string, unknown>;
    if ('client_id' in raw || 'client_secret' in raw) {
      // RFC 7592 §2.2: client_id must match; the secret cannot be set by the caller.
      if (raw.client_id !== undefined && raw.client_id !== clientId)
        throw new OAuthError('invalid_request', 'client_id: does not match the client being updated', { extra: { field: 'client_id' } });
    }
    const body = { ...raw };
    delete body.client_id;
    delete body.client_secret;
    const now = this.clock();
    return this.changing(clientId, async (repos) => {
      const existing = await repos.clients.lookup(clientId);
      if (!existing) return undefined;
      const policy = options.admin ? readPolicy(body) : {};
      const merged: Record<string, unknown> = options.replace ? withoutPolicy(body) : { ...existing.metadata, ...withoutPolicy(body) };
      // response_types follow grant_types unless given (RFC 7591 §2.1), as when the client was created:
      // new grant types without response types derive them afresh instead of keeping the old ones.
      if (!options.replace && 'grant_types' in body && !('response_types' in body)) delete merged.response_types;
      for (const [k, v] of Object.entries(merged)) if (v === null) delete merged[k];
      const metadata: ClientMetadata = validateClientMetadata(merged, { strict: options.admin });
      this.checkCalledUrls(metadata);
      let clientSecret: string | undefined;
      let secretHash: Buffer | null | undefined;
      const hadSecret = needsSecret(existing.metadata.token_endpoint_auth_method);
      if (needsSecret(metadata.token_endpoint_auth_method) && !hadSecret) {
        const minted = mintToken('cs');
        clientSecret = minted.token;
        secretHash = minted.hash;
      } else if (!needsSecret(metadata.token_endpoint_auth_method) && hadSecret) {
        secretHash = null;
      }
      const client = await repos.clients.update(
        clientId,
        {
          metadata,
          ...(secretHash !== undefined ? { secretHash } : {}),
          ...(policy.skip_consent !== undefined ? { skipConsent: policy.skip_consent } : {}),
          ...(policy.introspect_any_token !== undefined ? { introspectAnyToken: policy.introspect_any_token } : {}),
          ...(policy.access_token_ttl !== undefined ? { accessTokenTtl: policy.access_token_ttl } : {}),
          ...(policy.refresh_token_policy !== undefined ? { refreshTokenPolicy: policy.refresh_token_policy } : {}),
        },
        now,
      );
      if (!client) return undefined;
      await audit(repos.audit, actor, 'client.update', { type: 'client', id: clientId }, now, { fields: Object.keys(body) });
      return { client, ...(clientSecret ? { clientSecret } : {}) };
    });
  }

  async remove(clientId: string, actor: Actor): Promise<boolean> {
    const now = this.clock();
    return this.changing(clientId, async (repos) => {
      const removed = await repos.clients.remove(clientId);
      if (removed) await audit(repos.audit, actor, 'client.delete', { type: 'client', id: clientId }, now);
      return removed;
    });
  }

  /** Issues a new secret; the old one stops working at once. */
  async rotateSecret(clientId: string, actor: Actor): Promise<CreatedClient | undefined> {
    const now = this.clock();
    return this.changing(clientId, async (repos) => {
      const existing = await repos.clients.lookup(clientId);
      if (!existing) return undefined;
      if (!needsSecret(existing.metadata.token_endpoint_auth_method)) {
        throw new OAuthError(
          'invalid_request',
          `token_endpoint_auth_method: a client using "${existing.metadata.token_endpoint_auth_method}" has no secret to rotate`,
          { extra: { field: 'token_endpoint_auth_method' } },
        );
      }
      const secret = mintToken('cs');
      const client = await repos.clients.update(clientId, { secretHash: secret.hash }, now);
      if (!client) return undefined;
      await audit(repos.audit, actor, 'client.rotate_secret', { type: 'client', id: clientId }, now);
      return { client, clientSecret: secret.token };
    });
  }

  /** Rotates the RFC 7592 registration access token. */
  async rotateRegistrationToken(clientId: string): Promise<string | undefined> {
    const minted = mintToken('rat');
    const client = await this.storage.clients.update(clientId, { registrationAccessTokenHash: minted.hash }, this.clock());
    return client ? minted.token : undefined;
  }
}

/** The JSON view of a client (RFC 7591 §3.2.1 names), never including secret hashes. */
export function clientView(client: Client, extra: { clientSecret?: string; registrationAccessToken?: string } = {}) {
  return {
    client_id: client.clientId,
    ...(extra.clientSecret ? { client_secret: extra.clientSecret, client_secret_expires_at: 0 } : {}),
    ...(extra.registrationAccessToken ? { registration_access_token: extra.registrationAccessToken } : {}),
    client_id_issued_at: Math.floor(client.createdAt / 1000),
    ...client.metadata,
    skip_consent: client.skipConsent,
    introspect_any_token: client.introspectAnyToken,
    access_token_ttl: client.accessTokenTtl,
    refresh_token_policy: client.refreshTokenPolicy,
    source: client.source,
  };
}
