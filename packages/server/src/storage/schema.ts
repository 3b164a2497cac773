/**
 * Kysely table types: one schema for SQLite and PostgreSQL. Times are UTC milliseconds (bigint),
 * booleans are 0/1 integers, JSON is text, hashes are 32-byte blobs (bytea on PostgreSQL).
 * Hot tables use integer row ids and a single random index (the token hash), see docs/architecture.md §8.
 */
import type { Generated } from 'kysely';

export interface UsersTable {
  id: string;
  username: string;
  username_normalized: string;
  password_hash: string | null;
  email: string | null;
  email_verified: number;
  name: string | null;
  created_at: number;
  updated_at: number;
  password_changed_at: number | null;
  deactivated_at: number | null;
}

export interface ClientsTable {
  client_id: string;
  secret_hash: Buffer | null;
  /** RFC 7591 metadata as JSON (snake_case wire names). */
  metadata: string;
  client_name: string | null;
  token_endpoint_auth_method: string;
  skip_consent: number;
  introspect_any: number;
  access_token_ttl: number | null;
  /** 'always' | 'offline_access' | 'never'; null means 'always'. */
  refresh_token_policy: string | null;
  registration_access_token_hash: Buffer | null;
  source: string;
  created_at: number;
  updated_at: number;
  secret_rotated_at: number | null;
}

export interface SigningKeysTable {
  kid: string;
  alg: string;
  state: string;
  private_jwk: string;
  public_jwk: string;
  created_at: number;
  activated_at: number | null;
  retired_at: number | null;
  /** When a retired key may leave the JWKS: every token it signed has expired by then. */
  remove_after: number | null;
}

export interface SettingsTable {
  name: string;
  value: string;
  updated_at: number;
}

export interface AuditEventsTable {
  id: Generated<number>;
  actor: string;
  action: string;
  target_type: string;
  target_id: string | null;
  details: string | null;
  source_ip: string | null;
  created_at: number;
}

export interface BrowserSessionsTable {
  id: Generated<number>;
  cookie_hash: Buffer;
  user_id: string;
  authenticated_at: number;
  amr: string;
  acr: string | null;
  created_at: number;
  last_active_at: number;
  expires_at: number;
  finished_at: number | null;
}

export interface SessionsTable {
  id: Generated<number>;
  /** Public session id (`sid`), derived from the row id. */
  sid: string;
  user_id: string | null;
  client_id: string;
  device_id: string;
  browser_session_id: number | null;
  scope: string;
  parent_sid: string | null;
  auth_time: number | null;
  amr: string | null;
  acr: string | null;
  nonce: string | null;
  created_at: number;
  last_active_at: number;
  finished_at: number | null;
  finish_reason: string | null;
}

export interface AccessTokensTable {
  id: Generated<number>;
  token_hash: Buffer;
  session_id: number;
  client_id: string;
  scope: string;
  created_at: number;
  expires_at: number;
  revoked_at: number | null;
}

export interface RefreshTokensTable {
  id: Generated<number>;
  token_hash: Buffer;
  session_id: number;
  access_token_id: number | null;
  scope: string;
  created_at: number;
  expires_at: number;
  consumed_at: number | null;
  successor_id: number | null;
  revoked_at: number | null;
}

export interface AuthorizationCodesTable {
  id: Generated<number>;
  code_hash: Buffer;
  client_id: string;
  user_id: string;
  browser_session_id: number | null;
  redirect_uri: string;
  /** Whether redirect_uri was present in the authorization request (RFC 6749 §4.1.3). */
  redirect_uri_sent: number;
  scope: string;
  code_challenge: string | null;
  code_challenge_method: string | null;
  nonce: string | null;
  auth_time: number;
  amr: string | null;
  acr: string | null;
  created_at: number;
  expires_at: number;
  consumed_at: number | null;
  /** The session created when the code was redeemed, so a second redemption can revoke it (RFC 6749 §4.1.2). */
  session_id: number | null;
}

export interface ConsentsTable {
  user_id: string;
  client_id: string;
  scope: string;
  created_at: number;
  updated_at: number;
}

export interface ClientAssertionJtisTable {
  client_id: string;
  jti: string;
  expires_at: number;
}

export interface InitialAccessTokensTable {
  id: Generated<number>;
  token_hash: Buffer;
  description: string | null;
  created_at: number;
  expires_at: number | null;
  max_uses: number | null;
  uses: number;
  revoked_at: number | null;
}

export interface OutboxTable {
  id: Generated<number>;
  kind: string;
  target: string;
  payload: string;
  dedupe_key: string | null;
  attempts: number;
  created_at: number;
  next_attempt_at: number;
  locked_until: number | null;
  locked_by: string | null;
  delivered_at: number | null;
  dead_at: number | null;
  last_error: string | null;
}

export interface Database {
  users: UsersTable;
  clients: ClientsTable;
  signing_keys: SigningKeysTable;
  settings: SettingsTable;
  audit_events: AuditEventsTable;
  browser_sessions: BrowserSessionsTable;
  sessions: SessionsTable;
  access_tokens: AccessTokensTable;
  refresh_tokens: RefreshTokensTable;
  authorization_codes: AuthorizationCodesTable;
  consents: ConsentsTable;
  client_assertion_jtis: ClientAssertionJtisTable;
  initial_access_tokens: InitialAccessTokensTable;
  outbox: OutboxTable;
}
