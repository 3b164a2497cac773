import type { Kysely, Selectable } from 'kysely';
import type { BrowserSession, BrowserSessionRepository } from '../repositories.ts';
import type { BrowserSessionsTable, Database } from '../schema.ts';
import { affected } from './codec.ts';

const toBrowserSession = (r: Selectable<BrowserSessionsTable>): BrowserSession => ({
  id: r.id,
  userId: r.user_id,
  authenticatedAt: r.authenticated_at,
  amr: JSON.parse(r.amr),
  acr: r.acr,
  createdAt: r.created_at,
  lastActiveAt: r.last_active_at,
  expiresAt: r.expires_at,
  finishedAt: r.finished_at,
});

export function browserSessionRepository(db: Kysely<Database>): BrowserSessionRepository {
  return {
    async add(s) {
      const row = {
        cookie_hash: s.cookieHash,
        user_id: s.userId,
        authenticated_at: s.authenticatedAt,
        amr: JSON.stringify(s.amr),
        acr: s.acr,
        created_at: s.now,
        last_active_at: s.now,
        expires_at: s.expiresAt,
        finished_at: null,
      };
      const { id } = await db.insertInto('browser_sessions').values(row).returning('id').executeTakeFirstOrThrow();
      return toBrowserSession({ id, ...row });
    },
    async findByCookieHash(hash) {
      const r = await db.selectFrom('browser_sessions').selectAll().where('cookie_hash', '=', hash).executeTakeFirst();
      return r && toBrowserSession(r);
    },
    async lookup(id) {
      const r = await db.selectFrom('browser_sessions').selectAll().where('id', '=', id).executeTakeFirst();
      return r && toBrowserSession(r);
    },
    async reauthenticate(id, authenticatedAt, amr) {
      await db
        .updateTable('browser_sessions')
        .set({ authenticated_at: authenticatedAt, amr: JSON.stringify(amr) })
        .where('id', '=', id)
        .execute();
    },
    async touch(id, now) {
      await db.updateTable('browser_sessions').set({ last_active_at: now }).where('id', '=', id).execute();
    },
    async finishByUser(userId, now) {
      return affected(
        await db.updateTable('browser_sessions').set({ finished_at: now }).where('user_id', '=', userId).where('finished_at', 'is', null).executeTakeFirst(),
      );
    },
    async finish(id, now) {
      return (
        affected(
          await db.updateTable('browser_sessions').set({ finished_at: now }).where('id', '=', id).where('finished_at', 'is', null).executeTakeFirst(),
        ) === 1
      );
    },
  };
}
