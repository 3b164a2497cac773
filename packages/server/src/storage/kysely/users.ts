import { type Kysely, type Selectable, type SqlBool, sql } from 'kysely';
import { normalizeUsername, type User } from '../../domain/user.ts';
import type { NewUser, UserRepository } from '../repositories.ts';
import type { Database, UsersTable } from '../schema.ts';
import { after, requireCursor, toPage } from './pagination.ts';

export const toUser = (r: Selectable<UsersTable>): User => ({
  id: r.id,
  username: r.username,
  email: r.email,
  emailVerified: r.email_verified === 1,
  name: r.name,
  passwordHash: r.password_hash,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  passwordChangedAt: r.password_changed_at,
  deactivatedAt: r.deactivated_at,
});

export function userRepository(db: Kysely<Database>): UserRepository {
  return {
    async add(u: NewUser) {
      const row = {
        id: u.id,
        username: u.username,
        username_normalized: normalizeUsername(u.username),
        password_hash: u.passwordHash,
        email: u.email,
        email_verified: u.emailVerified ? 1 : 0,
        name: u.name,
        created_at: u.now,
        updated_at: u.now,
        password_changed_at: u.passwordHash ? u.now : null,
        deactivated_at: null,
      };
      await db.insertInto('users').values(row).execute();
      return toUser(row);
    },
    async lookup(id) {
      const r = await db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
      return r && toUser(r);
    },
    async findByUsername(username) {
      const r = await db.selectFrom('users').selectAll().where('username_normalized', '=', normalizeUsername(username)).executeTakeFirst();
      return r && toUser(r);
    },
    async list({ limit, cursor, query, active }) {
      const c = requireCursor(cursor);
      let q = db.selectFrom('users').selectAll();
      if (c) q = q.where(after('id', c));
      if (query) {
        // Usernames may contain `_`: escape LIKE wildcards so the query matches literally (SQLite needs the ESCAPE clause).
        const pattern = `%${normalizeUsername(query).replace(/[%_\\]/g, (c) => `\\${c}`)}%`;
        q = q.where(sql<SqlBool>`username_normalized like ${pattern} escape '\\'`);
      }
      if (active === true) q = q.where('deactivated_at', 'is', null);
      if (active === false) q = q.where('deactivated_at', 'is not', null);
      const rows = await q
        .orderBy('created_at')
        .orderBy('id')
        .limit(limit + 1)
        .execute();
      return toPage(rows, limit, toUser, (r) => ({ createdAt: r.created_at, key: r.id }));
    },
    async update(id, ch, now) {
      const set: Partial<UsersTable> = { updated_at: now };
      if (ch.username !== undefined) {
        set.username = ch.username;
        set.username_normalized = normalizeUsername(ch.username);
      }
      if (ch.email !== undefined) set.email = ch.email;
      if (ch.emailVerified !== undefined) set.email_verified = ch.emailVerified ? 1 : 0;
      if (ch.name !== undefined) set.name = ch.name;
      if (ch.passwordHash !== undefined) {
        set.password_hash = ch.passwordHash;
        set.password_changed_at = now;
      }
      if (ch.deactivatedAt !== undefined) set.deactivated_at = ch.deactivatedAt;
      const res = await db.updateTable('users').set(set).where('id', '=', id).executeTakeFirst();
      if (Number(res.numUpdatedRows) === 0) return undefined;
      return this.lookup(id);
    },
    async remove(id) {
      const res = await db.deleteFrom('users').where('id', '=', id).executeTakeFirst();
      return Number(res.numDeletedRows) > 0;
    },
  };
}
