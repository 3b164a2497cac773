import type { Kysely } from 'kysely';
import type { SigningKeyRecord, SigningKeyRepository } from '../repositories.ts';
import type { Database } from '../schema.ts';

export function signingKeyRepository(db: Kysely<Database>): SigningKeyRepository {
  return {
    async add(k) {
      await db
        .insertInto('signing_keys')
        .values({
          kid: k.kid,
          alg: k.alg,
          state: k.state,
          private_jwk: k.privateJwk,
          public_jwk: JSON.stringify(k.publicJwk),
          created_at: k.createdAt,
          activated_at: k.activatedAt,
          retired_at: k.retiredAt,
          remove_after: k.removeAfter,
        })
        .execute();
    },
    async list() {
      const rows = await db.selectFrom('signing_keys').selectAll().orderBy('created_at').orderBy('kid').execute();
      return rows.map(
        (r): SigningKeyRecord => ({
          kid: r.kid,
          alg: r.alg as SigningKeyRecord['alg'],
          state: r.state as SigningKeyRecord['state'],
          privateJwk: r.private_jwk,
          publicJwk: JSON.parse(r.public_jwk),
          createdAt: r.created_at,
          activatedAt: r.activated_at,
          retiredAt: r.retired_at,
          removeAfter: r.remove_after,
        }),
      );
    },
    async transition(kid, expect, to, at, removeAfter) {
      const set =
        to === 'active' ? { state: to, activated_at: at } : to === 'retired' ? { state: to, retired_at: at, remove_after: removeAfter ?? null } : { state: to };
      const res = await db.updateTable('signing_keys').set(set).where('kid', '=', kid).where('state', '=', expect).executeTakeFirst();
      return Number(res.numUpdatedRows) === 1;
    },
    async cleanup(now) {
      const res = await db
        .deleteFrom('signing_keys')
        .where('state', '=', 'retired')
        .where('remove_after', 'is not', null)
        .where('remove_after', '<=', now)
        .executeTakeFirst();
      return Number(res.numDeletedRows);
    },
  };
}
