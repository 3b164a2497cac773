import type { Kysely, Selectable } from 'kysely';
import type { NewSession, Session, SessionRepository } from '../repositories.ts';
import type { Database, SessionsTable } from '../schema.ts';
import { affected, joinScope, parseList, splitScope } from './codec.ts';
import { after, requireCursor, toPage } from './pagination.ts';

export const toSession = (r: Selectable<SessionsTable>): Session => ({
  id: r.id,
  sid: r.sid,
  userId: r.user_id,
  clientId: r.client_id,
  deviceId: r.device_id,
  browserSessionId: r.browser_session_id,
  scope: splitScope(r.scope),
  parentSid: r.parent_sid,
  authTime: r.auth_time,
  amr: parseList(r.amr),
  acr: r.acr,
  createdAt: r.created_at,
  lastActiveAt: r.last_active_at,
  finishedAt: r.finished_at,
  finishReason: r.finish_reason,
});

export function sessionRepository(db: Kysely<Database>): SessionRepository {
  return {
    async add(s: NewSession) {
      const row = {
        sid: s.sid,
        user_id: s.userId,
        client_id: s.clientId,
        device_id: s.deviceId,
        browser_session_id: s.browserSessionId,
        scope: joinScope(s.scope),
        parent_sid: s.parentSid ?? null,
        auth_time: s.authTime,
        amr: s.amr ? JSON.stringify(s.amr) : null,
        acr: s.acr,
        nonce: null,
        created_at: s.now,
        last_active_at: s.now,
        finished_at: null,
        finish_reason: null,
      };
      const { id } = await db.insertInto('sessions').values(row).returning('id').executeTakeFirstOrThrow();
      return toSession({ id, ...row });
    },
    async lookup(id) {
      const r = await db.selectFrom('sessions').selectAll().where('id', '=', id).executeTakeFirst();
      return r && toSession(r);
    },
    async findBySid(sid) {
      const r = await db.selectFrom('sessions').selectAll().where('sid', '=', sid).executeTakeFirst();
      return r && toSession(r);
    },
    async listActiveByBrowserSession(browserSessionId) {
      const rows = await db
        .selectFrom('sessions')
        .selectAll()
        .where('browser_session_id', '=', browserSessionId)
        .where('finished_at', 'is', null)
        .orderBy('id')
        .execute();
      return rows.map(toSession);
    },
    async listByUser(userId, { limit, cursor, active }) {
      const c = requireCursor(cursor);
      let q = db.selectFrom('sessions').selectAll().where('user_id', '=', userId);
      if (c) q = q.where(after('id', c));
      if (active === true) q = q.where('finished_at', 'is', null);
      if (active === false) q = q.where('finished_at', 'is not', null);
      const rows = await q
        .orderBy('created_at')
        .orderBy('id')
        .limit(limit + 1)
        .execute();
      return toPage(rows, limit, toSession, (r) => ({ createdAt: r.created_at, key: r.id }));
    },
    async finish(id, reason, now) {
      const res = await db
        .updateTable('sessions')
        .set({ finished_at: now, finish_reason: reason })
        .where('id', '=', id)
        .where('finished_at', 'is', null)
        .executeTakeFirst();
      return affected(res) === 1;
    },
    async listIdle(before, limit) {
      const rows = await db
        .selectFrom('sessions')
        .selectAll()
        .where('user_id', 'is not', null)
        .where('finished_at', 'is', null)
        .where('last_active_at', '<', before)
        .orderBy('last_active_at')
        .limit(limit)
        .execute();
      return rows.map(toSession);
    },
    async expireIdleWithoutUser(before, now) {
      const res = await db
        .updateTable('sessions')
        .set({ finished_at: now, finish_reason: 'idle_timeout' })
        .where('user_id', 'is', null)
        .where('finished_at', 'is', null)
        .where('last_active_at', '<', before)
        .executeTakeFirst();
      return affected(res);
    },
    async touch(id, now) {
      await db.updateTable('sessions').set({ last_active_at: now }).where('id', '=', id).execute();
    },
  };
}
