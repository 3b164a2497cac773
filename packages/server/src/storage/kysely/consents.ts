import type { Kysely, Selectable } from 'kysely';
import type { Consent, ConsentRepository } from '../repositories.ts';
import type { ConsentsTable, Database } from '../schema.ts';
import { affected, joinScope, splitScope } from './codec.ts';

const toConsent = (r: Selectable<ConsentsTable>): Consent => ({
  userId: r.user_id,
  clientId: r.client_id,
  scope: splitScope(r.scope),
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export function consentRepository(db: Kysely<Database>): ConsentRepository {
  const lookup = async (userId: string, clientId: string) => {
    const r = await db.selectFrom('consents').selectAll().where('user_id', '=', userId).where('client_id', '=', clientId).executeTakeFirst();
    return r && toConsent(r);
  };
  return {
    lookup,
    async grant(userId, clientId, scope, now) {
      const existing = await lookup(userId, clientId);
      const merged = [...new Set([...(existing?.scope ?? []), ...scope])];
      await db
        .insertInto('consents')
        .values({ user_id: userId, client_id: clientId, scope: joinScope(merged), created_at: now, updated_at: now })
        .onConflict((oc) => oc.columns(['user_id', 'client_id']).doUpdateSet({ scope: joinScope(merged), updated_at: now }))
        .execute();
      return { userId, clientId, scope: merged, createdAt: existing?.createdAt ?? now, updatedAt: now };
    },
    async revoke(userId, clientId) {
      return affected(await db.deleteFrom('consents').where('user_id', '=', userId).where('client_id', '=', clientId).executeTakeFirst()) === 1;
    },
    async listByUser(userId) {
      return (await db.selectFrom('consents').selectAll().where('user_id', '=', userId).orderBy('client_id').execute()).map(toConsent);
    },
  };
}
