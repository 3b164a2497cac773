import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import type { DatabaseHandle } from './db.ts';
import { auditRepository } from './kysely/audit.ts';
import { authorizationCodeRepository } from './kysely/authorization-codes.ts';
import { browserSessionRepository } from './kysely/browser-sessions.ts';
import { clientRepository } from './kysely/clients.ts';
import { consentRepository } from './kysely/consents.ts';
import { outboxRepository } from './kysely/outbox.ts';
import { clientAssertionJtiRepository, initialAccessTokenRepository } from './kysely/registration.ts';
import { sessionRepository } from './kysely/sessions.ts';
import { settingsRepository } from './kysely/settings.ts';
import { signingKeyRepository } from './kysely/signing-keys.ts';
import { accessTokenRepository, refreshTokenRepository } from './kysely/tokens.ts';
import { userRepository } from './kysely/users.ts';
import type { Repositories, Storage } from './repositories.ts';
import type { Database } from './schema.ts';
import { withSqliteFastPaths } from './sqlite/fast-repositories.ts';

export function repositories(db: Kysely<Database>): Repositories {
  return {
    users: userRepository(db),
    clients: clientRepository(db),
    signingKeys: signingKeyRepository(db),
    audit: auditRepository(db),
    settings: settingsRepository(db),
    sessions: sessionRepository(db),
    accessTokens: accessTokenRepository(db),
    refreshTokens: refreshTokenRepository(db),
    authorizationCodes: authorizationCodeRepository(db),
    consents: consentRepository(db),
    browserSessions: browserSessionRepository(db),
    clientAssertionJtis: clientAssertionJtiRepository(db),
    initialAccessTokens: initialAccessTokenRepository(db),
    outbox: outboxRepository(db),
  };
}

export function createStorage(handle: DatabaseHandle): Storage {
  const { executor, insideDb } = handle;
  const repos = executor ? withSqliteFastPaths(repositories(handle.db), executor) : repositories(handle.db);
  // SQLite: group-committed (storage/sqlite/executor.ts), with repositories built on the batch's own
  // access to the connection. PostgreSQL: one database transaction per call.
  const insideRepos = executor && insideDb ? withSqliteFastPaths(repositories(insideDb), executor.inside) : undefined;
  return {
    ...repos,
    dialect: handle.dialect,
    transaction:
      executor && insideRepos
        ? (work) => executor.transaction(() => work(insideRepos))
        : (work) => handle.db.transaction().execute((trx) => work(repositories(trx))),
    async ping() {
      await sql`select 1`.execute(handle.db);
    },
    close: () => handle.close(),
  };
}
