import type { Kysely, Migration, MigrationProvider } from 'kysely';
import type { Dialect } from '../dialect.ts';
import { initialSchema } from './0001_initial.ts';

/** Migrations live in code (not scanned from disk) so they work the same under tsx, tests and builds. */
export function migrationProvider(dialect: Dialect): MigrationProvider {
  const all: Record<string, Migration> = {
    '0001_initial': initialSchema(dialect),
  };
  return { getMigrations: async () => all };
}

// biome-ignore lint/suspicious/noExplicitAny: migrations run against an untyped schema
export type AnyDb = Kysely<any>;
