/**
 * Dynamic client registration (RFC 7591), client management (RFC 7592) and the initial access
 * tokens that gate registration under the `initial_access_token` policy (RFC 7591 §3).
 *
 * Choices this file makes (the RFCs leave them open):
 * - The registration access token is never rotated on read or update (RFC 7592 §3 allows either).
 *   Only its hash is stored, so responses echo the token the client presented: a lost response
 *   can never lock a client out of its own registration.
 * - Management stays available under every policy, `disabled` included: it is authenticated by a
 *   token this server issued, and a client must always be able to delete itself.
 * - Under the `open` policy an Authorization header is ignored, so no use of an initial access token is counted.
 * - RFC 7591 §5: "the authorization server SHOULD consider the possibility that the client is
 *   malicious" and "MAY limit the scopes and grant types that dynamically registered clients can
 *   use". Registration and RFC 7592 updates, under every policy, may ask only for the configured
 *   `registration.allowedScopes` and `registration.allowedGrantTypes`; asking for more is
 *   `invalid_client_metadata` naming the field (rather than a silent downgrade the client would
 *   only discover at the token endpoint). An omitted `scope` registers the whole allowed set.
 *   Admin API and CLI clients do not pass through here and are not limited.
 */
import { hashSecret, mintToken, secretMatches } from '../crypto/random.ts';
import { type Client, validateClientMetadata } from '../domain/client.ts';
import type { Clock } from '../domain/clock.ts';
import { OAuthError } from '../domain/errors.ts';
import { disallowedScopes, formatScope, parseScope } from '../domain/scope.ts';
import { checkToken } from '../domain/token-format.ts';
import type { InitialAccessToken, Repositories, Storage } from '../storage/repositories.ts';
import { type Actor, audit } from './audit.ts';
import type { ClientService, CreatedClient } from './clients.ts';

export type RegistrationPolicy = 'open' | 'initial_access_token' | 'disabled';

/** What dynamically registered clients may ask for (RFC 7591 §5). */
export interface RegistrationLimits {
  /** Scopes and `prefix*` patterns; also the registered scope when a client asks for none. */
  scopes: readonly string[];
  grantTypes: readonly string[];
}

/** Reads the limits from the space-separated config values `registration.allowedScopes` / `allowedGrantTypes`. */
export function registrationLimits(settings: { allowedScopes: string; allowedGrantTypes: string }): RegistrationLimits {
  const scopes = parseScope(settings.allowedScopes);
  if (scopes === undefined) throw new Error('registration.allowedScopes: not a scope string');
  return { scopes, grantTypes: settings.allowedGrantTypes.split(' ').filter((g) => g !== '') };
}

/** Fields the server assigns; a client echoing them back (RFC 7592 §2.2 forbids it) has them ignored. */
const SERVER_ASSIGNED = ['client_id_issued_at', 'client_secret_expires_at', 'registration_access_token', 'registration_client_uri'] as const;

export const MAX_IAT_LIFETIME = 366 * 24 * 3600;
export const MAX_IAT_USES = 1_000_000;

export interface NewInitialAccessToken {
  description?: string | null;
  /** Lifetime in seconds; absent or null: no expiry. */
  expiresIn?: number | null;
  /** Absent or null: unlimited. */
  maxUses?: number | null;
}

export type InitialAccessTokenStatus = 'active' | 'expired' | 'exhausted' | 'revoked';

export function initialAccessTokenStatus(t: InitialAccessToken, now: number): InitialAccessTokenStatus {
  if (t.revokedAt !== null) return 'revoked';
  if (t.expiresAt !== null && t.expiresAt <= now) return 'expired';
  if (t.maxUses !== null && t.uses >= t.maxUses) return 'exhausted';
  return 'active';
}

/** The JSON view of an initial access token (admin API and CLI); never its hash. */
export function initialAccessTokenView(t: InitialAccessToken, now: number, token?: string) {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    id: t.id,
    ...(token ? { initial_access_token: token } : {}),
    description: t.description,
    status: initialAccessTokenStatus(t, now),
    uses: t.uses,
    max_uses: t.maxUses,
    created_at: iso(t.createdAt),
    expires_at: iso(t.expiresAt),
    revoked_at: iso(t.revokedAt),
  };
}

const requestError = (field: string, description: string) => new OAuthError('invalid_request', `${field}: ${description}`, { extra: { field } });
const metadataError = (field: string, description: string) => new OAuthError('invalid_client_metadata', `${field}: ${description}`, { extra: { field } });

function optionalInteger(raw: Record<string, unknown>, field: string, min: number, max: number): number | null {
  const v = raw[field];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw requestError(field, `must be a whole number from ${min} to ${max}`);
  return v;
}

/** Validates the admin input for a new initial access token (wire names, strict: unknown fields are errors). */
export function readInitialAccessTokenInput(input: unknown): NewInitialAccessToken {
  if (input === undefined || input === null) return {};
  if (typeof input !== 'object' || Array.isArray(input)) throw new OAuthError('invalid_request', 'The body must be a JSON object.');
  const raw = input as Record<string, unknown>;
  for (const key of Object.keys(raw)) if (!['description', 'expires_in', 'max_uses'].includes(key)) throw requestError(key, 'unknown field');
  const description = raw.description;
  // Control characters are refused (and PostgreSQL text cannot hold NUL).
  if (
    description !== undefined &&
    description !== null &&
    (typeof description !== 'string' || description.length > 200 || /[\u0000-\u001f\u007f]/.test(description))
  ) {
    throw requestError('description', 'must be a string of at most 200 characters without control characters');
  }
  return {
    description: (description as string | null | undefined) ?? null,
    expiresIn: optionalInteger(raw, 'expires_in', 1, MAX_IAT_LIFETIME),
    maxUses: optionalInteger(raw, 'max_uses', 1, MAX_IAT_USES),
  };
}

/** A Storage whose `transaction` joins the one already open, so a service can run inside a larger unit of work. */
function joined(repos: Repositories, outer: Storage): Storage {
  return { ...repos, dialect: outer.dialect, transaction: (work) => work(repos), ping: () => outer.ping(), close: async () => {} };
}

export const registrationActor = (sourceIp: string | null): Actor => ({ name: 'dynamic-registration', sourceIp });

export class RegistrationService {
  constructor(
    private readonly deps: {
      storage: Storage;
      clients: ClientService;
      clock: Clock;
      policy: RegistrationPolicy;
      limits: RegistrationLimits;
    },
  ) {}

  get policy(): RegistrationPolicy {
    return this.deps.policy;
  }

  // ---------------------------------------------------------------------------------------------
  // RFC 7591 §3: the client registration endpoint.

  /**
   * Registers a client from RFC 7591 §2 metadata. `bearer` is the token from the Authorization
   * header, if any. Only metadata is read: Latch policy fields (skip_consent, introspect_any_token,
   * access_token_ttl) are admin-only and, like any unknown field, ignored here (RFC 7591 §2).
   */
  async register(input: unknown, bearer: string | undefined, sourceIp: string | null): Promise<CreatedClient & { registrationAccessToken: string }> {
    const { policy, storage, clock } = this.deps;
    if (policy === 'disabled') {
      throw new OAuthError('access_denied', 'Dynamic client registration is disabled on this server; ask its administrator for a client.');
    }
    const actor = registrationActor(sourceIp);
    const options = { source: 'dynamic' as const, withRegistrationToken: true };
    if (policy === 'open') return this.withToken(await this.deps.clients.create(this.limited(input), actor, options));

    // RFC 7591 §3: the endpoint is an OAuth 2.0 protected resource; the initial access token is a
    // bearer token (RFC 6750 §2.1). The checksum rejects garbage before any database read.
    if (bearer === undefined) throw new OAuthError('invalid_token', 'An initial access token is required: Authorization: Bearer <token>.');
    if (checkToken(bearer) !== 'iat') throw invalidInitialAccessToken();
    const hash = hashSecret(bearer);
    // One transaction: the guarded use (revoked, expired or used up → no row) and the new client
    // commit together, so a rejected registration (bad metadata) does not spend a use, and
    // concurrent registrations never exceed max_uses.
    const created = await storage.transaction(async (repos) => {
      if (!(await repos.initialAccessTokens.use(hash, clock()))) throw invalidInitialAccessToken();
      // Checked only once the token is valid: callers without one learn nothing about the limits.
      return this.deps.clients.within(joined(repos, storage)).create(this.limited(input), actor, options);
    });
    return this.withToken(created);
  }

  /**
   * RFC 7591 §5 limits (see the file comment). Returns the metadata to register: the input with the
   * allowed scope set filled in when `scope` is omitted or null. Malformed metadata is left to the
   * usual validation, so its errors come first and read the same as for admin clients.
   */
  private limited(input: unknown): unknown {
    if (typeof input !== 'object' || input === null || Array.isArray(input)) return input;
    const { scopes, grantTypes } = this.deps.limits;
    const body: Record<string, unknown> = { ...(input as Record<string, unknown>) };
    // RFC 7591 §2 "scope": "If omitted, an authorization server MAY register a client with a default set of scopes."
    if (body.scope === undefined || body.scope === null) body.scope = formatScope(scopes);
    const metadata = validateClientMetadata(body, { strict: false });
    const refusedGrants = metadata.grant_types.filter((g) => !grantTypes.includes(g));
    if (refusedGrants.length > 0) {
      throw metadataError(
        'grant_types',
        `${refusedGrants.map((g) => `"${g}"`).join(', ')} not allowed for dynamically registered clients on this server; allowed: ${grantTypes.join(', ') || 'none'}`,
      );
    }
    const refusedScopes = disallowedScopes(parseScope(metadata.scope) ?? [], scopes);
    if (refusedScopes.length > 0) {
      throw metadataError(
        'scope',
        `${refusedScopes.map((s) => `"${s}"`).join(', ')} not allowed for dynamically registered clients on this server; allowed: ${formatScope(scopes) || 'none'}`,
      );
    }
    return body;
  }

  private withToken(created: CreatedClient): CreatedClient & { registrationAccessToken: string } {
    if (!created.registrationAccessToken) throw new Error('registration access token was not minted');
    return created as CreatedClient & { registrationAccessToken: string };
  }

  // ---------------------------------------------------------------------------------------------
  // RFC 7592: the client configuration endpoint, authenticated by the registration access token.

  /**
   * RFC 7592 §2: the registration access token is a bearer token bound to one client. Unknown
   * client, client without a registration access token (admin/CLI clients) and wrong token all
   * give the same 401 (§2.1: "If the client does not exist on this server, the server MUST respond
   * with HTTP 401 Unauthorized"), so the endpoint does not reveal which client ids exist.
   */
  async authenticate(clientId: string, token: string): Promise<Client> {
    if (checkToken(token) !== 'rat') throw invalidRegistrationToken();
    // Client ids are printable ASCII; anything else (NUL, which PostgreSQL text cannot hold) is simply unknown.
    if (!/^[\x21-\x7e]{1,100}$/.test(clientId)) throw invalidRegistrationToken();
    const client = await this.deps.storage.clients.lookup(clientId);
    // secretMatches compares SHA-256 hashes in constant time; a null hash never matches.
    if (!client || !secretMatches(token, client.registrationAccessTokenHash)) throw invalidRegistrationToken();
    return client;
  }

  /** RFC 7592 §2.1: read the current registration. */
  read(clientId: string, token: string): Promise<Client> {
    return this.authenticate(clientId, token);
  }

  /**
   * RFC 7592 §2.2: full replacement. "Omitted fields MUST be treated as null or empty values";
   * the client_id must be present and match; a client_secret, when sent, must be the current one
   * ("The client MUST NOT be allowed to overwrite its existing client secret with its own chosen value").
   */
  async update(clientId: string, token: string, input: unknown, sourceIp: string | null): Promise<CreatedClient> {
    const client = await this.authenticate(clientId, token);
    if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new OAuthError('invalid_client_metadata', 'The body must be a JSON object.');
    const body = { ...(input as Record<string, unknown>) };
    if (body.client_id === undefined) throw metadataError('client_id', 'required: the request must carry the client_id (RFC 7592 §2.2)');
    if (body.client_id !== clientId) throw metadataError('client_id', 'does not match the client being updated (RFC 7592 §2.2)');
    if (body.client_secret !== undefined && (typeof body.client_secret !== 'string' || !secretMatches(body.client_secret, client.secretHash))) {
      throw metadataError('client_secret', 'must be the currently issued secret; a client cannot choose its own secret (RFC 7592 §2.2)');
    }
    for (const field of SERVER_ASSIGNED) delete body[field];
    // RFC 7592 §2.2 replaces the whole registration, so the RFC 7591 §5 limits apply to it as to a new one.
    const updated = await this.deps.clients.update(clientId, this.limited(body), registrationActor(sourceIp), { replace: true, admin: false });
    // Deleted between authentication and update: the same answer as an unknown client.
    if (!updated) throw invalidRegistrationToken();
    return updated;
  }

  /**
   * RFC 7592 §2.3: delete. The client row goes, and with it (foreign keys) its sessions and
   * consents, so every token issued to it stops working; its credentials and this registration
   * access token are gone too.
   */
  async remove(clientId: string, token: string, sourceIp: string | null): Promise<void> {
    await this.authenticate(clientId, token);
    if (!(await this.deps.clients.remove(clientId, registrationActor(sourceIp)))) throw invalidRegistrationToken();
  }

  // ---------------------------------------------------------------------------------------------
  // Initial access tokens (admin API and CLI). Only their SHA-256 is stored; the token is shown once.

  async createInitialAccessToken(input: NewInitialAccessToken, actor: Actor): Promise<{ token: string; record: InitialAccessToken }> {
    const { storage, clock } = this.deps;
    const minted = mintToken('iat');
    const now = clock();
    const record = await storage.transaction(async (repos) => {
      const added = await repos.initialAccessTokens.add({
        hash: minted.hash,
        description: input.description ?? null,
        createdAt: now,
        expiresAt: input.expiresIn ? now + input.expiresIn * 1000 : null,
        maxUses: input.maxUses ?? null,
      });
      await audit(repos.audit, actor, 'initial_access_token.create', { type: 'initial_access_token', id: String(added.id) }, now, {
        description: added.description,
        expires_at: added.expiresAt,
        max_uses: added.maxUses,
      });
      return added;
    });
    return { token: minted.token, record };
  }

  listInitialAccessTokens(): Promise<InitialAccessToken[]> {
    return this.deps.storage.initialAccessTokens.list();
  }

  /** Revokes at once. Returns 'revoked', 'already_revoked' (idempotent, no new audit event) or 'not_found'. */
  async revokeInitialAccessToken(id: number, actor: Actor): Promise<'revoked' | 'already_revoked' | 'not_found'> {
    const { storage, clock } = this.deps;
    const now = clock();
    return storage.transaction(async (repos) => {
      if (await repos.initialAccessTokens.revoke(id, now)) {
        await audit(repos.audit, actor, 'initial_access_token.revoke', { type: 'initial_access_token', id: String(id) }, now);
        return 'revoked';
      }
      const exists = (await repos.initialAccessTokens.list()).some((t) => t.id === id);
      return exists ? 'already_revoked' : 'not_found';
    });
  }
}

const invalidInitialAccessToken = () => new OAuthError('invalid_token', 'The initial access token is invalid, expired, revoked or used up.');
const invalidRegistrationToken = () => new OAuthError('invalid_token', 'The registration access token is invalid, or the client does not exist.');
