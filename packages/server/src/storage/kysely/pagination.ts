import { type Expression, type SqlBool, sql } from 'kysely';
import type { Page } from '../repositories.ts';

/** Keyset pagination over (created_at, key): the cursor is opaque to callers. */
export interface Cursor {
  createdAt: number;
  key: string | number;
}

export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify([c.createdAt, c.key])).toString('base64url');
}

export function decodeCursor(cursor: string | undefined): Cursor | undefined {
  if (!cursor) return undefined;
  try {
    const [createdAt, key] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (typeof createdAt !== 'number' || (typeof key !== 'string' && typeof key !== 'number')) return undefined;
    return { createdAt, key };
  } catch {
    return undefined;
  }
}

export class InvalidCursorError extends Error {
  override name = 'InvalidCursorError';
}

/** `(created_at, key) > (cursor)` as a portable expression. */
export function after(keyColumn: string, cursor: Cursor): Expression<SqlBool> {
  return sql<SqlBool>`(created_at > ${cursor.createdAt} or (created_at = ${cursor.createdAt} and ${sql.ref(keyColumn)} > ${cursor.key}))`;
}

/** Fetches limit + 1 rows to know whether there is a next page. */
export function toPage<Row, T>(rows: Row[], limit: number, map: (r: Row) => T, cursorOf: (r: Row) => Cursor): Page<T> {
  const items = rows.slice(0, limit).map(map);
  const last = rows[limit - 1];
  return rows.length > limit && last ? { items, nextCursor: encodeCursor(cursorOf(last)) } : { items };
}

export function requireCursor(cursor: string | undefined): Cursor | undefined {
  if (cursor === undefined) return undefined;
  const decoded = decodeCursor(cursor);
  if (!decoded) throw new InvalidCursorError('cursor is not valid');
  return decoded;
}
