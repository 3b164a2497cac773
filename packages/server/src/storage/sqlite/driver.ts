/**
 * A Kysely dialect for better-sqlite3 whose connection is shared with the SqliteExecutor, so
 * query-builder queries, prepared hot-path statements and group-committed transactions never
 * interleave on the one connection. Statements are prepared once per SQL text.
 */
import {
  type CompiledQuery,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
  type QueryResult,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
} from 'kysely';
import type { SqliteExecutor } from './executor.ts';

class SharedConnection implements DatabaseConnection {
  constructor(private readonly executor: SqliteExecutor) {}

  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    const stmt = this.executor.prepare(compiled.sql);
    const params = compiled.parameters as unknown[];
    if (stmt.reader) return { rows: stmt.all(...params) as R[] };
    const { changes, lastInsertRowid } = stmt.run(...params);
    return { rows: [], numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid) };
  }

  // biome-ignore lint/correctness/useYield: streaming is not used with SQLite
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming is not supported on SQLite');
  }
}

class SharedDriver implements Driver {
  private readonly connection: SharedConnection;

  /** `inside`: the driver of the Kysely instance that transaction work uses (it owns the connection). */
  constructor(
    private readonly executor: SqliteExecutor,
    private readonly inside: boolean,
  ) {
    this.connection = new SharedConnection(executor);
  }

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    if (this.inside) return this.connection;
    await this.executor.acquire();
    return this.connection;
  }

  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery({ sql: 'begin immediate', parameters: [] } as unknown as CompiledQuery);
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery({ sql: 'commit', parameters: [] } as unknown as CompiledQuery);
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery({ sql: 'rollback', parameters: [] } as unknown as CompiledQuery);
  }

  async releaseConnection(): Promise<void> {
    if (!this.inside) this.executor.release();
  }

  async destroy(): Promise<void> {
    if (!this.inside) this.executor.db.close();
  }
}

export class SharedSqliteDialect implements Dialect {
  constructor(
    private readonly executor: SqliteExecutor,
    private readonly inside = false,
  ) {}
  createAdapter(): DialectAdapter {
    return new SqliteAdapter();
  }
  createDriver(): Driver {
    return new SharedDriver(this.executor, this.inside);
  }
  createQueryCompiler(): QueryCompiler {
    return new SqliteQueryCompiler();
  }
  // biome-ignore lint/suspicious/noExplicitAny: Kysely's introspector takes any schema
  createIntrospector(db: Kysely<any>): DatabaseIntrospector {
    return new SqliteIntrospector(db);
  }
}
