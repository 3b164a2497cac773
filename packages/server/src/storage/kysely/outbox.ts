import { type ExpressionBuilder, type Kysely, PostgresAdapter, type Selectable, sql } from 'kysely';
import type { OutboxEvent, OutboxRepository } from '../repositories.ts';
import type { Database, OutboxTable } from '../schema.ts';
import { affected } from './codec.ts';
import { after, requireCursor, toPage } from './pagination.ts';

const toEvent = (r: Selectable<OutboxTable>): OutboxEvent => ({
  id: r.id,
  kind: r.kind,
  target: r.target,
  payload: JSON.parse(r.payload),
  dedupeKey: r.dedupe_key,
  attempts: r.attempts,
  createdAt: r.created_at,
  nextAttemptAt: r.next_attempt_at,
  lockedUntil: r.locked_until,
  lockedBy: r.locked_by,
  deliveredAt: r.delivered_at,
  deadAt: r.dead_at,
  lastError: r.last_error,
});

/** Undelivered, not dead, due, and not leased by a live worker. */
const due = (now: number) => (eb: ExpressionBuilder<Database, 'outbox'>) =>
  eb.and([
    eb('delivered_at', 'is', null),
    eb('dead_at', 'is', null),
    eb('next_attempt_at', '<=', now),
    eb.or([eb('locked_until', 'is', null), eb('locked_until', '<=', now)]),
  ]);

export function outboxRepository(db: Kysely<Database>): OutboxRepository {
  const postgres = db.getExecutor().adapter instanceof PostgresAdapter;

  return {
    async enqueue(e) {
      const row = {
        kind: e.kind,
        target: e.target,
        payload: JSON.stringify(e.payload),
        dedupe_key: e.dedupeKey ?? null,
        attempts: 0,
        created_at: e.now,
        next_attempt_at: e.now,
        locked_until: null,
        locked_by: null,
        delivered_at: null,
        dead_at: null,
        last_error: null,
      };
      const inserted = await db
        .insertInto('outbox')
        .values(row)
        .onConflict((oc) => oc.column('dedupe_key').doNothing())
        .returning('id')
        .executeTakeFirst();
      return inserted && toEvent({ id: inserted.id, ...row });
    },

    async lookup(id) {
      const r = await db.selectFrom('outbox').selectAll().where('id', '=', id).executeTakeFirst();
      return r && toEvent(r);
    },

    async claimDue({ worker, now, leaseUntil, limit }) {
      const lease = { locked_until: leaseUntil, locked_by: worker, attempts: sql<number>`attempts + 1` };
      const byDueTime = (rows: Selectable<OutboxTable>[]) => rows.map(toEvent).sort((a, b) => a.nextAttemptAt - b.nextAttemptAt || a.id - b.id);
      if (!postgres) {
        // SQLite has one writer: a single UPDATE … WHERE id IN (SELECT … LIMIT n) RETURNING is atomic,
        // and the `due` guard makes a second dispatcher on the same file find nothing to take.
        const rows = await db
          .updateTable('outbox')
          .set(lease)
          .where('id', 'in', (eb) => eb.selectFrom('outbox').select('id').where(due(now)).orderBy('next_attempt_at').orderBy('id').limit(limit))
          .where(due(now))
          .returningAll()
          .execute();
        return byDueTime(rows);
      }
      const claim = async (trx: Kysely<Database>) => {
        // PostgreSQL: rows another process is claiming right now are skipped, not waited for, so N
        // dispatchers split the queue instead of queueing behind each other's locks; the lease then
        // keeps them away from the row after this transaction commits.
        const ids = (
          await trx.selectFrom('outbox').select('id').where(due(now)).orderBy('next_attempt_at').orderBy('id').limit(limit).forUpdate().skipLocked().execute()
        ).map((r) => r.id);
        if (ids.length === 0) return [];
        return byDueTime(await trx.updateTable('outbox').set(lease).where('id', 'in', ids).returningAll().execute());
      };
      return db.isTransaction ? claim(db) : db.transaction().execute(claim);
    },

    async markDelivered(id, worker, now) {
      const res = await db
        .updateTable('outbox')
        .set({ delivered_at: now, locked_until: null, locked_by: null, last_error: null })
        .where('id', '=', id)
        .where('locked_by', '=', worker)
        .where('delivered_at', 'is', null)
        .executeTakeFirst();
      return affected(res) === 1;
    },

    async markFailed(id, worker, { error, nextAttemptAt, deadAt }) {
      const res = await db
        .updateTable('outbox')
        .set({ last_error: error.slice(0, 1000), next_attempt_at: nextAttemptAt, dead_at: deadAt, locked_until: null, locked_by: null })
        .where('id', '=', id)
        .where('locked_by', '=', worker)
        .where('delivered_at', 'is', null)
        .executeTakeFirst();
      return affected(res) === 1;
    },

    async releaseLeases(worker) {
      const res = await db
        .updateTable('outbox')
        .set({ locked_until: null, locked_by: null })
        .where('locked_by', '=', worker)
        .where('delivered_at', 'is', null)
        .executeTakeFirst();
      return affected(res);
    },

    async retry(id, now) {
      const res = await db
        .updateTable('outbox')
        .set({ dead_at: null, attempts: 0, next_attempt_at: now, locked_until: null, locked_by: null })
        .where('id', '=', id)
        .where('dead_at', 'is not', null)
        .where('delivered_at', 'is', null)
        .executeTakeFirst();
      return affected(res) === 1;
    },

    async list({ limit, cursor, status, kind }) {
      const c = requireCursor(cursor);
      let q = db.selectFrom('outbox').selectAll();
      if (c) q = q.where(after('id', c));
      if (status === 'delivered') q = q.where('delivered_at', 'is not', null);
      if (status === 'dead') q = q.where('dead_at', 'is not', null);
      if (status === 'pending') q = q.where('delivered_at', 'is', null).where('dead_at', 'is', null);
      if (kind) q = q.where('kind', '=', kind);
      const rows = await q
        .orderBy('created_at')
        .orderBy('id')
        .limit(limit + 1)
        .execute();
      return toPage(rows, limit, toEvent, (r) => ({ createdAt: r.created_at, key: r.id }));
    },

    async cleanup(before) {
      return affected(await db.deleteFrom('outbox').where('delivered_at', 'is not', null).where('delivered_at', '<', before).executeTakeFirst());
    },
  };
}
