/**
 * Repository interfaces (DESIGN.md §2, STYLE.md): services see only these. Repositories return
 * `undefined` for "not found" and never throw for it. Verbs: lookup, findBy…, add, update,
 * consume, revoke, finish, cleanup. Everything is camelCase; wire names stay at the HTTP edge.
 */
import type { Client, ClientMetadata } from '../domain/client.ts';
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

/** Repositories of the foundation. Later issues add sessions, tokens, codes, consents, outbox. */
export interface Repositories {
  users: UserRepository;
  clients: ClientRepository;
  signingKeys: SigningKeyRepository;
  audit: AuditRepository;
  settings: SettingsRepository;
}

/** Storage: the repositories, plus a way to run several of them in one transaction. */
export interface Storage extends Repositories {
  readonly dialect: 'sqlite' | 'postgres';
  transaction<T>(work: (repos: Repositories) => Promise<T>): Promise<T>;
  /** Cheap round trip used by /health/ready. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
