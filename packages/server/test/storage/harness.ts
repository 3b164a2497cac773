/**
 * Helpers for the storage conformance suite: a migrated, empty database per backend and small
 * builders for the rows most repositories need (users, clients, sessions).
 */
import { hashSecret, newDeviceId, newSessionId, randomId } from '../../src/crypto/random.ts';
import type { ClientMetadata } from '../../src/domain/client.ts';
import { migrateToLatest, openDatabase } from '../../src/storage/db.ts';
import { createStorage } from '../../src/storage/index.ts';
import type { NewClient, NewUser, Repositories, Session, Storage } from '../../src/storage/repositories.ts';
import { type Backend, freshDatabase } from '../support/backends.ts';

export interface TestStorage {
  storage: Storage;
  /** Closes the connection and deletes the database. */
  dispose(): Promise<void>;
}

/** The repository factory under test: `createStorage(openDatabase(...))` on a fresh, migrated database. */
export async function openTestStorage(backend: Backend): Promise<TestStorage> {
  const database = await freshDatabase(backend);
  const handle = openDatabase({ url: database.url, poolSize: 4, ...(database.pgSchema ? { pgSchema: database.pgSchema } : {}) });
  await migrateToLatest(handle);
  const storage = createStorage(handle);
  return {
    storage,
    async dispose() {
      await storage.close();
      await database.drop();
    },
  };
}

/** A random 32-byte hash, as stored for tokens and secrets. */
export const randomHash = (): Buffer => hashSecret(randomId(32));

export function newUser(overrides: Partial<NewUser> = {}): NewUser {
  return {
    id: randomId(22),
    username: `user-${randomId(10)}`,
    passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA',
    email: null,
    emailVerified: false,
    name: null,
    now: 1_700_000_000_000,
    ...overrides,
  };
}

export const webMetadata = (overrides: Partial<ClientMetadata> = {}): ClientMetadata => ({
  redirect_uris: ['https://app.example.com/callback'],
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic',
  application_type: 'web',
  client_name: 'Example app',
  scope: 'openid profile',
  ...overrides,
});

export function newClient(overrides: Partial<NewClient> = {}): NewClient {
  return {
    clientId: randomId(24),
    secretHash: randomHash(),
    metadata: webMetadata(),
    skipConsent: false,
    introspectAnyToken: false,
    accessTokenTtl: null,
    registrationAccessTokenHash: null,
    source: 'admin',
    now: 1_700_000_000_000,
    ...overrides,
  };
}

/** A user, a client and an active session between them. */
export async function seedSession(
  repos: Repositories,
  options: { now?: number; browserSessionId?: number | null; userId?: string | null; clientId?: string } = {},
): Promise<{ userId: string | null; clientId: string; session: Session }> {
  const now = options.now ?? 1_700_000_000_000;
  const userId = options.userId !== undefined ? options.userId : (await repos.users.add(newUser({ now }))).id;
  const clientId = options.clientId ?? (await repos.clients.add(newClient({ now }))).clientId;
  const session = await repos.sessions.add({
    sid: newSessionId(now),
    userId,
    clientId,
    deviceId: newDeviceId(),
    browserSessionId: options.browserSessionId ?? null,
    scope: ['openid', 'profile'],
    authTime: userId ? now : null,
    amr: userId ? ['pwd'] : null,
    acr: null,
    now,
  });
  return { userId, clientId, session };
}

/** Collects every item of a paged list by following `nextCursor`. */
export async function collectPages<T>(
  fetchPage: (cursor: string | undefined) => Promise<{ items: T[]; nextCursor?: string }>,
): Promise<{ items: T[]; pages: number }> {
  const items: T[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await fetchPage(cursor);
    pages++;
    items.push(...page.items);
    cursor = page.nextCursor;
    if (pages > 1000) throw new Error('pagination does not terminate');
  } while (cursor);
  return { items, pages };
}
