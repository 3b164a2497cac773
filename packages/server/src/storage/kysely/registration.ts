import { type Kysely, sql } from 'kysely';
import type { ClientAssertionJtiRepository, InitialAccessTokenRepository } from '../repositories.ts';
import type { Database } from '../schema.ts';
import { affected } from './codec.ts';

export function clientAssertionJtiRepository(db: Kysely<Database>): ClientAssertionJtiRepository {
  return {
    async addIfAbsent(clientId, jti, expiresAt) {
      const res = await db
        .insertInto('client_assertion_jtis')
        .values({ client_id: clientId, jti, expires_at: expiresAt })
        .onConflict((oc) => oc.columns(['client_id', 'jti']).doNothing())
        .executeTakeFirst();
      return Number(res.numInsertedOrUpdatedRows ?? 0) === 1;
    },
    async cleanup(now) {
      return affected(await db.deleteFrom('client_assertion_jtis').where('expires_at', '<', now).executeTakeFirst());
    },
  };
}

export function initialAccessTokenRepository(db: Kysely<Database>): InitialAccessTokenRepository {
  return {
    async add(t) {
      const row = {
        token_hash: t.hash,
        description: t.description,
        created_at: t.createdAt,
        expires_at: t.expiresAt,
        max_uses: t.maxUses,
        uses: 0,
        revoked_at: null,
      };
      const { id } = await db.insertInto('initial_access_tokens').values(row).returning('id').executeTakeFirstOrThrow();
      return { id, description: t.description, createdAt: t.createdAt, expiresAt: t.expiresAt, maxUses: t.maxUses, uses: 0, revokedAt: null };
    },
    async use(hash, now) {
      const res = await db
        .updateTable('initial_access_tokens')
        .set({ uses: sql`uses + 1` })
        .where('token_hash', '=', hash)
        .where('revoked_at', 'is', null)
        .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
        .where((eb) => eb.or([eb('max_uses', 'is', null), eb('uses', '<', eb.ref('max_uses'))]))
        .executeTakeFirst();
      return affected(res) === 1;
    },
    async list() {
      const rows = await db.selectFrom('initial_access_tokens').selectAll().orderBy('id').execute();
      return rows.map((r) => ({
        id: r.id,
        description: r.description,
        createdAt: r.created_at,
        expiresAt: r.expires_at,
        maxUses: r.max_uses,
        uses: r.uses,
        revokedAt: r.revoked_at,
      }));
    },
    async revoke(id, now) {
      return (
        affected(
          await db.updateTable('initial_access_tokens').set({ revoked_at: now }).where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst(),
        ) === 1
      );
    },
  };
}
