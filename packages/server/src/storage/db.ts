import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Dialect } from './dialect.ts';
import { migrationProvider } from './migrations/index.ts';
import type { Database } from './schema.ts';
import { BackgroundCheckpointer, SAFETY_NET_PAGES } from './sqlite/checkpointer.ts';
import { SharedSqliteDialect } from './sqlite/driver.ts';
import { SqliteExecutor } from './sqlite/executor.ts';

// PostgreSQL returns int8 as text by default; our bigints are millisecond times and row ids,
// which fit in a double (2^53), so read them as numbers.
pg.types.setTypeParser(20, (v) => Number.parseInt(v, 10));

export interface DatabaseHandle {
  dialect: Dialect;
  db: Kysely<Database>;
  /** The raw SQLite connection, for prepared statements on hot paths (dialect-specific code only). */
  sqlite?: BetterSqlite3.Database;
  /** Serializes all use of the SQLite connection and group-commits transactions. */
  executor?: SqliteExecutor;
  /** SQLite: the query builder for work inside a group-committed transaction (executor.inside). */
  insideDb?: Kysely<Database>;
  /** The raw PostgreSQL pool, for prepared statements on hot paths and pool metrics. */
  pool?: pg.Pool;
  /** PostgreSQL schema in use (search_path), when not the default. */
  pgSchema?: string;
  close(): Promise<void>;
}

export interface OpenOptions {
  url: string;
  poolSize?: number;
  sqliteSynchronous?: 'normal' | 'full';
  /** PostgreSQL schema to use (tests isolate themselves in throwaway schemas). */
  pgSchema?: string;
  /** SQLite: run WAL checkpoints on a worker thread (long-running servers). */
  backgroundCheckpoints?: boolean;
}

export function sqlitePath(url: string): string {
  const path = url.replace(/^sqlite:(\/\/)?/, '');
  if (path === '') throw new Error('database.url: sqlite URL has no path; use sqlite:./data/latch.db or sqlite::memory:');
  return path;
}

export function openDatabase(options: OpenOptions): DatabaseHandle {
  if (options.url.startsWith('sqlite:')) {
    const path = sqlitePath(options.url);
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    const sqlite = new BetterSqlite3(path);
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma(`synchronous = ${options.sqliteSynchronous === 'full' ? 'FULL' : 'NORMAL'}`);
    sqlite.pragma('busy_timeout = 5000');
    sqlite.pragma('foreign_keys = ON');
    // Checkpoint off the request path (sqlite/checkpointer.ts) for a server; a one-shot CLI command
    // keeps SQLite's automatic checkpoints, made less frequent.
    const checkpointer = options.backgroundCheckpoints && path !== ':memory:' ? new BackgroundCheckpointer(path) : undefined;
    sqlite.pragma(`wal_autocheckpoint = ${checkpointer ? SAFETY_NET_PAGES : 4000}`);
    sqlite.defaultSafeIntegers(false);
    const executor = new SqliteExecutor(sqlite);
    const db = new Kysely<Database>({ dialect: new SharedSqliteDialect(executor) });
    const insideDb = new Kysely<Database>({ dialect: new SharedSqliteDialect(executor, true) });
    return {
      dialect: 'sqlite',
      db,
      insideDb,
      sqlite,
      executor,
      async close() {
        await checkpointer?.stop();
        await db.destroy();
      },
    };
  }
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: 5000,
    ...(options.pgSchema ? { options: `-c search_path=${options.pgSchema}` } : {}),
  });
  // An idle client losing its connection must not crash the process; the pool replaces it.
  pool.on('error', () => {});
  // pg-pool listens for errors only on idle clients: a checked-out client whose connection dies
  // between two queries of a transaction (database restart, pg_terminate_backend) would emit an
  // unhandled 'error' and crash the process. Its queries fail anyway and the pool drops it on release.
  pool.on('connect', (client) => client.on('error', () => {}));
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return {
    dialect: 'postgres',
    db,
    pool,
    ...(options.pgSchema ? { pgSchema: options.pgSchema } : {}),
    async close() {
      await db.destroy();
    },
  };
}

export interface MigrationReport {
  applied: string[];
}

// Kysely looks for its bookkeeping tables across all schemas unless told which one to use.
const migrator = (handle: DatabaseHandle) =>
  new Migrator({ db: handle.db, provider: migrationProvider(handle.dialect), ...(handle.pgSchema ? { migrationTableSchema: handle.pgSchema } : {}) });

export async function migrateToLatest(handle: DatabaseHandle): Promise<MigrationReport> {
  for (let attempt = 1; ; attempt++) {
    const { error, results } = await migrator(handle).migrateToLatest();
    if (!error) return { applied: (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName) };
    // Kysely's PostgreSQL introspection (run before taking the migration lock) scans every schema of
    // the database and looks each name up again; a schema or table dropped meanwhile by someone else
    // (tests isolate themselves in throwaway schemas) fails that scan with 3F000 / 42P01. Try again.
    const code = (error as { code?: string }).code;
    if (handle.dialect === 'postgres' && (code === '3F000' || code === '42P01') && attempt < 5) continue;
    throw error instanceof Error ? error : new Error(String(error));
  }
}

export async function pendingMigrations(handle: DatabaseHandle): Promise<string[]> {
  return (await migrator(handle).getMigrations()).filter((m) => !m.executedAt).map((m) => m.name);
}
