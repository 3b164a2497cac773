import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import type { DatabaseHandle } from './db.ts';
import { auditRepository } from './kysely/audit.ts';
import { clientRepository } from './kysely/clients.ts';
import { settingsRepository } from './kysely/settings.ts';
import { signingKeyRepository } from './kysely/signing-keys.ts';
import { userRepository } from './kysely/users.ts';
import type { Repositories, Storage } from './repositories.ts';
import type { Database } from './schema.ts';

export function repositories(db: Kysely<Database>): Repositories {
  return {
    users: userRepository(db),
    clients: clientRepository(db),
    signingKeys: signingKeyRepository(db),
    audit: auditRepository(db),
    settings: settingsRepository(db),
  };
}

export function createStorage(handle: DatabaseHandle): Storage {
  return {
    ...repositories(handle.db),
    dialect: handle.dialect,
    transaction: (work) => handle.db.transaction().execute((trx) => work(repositories(trx))),
    async ping() {
      await sql`select 1`.execute(handle.db);
    },
    close: () => handle.close(),
  };
}
