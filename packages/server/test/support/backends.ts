/**
 * The databases a test runs against: SQLite always, PostgreSQL when LATCH_TEST_PG_URL is set.
 * With LATCH_TEST_REQUIRE_PG=1 (CI) a missing PostgreSQL is an error, never a silent skip.
 * Test names carry the backend in brackets, e.g. "[postgres] users …", which .ci/run counts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { randomId } from '../../src/crypto/random.ts';

export type Backend = 'sqlite' | 'postgres';

export function backends(): Backend[] {
  const url = process.env.LATCH_TEST_PG_URL;
  if (!url && process.env.LATCH_TEST_REQUIRE_PG === '1') {
    throw new Error('LATCH_TEST_REQUIRE_PG=1 but LATCH_TEST_PG_URL is not set: the PostgreSQL tests would not run');
  }
  return url ? ['sqlite', 'postgres'] : ['sqlite'];
}

export interface TestDatabase {
  url: string;
  /** PostgreSQL schema holding this test's tables (search_path), undefined for SQLite. */
  pgSchema?: string;
  drop(): Promise<void>;
}

/** A fresh, empty database: a temp SQLite file, or a new schema in the test PostgreSQL database. */
export async function freshDatabase(backend: Backend): Promise<TestDatabase> {
  if (backend === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'latch-test-'));
    return {
      url: `sqlite:${join(dir, 'latch.db')}`,
      async drop() {
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const url = process.env.LATCH_TEST_PG_URL as string;
  const schema = `t_${randomId(12).toLowerCase()}`;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query(`create schema ${schema}`);
  await client.end();
  return {
    url,
    pgSchema: schema,
    async drop() {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      await c.query(`drop schema if exists ${schema} cascade`);
      await c.end();
    },
  };
}
