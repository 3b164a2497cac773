/**
 * Serial executor with group commit for the embedded SQLite database (docs/architecture.md §8).
 *
 * better-sqlite3 is synchronous and SQLite has one writer, so every use of the connection is
 * serialized here. Transactions that arrive in the same event-loop turn are run one after the other
 * inside ONE database transaction (each in its own SAVEPOINT, so a failing one rolls back alone),
 * committed once, and only then resolved: a token is answered only after its row is committed,
 * but the commit cost is shared by the whole batch.
 *
 * Work inside a transaction must not wait on outside I/O (password hashing, HTTP): it would hold
 * the connection for everyone. Such work happens before or after the transaction.
 *
 * Work inside a batch reaches the connection through `inside` (the transaction's repositories are
 * built on it), everything else through the executor itself, which waits while a batch holds the
 * connection. Explicit rather than an AsyncLocalStorage: on Node 20 one of those turns on promise
 * hooks for the whole process, which cost every request a few per cent.
 */
import type BetterSqlite3 from 'better-sqlite3';

/** Access to the connection for prepared statements. */
export interface SqliteRunner {
  /** Runs synchronous work on the connection once it is this caller's turn. */
  run<T>(fn: () => T): Promise<T>;
  /** Like `run`, for read-only work: it may share a read transaction with other reads. */
  read<T>(fn: () => T): Promise<T>;
  prepare(sql: string): BetterSqlite3.Statement;
}

/** The connection as seen from work inside a batch, which already owns it. */
export interface InsideRunner extends SqliteRunner {
  /** A transaction inside a transaction is a savepoint of the enclosing one. */
  transaction<T>(work: () => Promise<T>): Promise<T>;
}

interface Job {
  work: () => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

export class SqliteExecutor implements SqliteRunner {
  private readonly pending: Job[] = [];
  private waiters: (() => void)[] = [];
  private busy = false;
  private flushScheduled = false;
  private readonly statements = new Map<string, BetterSqlite3.Statement>();
  /** Committed batches and the transactions they carried (for metrics and tests). */
  readonly stats = { batches: 0, transactions: 0 };
  /** Transaction control as prepared statements: `exec` parses its SQL on every call. */
  private readonly control: Record<'begin' | 'beginRead' | 'commit' | 'rollback' | 'savepoint' | 'release' | 'rollbackTo', BetterSqlite3.Statement>;
  /** A read transaction shared by the reads of the current event-loop turn is open. */
  private readOpen = false;
  private readonly endReadSoon = () => this.endRead();

  constructor(readonly db: BetterSqlite3.Database) {
    this.control = {
      begin: db.prepare('begin immediate'),
      beginRead: db.prepare('begin'),
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

  /** For work running inside a batch: the connection is already its own. */
  readonly inside: InsideRunner = {
    run: async (fn) => fn(),
    read: async (fn) => fn(),
    prepare: (sql) => this.prepare(sql),
    transaction: (work) => this.nested(work),
  };

  /** Runs synchronous work on the connection: at once when it is free, else after the current holder. */
  async run<T>(fn: () => T): Promise<T> {
    if (!this.busy) {
      this.endRead();
      return fn();
    }
    await this.acquire();
    try {
      return fn();
    } finally {
      this.release();
    }
  }

  /**
   * Runs read-only work. The reads of one event-loop turn share one read transaction, ended before
   * the next write and at the latest when the turn ends: each autocommit read would otherwise take
   * and drop the WAL read lock (two fcntl calls) and revalidate the page cache, ~40 % of a point
   * query here. A read still sees every commit made before its turn began.
   */
  async read<T>(fn: () => T): Promise<T> {
    if (this.busy) return this.run(fn);
    if (!this.readOpen) {
      this.control.beginRead.run();
      this.readOpen = true;
      setImmediate(this.endReadSoon);
    }
    return fn();
  }

  private endRead(): void {
    if (!this.readOpen) return;
    this.readOpen = false;
    if (this.db.open && this.db.inTransaction) this.control.commit.run();
  }

  /** Exclusive use of the connection for a multi-step operation (e.g. Kysely's own transactions). */
  async acquire(): Promise<void> {
    while (this.busy) await new Promise<void>((resolve) => this.waiters.push(resolve));
    this.busy = true;
    this.endRead();
  }

  release(): void {
    this.busy = false;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
    if (this.pending.length > 0) this.scheduleFlush();
  }

  /**
   * Runs `work` inside a group-committed transaction; resolves after the commit. `work` must reach
   * the connection through `inside` only: waiting on the executor itself from inside would wait
   * for its own batch.
   */
  transaction<T>(work: () => Promise<T>): Promise<T> {
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
    this.endRead();
    const batch = this.pending.splice(0, this.pending.length);
    const outcomes: { job: Job; ok: boolean; value: unknown }[] = [];
    try {
      // IMMEDIATE takes the write lock up front: no lock upgrade failures against other processes.
      this.control.begin.run();
      for (const job of batch) {
        this.control.savepoint.run();
        try {
          const value = await job.work();
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
