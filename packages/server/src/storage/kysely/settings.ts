import type { Kysely } from 'kysely';
import type { SettingsRepository } from '../repositories.ts';
import type { Database } from '../schema.ts';

export function settingsRepository(db: Kysely<Database>): SettingsRepository {
  return {
    async get(name) {
      const r = await db.selectFrom('settings').select('value').where('name', '=', name).executeTakeFirst();
      return r?.value;
    },
    async addIfAbsent(name, value, now) {
      const res = await db
        .insertInto('settings')
        .values({ name, value, updated_at: now })
        .onConflict((oc) => oc.column('name').doNothing())
        .executeTakeFirst();
      return Number(res.numInsertedOrUpdatedRows ?? 0) > 0;
    },
    async put(name, value, now) {
      await db
        .insertInto('settings')
        .values({ name, value, updated_at: now })
        .onConflict((oc) => oc.column('name').doUpdateSet({ value, updated_at: now }))
        .execute();
    },
  };
}
