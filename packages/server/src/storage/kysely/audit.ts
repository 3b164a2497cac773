import type { Kysely } from 'kysely';
import type { AuditRepository } from '../repositories.ts';
import type { Database } from '../schema.ts';
import { after, requireCursor, toPage } from './pagination.ts';

export function auditRepository(db: Kysely<Database>): AuditRepository {
  return {
    async add(e) {
      await db
        .insertInto('audit_events')
        .values({
          actor: e.actor,
          action: e.action,
          target_type: e.targetType,
          target_id: e.targetId,
          details: e.details ? JSON.stringify(e.details) : null,
          source_ip: e.sourceIp,
          created_at: e.createdAt,
        })
        .execute();
    },
    async list({ limit, cursor, targetType, targetId, action }) {
      const c = requireCursor(cursor);
      let q = db.selectFrom('audit_events').selectAll();
      if (c) q = q.where(after('id', c));
      if (targetType) q = q.where('target_type', '=', targetType);
      if (targetId) q = q.where('target_id', '=', targetId);
      if (action) q = q.where('action', '=', action);
      const rows = await q
        .orderBy('created_at')
        .orderBy('id')
        .limit(limit + 1)
        .execute();
      return toPage(
        rows,
        limit,
        (r) => ({
          id: r.id,
          actor: r.actor,
          action: r.action,
          targetType: r.target_type,
          targetId: r.target_id,
          details: r.details ? JSON.parse(r.details) : null,
          sourceIp: r.source_ip,
          createdAt: r.created_at,
        }),
        (r) => ({ createdAt: r.created_at, key: r.id }),
      );
    },
  };
}
