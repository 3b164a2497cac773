/**
 * Serial executor with group commit for the embedded SQLite database (DESIGN.md §8).
 *
 * better-sqlite3 is synchronous and SQLite has one writer, so every use of the connection is
 * serialized here. Transactions that arrive in the same event-loop turn are run one after the other
 * inside ONE database transaction (each in its own SAVEPOINT, so a failing one rolls back alone),
 * committed once, and only then resolved: a token is answered only after its row is committed,
 * but the commit cost is shared by the whole batch.
 *
 * Work inside a transaction must not wait on outside I/O (password hashing, HTTP): it would hold
 * the connection for everyone. Such work happens before or after the transaction.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type BetterSqlite3 from 'better-sqlite3';

interface Job {
  work: () => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

export class SqliteExecutor {
  /** Marks the async context of a job running inside the current batch. */
  private readonly inside = new AsyncLocalStorage<true>();
  private readonly pending: Job[] = [];
  private waiters: (() => void)[] = [];
  private busy = false;
  private flushScheduled = false;
  private readonly statements = new Map<string, BetterSqlite3.Statement>();
  /** Committed batches and the transactions they carried (for metrics and tests). */
  readonly stats = { batches: 0, transactions: 0 };
  /** Transaction control as prepared statements: `exec` parses its SQL on every call. */
  private readonly control: Record<'begin' | 'commit' | 'rollback' | 'savepoint' | 'release' | 'rollbackTo', BetterSqlite3.Statement>;

  constructor(readonly db: BetterSqlite3.Database) {
    this.control = {
      begin: db.prepare('begin immediate'),
      commit: db.prepare('commit'),
      rollback: db.prepare('rollback'),
      savepoint: db.prepare('savepoint job'),
      release: db.prepare('release job'),
      rollbackTo: db.prepare('rollback to job'),
    };
  }

  /** A cached prepared statement (preparing costs more than running a point query). */
  prepare(sql: string): BetterSqlite3.Statement {
    let stmt = this.statements.get(sql);
    if (!stmt) {
      stmt = this.db.prepare(sql);
      this.statements.set(sql, stmt);
    }
    return stmt;
  }

  /** True while the caller runs inside a batch (it already owns the connection). */
  get owned(): boolean {
    return this.inside.getStore() === true;
  }

  /** Runs synchronous work on the connection: at once when it is free, else after the current holder. */
  async run<T>(fn: () => T): Promise<T> {
    if (this.owned || !this.busy) return fn();
    await this.acquire();
    try {
      return fn();
    } finally {
      this.release();
    }
  }

  /** Exclusive use of the connection for a multi-step operation (e.g. Kysely's own transactions). */
  async acquire(): Promise<void> {
    while (this.busy) await new Promise<void>((resolve) => this.waiters.push(resolve));
    this.busy = true;
  }

  release(): void {
    this.busy = false;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
    if (this.pending.length > 0) this.scheduleFlush();
  }

  /** Runs `work` inside a group-committed transaction; resolves after the commit. */
  transaction<T>(work: () => Promise<T>): Promise<T> {
    if (this.owned) return this.nested(work);
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ work, resolve: resolve as (v: unknown) => void, reject });
      this.scheduleFlush();
    });
  }

  /** A transaction inside a transaction is a savepoint of the enclosing one. */
  private async nested<T>(work: () => Promise<T>): Promise<T> {
    this.db.exec('savepoint nested');
    try {
      const result = await work();
      this.db.exec('release nested');
      return result;
    } catch (err) {
      this.db.exec('rollback to nested');
      this.db.exec('release nested');
      throw err;
    }
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    if (this.busy) return; // release() schedules another flush
    this.busy = true;
    const batch = this.pending.splice(0, this.pending.length);
    const outcomes: { job: Job; ok: boolean; value: unknown }[] = [];
    try {
      // IMMEDIATE takes the write lock up front: no lock upgrade failures against other processes.
      this.control.begin.run();
      for (const job of batch) {
        this.control.savepoint.run();
        try {
          const value = await this.inside.run(true, job.work);
          this.control.release.run();
          outcomes.push({ job, ok: true, value });
        } catch (err) {
          this.control.rollbackTo.run();
          this.control.release.run();
          outcomes.push({ job, ok: false, value: err });
        }
      }
      this.control.commit.run();
      this.stats.batches++;
      this.stats.transactions += batch.length;
    } catch (err) {
      if (this.db.inTransaction) this.control.rollback.run();
      this.busy = false;
      for (const job of batch) job.reject(err);
      this.release();
      return;
    }
    this.release();
    for (const o of outcomes) (o.ok ? o.job.resolve : o.job.reject)(o.value);
  }
}
