/**
 * Repository interfaces (docs/architecture.md §2, §9): services see only these. Repositories return
 * `undefined` for "not found" and never throw for it. Verbs: lookup, findBy…, add, update,
 * consume, revoke, finish, cleanup. Everything is camelCase; wire names stay at the HTTP edge.
 */
import type { Client, ClientMetadata, RefreshTokenPolicy } from '../domain/client.ts';
import type { FinishReason } from '../domain/session-end.ts';
import type { User } from '../domain/user.ts';

export interface Page<T> {
  items: T[];
  /** Opaque cursor for the next page, absent on the last page. */
  nextCursor?: string;
}

export interface ListOptions {
  limit: number;
  cursor?: string | undefined;
}

export interface NewUser {
  id: string;
  username: string;
  passwordHash: string | null;
  email: string | null;
  emailVerified: boolean;
  name: string | null;
  now: number;
}

export interface UserChanges {
  username?: string;
  email?: string | null;
  emailVerified?: boolean;
  name?: string | null;
  passwordHash?: string;
  deactivatedAt?: number | null;
}

export interface UserRepository {
  add(user: NewUser): Promise<User>;
  lookup(id: string): Promise<User | undefined>;
  findByUsername(username: string): Promise<User | undefined>;
  list(options: ListOptions & { query?: string | undefined; active?: boolean | undefined }): Promise<Page<User>>;
  update(id: string, changes: UserChanges, now: number): Promise<User | undefined>;
  remove(id: string): Promise<boolean>;
}

export interface NewClient {
  clientId: string;
  secretHash: Buffer | null;
  metadata: ClientMetadata;
  skipConsent: boolean;
  introspectAnyToken: boolean;
  accessTokenTtl: number | null;
  /** Defaults to 'always'. */
  refreshTokenPolicy?: RefreshTokenPolicy;
  registrationAccessTokenHash: Buffer | null;
  source: Client['source'];
  now: number;
}

export interface ClientChanges {
  metadata?: ClientMetadata;
  secretHash?: Buffer | null;
  skipConsent?: boolean;
  introspectAnyToken?: boolean;
  accessTokenTtl?: number | null;
  refreshTokenPolicy?: RefreshTokenPolicy;
  registrationAccessTokenHash?: Buffer | null;
}

export interface ClientRepository {
  add(client: NewClient): Promise<Client>;
  lookup(clientId: string): Promise<Client | undefined>;
  list(options: ListOptions & { source?: Client['source'] | undefined; grantType?: string | undefined }): Promise<Page<Client>>;
  update(clientId: string, changes: ClientChanges, now: number): Promise<Client | undefined>;
  remove(clientId: string): Promise<boolean>;
}

export type KeyState = 'next' | 'active' | 'retired';
export interface SigningKeyRecord {
  kid: string;
  alg: 'RS256' | 'ES256';
  state: KeyState;
  /** Serialized private JWK, possibly encrypted (see crypto/keys.ts). */
  privateJwk: string;
  publicJwk: Record<string, unknown>;
  createdAt: number;
  activatedAt: number | null;
  retiredAt: number | null;
  removeAfter: number | null;
}

export interface SigningKeyRepository {
  add(key: SigningKeyRecord): Promise<void>;
  list(): Promise<SigningKeyRecord[]>;
  /** Moves a key to a new state; `expect` guards against concurrent transitions. Returns false when the guard failed. */
  transition(kid: string, expect: KeyState, to: KeyState, at: number, removeAfter?: number | null): Promise<boolean>;
  /** Deletes retired keys whose removeAfter has passed. */
  cleanup(now: number): Promise<number>;
}

export interface AuditEvent {
  id: number;
  actor: string;
  action: string;
  targetType: string;
  targetId: string | null;
  details: Record<string, unknown> | null;
  sourceIp: string | null;
  createdAt: number;
}

export interface AuditRepository {
  add(event: Omit<AuditEvent, 'id'>): Promise<void>;
  list(options: ListOptions & { targetType?: string | undefined; targetId?: string | undefined; action?: string | undefined }): Promise<Page<AuditEvent>>;
}

export interface SettingsRepository {
  get(name: string): Promise<string | undefined>;
  /** Inserts when absent; returns false (and changes nothing) when the name already exists. */
  addIfAbsent(name: string, value: string, now: number): Promise<boolean>;
  put(name: string, value: string, now: number): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// OAuth core. Sessions are devices (docs/architecture.md §2): a session outlives many access tokens.

export interface Session {
  id: number;
  /** Public session id: `sid` in ID tokens, logout tokens and introspection. */
  sid: string;
  userId: string | null;
  clientId: string;
  /** Stable for the session's whole life, across refreshes. */
  deviceId: string;
  browserSessionId: number | null;
  scope: string[];
  parentSid: string | null;
  authTime: number | null;
  amr: string[] | null;
  acr: string | null;
  createdAt: number;
  lastActiveAt: number;
  finishedAt: number | null;
  finishReason: string | null;
}

export interface NewSession {
  /** From crypto/random.ts `newSessionId()`: time-ordered, so its index grows at one edge. */
  sid: string;
  userId: string | null;
  clientId: string;
  deviceId: string;
  browserSessionId: number | null;
  scope: string[];
  parentSid?: string | null;
  authTime: number | null;
  amr: string[] | null;
  acr: string | null;
  now: number;
}

/** Why a session ended: the names and their words live in domain/session-end.ts. */
export type { FinishReason } from '../domain/session-end.ts';

export interface SessionRepository {
  add(session: NewSession): Promise<Session>;
  lookup(id: number): Promise<Session | undefined>;
  findBySid(sid: string): Promise<Session | undefined>;
  /** Active (unfinished) sessions started from one browser (SSO) session, for logout. */
  listActiveByBrowserSession(browserSessionId: number): Promise<Session[]>;
  listByUser(userId: string, options: ListOptions & { active?: boolean | undefined }): Promise<Page<Session>>;
  /** Guarded: only an unfinished session finishes; returns false when it was already finished. */
  finish(id: number, reason: FinishReason, now: number): Promise<boolean>;
  touch(id: number, now: number): Promise<void>;
  /** Unfinished sessions of users last active before `before`, oldest first (expiry by policy). */
  listIdle(before: number, limit: number): Promise<Session[]>;
  /** Finishes unfinished sessions without a user (client_credentials) last active before `before`. */
  expireIdleWithoutUser(before: number, now: number): Promise<number>;
}

export interface AccessTokenRecord {
  id: number;
  sessionId: number;
  clientId: string;
  scope: string[];
  createdAt: number;
  expiresAt: number;
  revokedAt: number | null;
}

/** What introspection needs, read in one point query (token joined with its session and user). */
export interface AccessTokenView extends AccessTokenRecord {
  sid: string;
  deviceId: string;
  userId: string | null;
  username: string | null;
  userDeactivatedAt: number | null;
  sessionFinishedAt: number | null;
}

export interface AccessTokenRepository {
  add(token: { hash: Buffer; sessionId: number; clientId: string; scope: string[]; createdAt: number; expiresAt: number }): Promise<AccessTokenRecord>;
  findByHash(hash: Buffer): Promise<AccessTokenView | undefined>;
  revoke(id: number, now: number): Promise<boolean>;
  revokeBySession(sessionId: number, now: number): Promise<number>;
  /** Deletes tokens expired before `before`. */
  cleanup(before: number): Promise<number>;
}

export interface RefreshTokenRecord {
  id: number;
  sessionId: number;
  accessTokenId: number | null;
  scope: string[];
  createdAt: number;
  expiresAt: number;
  consumedAt: number | null;
  successorId: number | null;
  revokedAt: number | null;
}

export interface RefreshTokenRepository {
  add(token: {
    hash: Buffer;
    sessionId: number;
    accessTokenId: number | null;
    scope: string[];
    createdAt: number;
    expiresAt: number;
  }): Promise<RefreshTokenRecord>;
  findByHash(hash: Buffer): Promise<RefreshTokenRecord | undefined>;
  lookup(id: number): Promise<RefreshTokenRecord | undefined>;
  /** Guarded consume (`WHERE consumed_at IS NULL AND revoked_at IS NULL`, docs/architecture.md §3): false when another request won. */
  consume(id: number, successorId: number, now: number): Promise<boolean>;
  /**
   * Lost-response retry (docs/architecture.md §3): points a consumed token at a new successor, guarded by the
   * successor it had (`WHERE successor_id = expected`); false when another request changed it first.
   */
  replaceSuccessor(id: number, expectedSuccessorId: number, successorId: number): Promise<boolean>;
  revoke(id: number, now: number): Promise<boolean>;
  /** Revokes a token only while it is unused (`WHERE consumed_at IS NULL AND revoked_at IS NULL`); false otherwise. */
  revokeUnused(id: number, now: number): Promise<boolean>;
  revokeBySession(sessionId: number, now: number): Promise<number>;
  cleanup(before: number): Promise<number>;
}

export interface AuthorizationCodeRecord {
  id: number;
  clientId: string;
  userId: string;
  browserSessionId: number | null;
  redirectUri: string;
  /** Whether redirect_uri was in the authorization request (RFC 6749 §4.1.3 then requires it at the token endpoint). */
  redirectUriSent: boolean;
  scope: string[];
  codeChallenge: string | null;
  codeChallengeMethod: string | null;
  nonce: string | null;
  authTime: number;
  amr: string[] | null;
  acr: string | null;
  createdAt: number;
  expiresAt: number;
  consumedAt: number | null;
  sessionId: number | null;
}

export interface AuthorizationCodeRepository {
  add(code: Omit<AuthorizationCodeRecord, 'id' | 'consumedAt' | 'sessionId'> & { hash: Buffer }): Promise<AuthorizationCodeRecord>;
  findByHash(hash: Buffer): Promise<AuthorizationCodeRecord | undefined>;
  /** Guarded single use: false when the code was already redeemed (RFC 6749 §4.1.2). */
  consume(id: number, sessionId: number, now: number): Promise<boolean>;
  cleanup(before: number): Promise<number>;
}

export interface Consent {
  userId: string;
  clientId: string;
  scope: string[];
  createdAt: number;
  updatedAt: number;
}

export interface ConsentRepository {
  lookup(userId: string, clientId: string): Promise<Consent | undefined>;
  /** Records consent; the stored set becomes the union of the old and new scopes. */
  grant(userId: string, clientId: string, scope: string[], now: number): Promise<Consent>;
  revoke(userId: string, clientId: string): Promise<boolean>;
  listByUser(userId: string): Promise<Consent[]>;
}

export interface BrowserSession {
  id: number;
  userId: string;
  authenticatedAt: number;
  amr: string[];
  acr: string | null;
  createdAt: number;
  lastActiveAt: number;
  expiresAt: number;
  finishedAt: number | null;
}

export interface BrowserSessionRepository {
  add(session: {
    cookieHash: Buffer;
    userId: string;
    authenticatedAt: number;
    amr: string[];
    acr: string | null;
    now: number;
    expiresAt: number;
  }): Promise<BrowserSession>;
  findByCookieHash(hash: Buffer): Promise<BrowserSession | undefined>;
  lookup(id: number): Promise<BrowserSession | undefined>;
  /** Re-authentication in the same browser session (prompt=login, max_age). */
  reauthenticate(id: number, authenticatedAt: number, amr: string[]): Promise<void>;
  touch(id: number, now: number): Promise<void>;
  finish(id: number, now: number): Promise<boolean>;
  /** Finishes every open browser session of a user; returns how many. */
  finishByUser(userId: string, now: number): Promise<number>;
}

export interface ClientAssertionJtiRepository {
  /** Records a private_key_jwt `jti`; false when it was seen before (replay, RFC 7523 §3 item 7). */
  addIfAbsent(clientId: string, jti: string, expiresAt: number): Promise<boolean>;
  cleanup(now: number): Promise<number>;
}

export interface InitialAccessToken {
  id: number;
  description: string | null;
  createdAt: number;
  expiresAt: number | null;
  maxUses: number | null;
  uses: number;
  revokedAt: number | null;
}

export interface InitialAccessTokenRepository {
  add(token: { hash: Buffer; description: string | null; createdAt: number; expiresAt: number | null; maxUses: number | null }): Promise<InitialAccessToken>;
  /** Guarded use: increments `uses` only when the token is valid and below max_uses; false otherwise. */
  use(hash: Buffer, now: number): Promise<boolean>;
  list(): Promise<InitialAccessToken[]>;
  revoke(id: number, now: number): Promise<boolean>;
}

// ---------------------------------------------------------------------------------------------
// Events out (docs/architecture.md §4): one outbox, written in the same transaction as the state change.

export type OutboxStatus = 'pending' | 'delivered' | 'dead';

export interface OutboxEvent {
  id: number;
  /** What the payload is, e.g. `oidc.backchannel_logout`; the dispatcher renders it by kind. */
  kind: string;
  /** Where it goes (an absolute URL). */
  target: string;
  /** Kind-specific JSON document (never a secret: tokens are signed at delivery time). */
  payload: Record<string, unknown>;
  /** Unique when set: enqueueing the same key twice keeps the first event. */
  dedupeKey: string | null;
  attempts: number;
  createdAt: number;
  nextAttemptAt: number;
  lockedUntil: number | null;
  lockedBy: string | null;
  deliveredAt: number | null;
  deadAt: number | null;
  lastError: string | null;
}

export interface NewOutboxEvent {
  kind: string;
  target: string;
  payload: Record<string, unknown>;
  dedupeKey?: string | null;
  now: number;
}

export interface OutboxRepository {
  /** Enqueues in the caller's transaction; returns undefined when `dedupeKey` already exists. */
  enqueue(event: NewOutboxEvent): Promise<OutboxEvent | undefined>;
  lookup(id: number): Promise<OutboxEvent | undefined>;
  /**
   * Leases up to `limit` due events to `worker` until `leaseUntil` and counts the attempt. Each due
   * event goes to exactly one caller (PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite: guarded update).
   */
  claimDue(options: { worker: string; now: number; leaseUntil: number; limit: number }): Promise<OutboxEvent[]>;
  /** Guarded by the lease holder; false when the lease was lost. */
  markDelivered(id: number, worker: string, now: number): Promise<boolean>;
  /** Records a failed attempt: schedules the next one, or dead-letters when `deadAt` is set. */
  markFailed(id: number, worker: string, failure: { error: string; nextAttemptAt: number; deadAt: number | null }): Promise<boolean>;
  /** Drops this worker's leases on undelivered events (graceful stop), so another process takes them at once. */
  releaseLeases(worker: string): Promise<number>;
  /** Puts a dead event back in the queue with a fresh attempt budget; false unless it was dead. */
  retry(id: number, now: number): Promise<boolean>;
  list(options: ListOptions & { status?: OutboxStatus | undefined; kind?: string | undefined }): Promise<Page<OutboxEvent>>;
  /** Deletes events delivered before `before`. */
  cleanup(before: number): Promise<number>;
}

/** Every repository. Later issues add theirs (outbox, uia sessions, device codes). */
export interface Repositories {
  users: UserRepository;
  clients: ClientRepository;
  signingKeys: SigningKeyRepository;
  audit: AuditRepository;
  settings: SettingsRepository;
  sessions: SessionRepository;
  accessTokens: AccessTokenRepository;
  refreshTokens: RefreshTokenRepository;
  authorizationCodes: AuthorizationCodeRepository;
  consents: ConsentRepository;
  browserSessions: BrowserSessionRepository;
  clientAssertionJtis: ClientAssertionJtiRepository;
  initialAccessTokens: InitialAccessTokenRepository;
  outbox: OutboxRepository;
}

/** Storage: the repositories, plus a way to run several of them in one transaction. */
export interface Storage extends Repositories {
  readonly dialect: 'sqlite' | 'postgres';
  transaction<T>(work: (repos: Repositories) => Promise<T>): Promise<T>;
  /** Cheap round trip used by /health/ready. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
