import type { ColumnDefinitionBuilder } from 'kysely';

export type Dialect = 'sqlite' | 'postgres';

/** The few column types that differ between the two databases. */
export function columnTypes(dialect: Dialect) {
  const pg = dialect === 'postgres';
  return {
    /** Integer row id: SQLite rowid alias (AUTOINCREMENT so ids are never reused), PostgreSQL identity. */
    rowIdType: pg ? ('bigint' as const) : ('integer' as const),
    rowId: (c: ColumnDefinitionBuilder) => (pg ? c.primaryKey().generatedByDefaultAsIdentity() : c.primaryKey().autoIncrement()),
    bigint: 'bigint' as const,
    blob: pg ? ('bytea' as const) : ('blob' as const),
    text: 'text' as const,
    int: 'integer' as const,
  };
}

export const notNull = (c: ColumnDefinitionBuilder) => c.notNull();
