import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { SqliteExecutor } from './executor.ts';

describe('SqliteExecutor (group commit)', () => {
  let dir: string;
  let db: BetterSqlite3.Database;
  let ex: SqliteExecutor;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'latch-exec-'));
    db = new BetterSqlite3(join(dir, 'x.db'));
    db.pragma('journal_mode = WAL');
    db.exec('create table t (id integer primary key, v text not null unique)');
    ex = new SqliteExecutor(db);
  });
  after(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const insert = (v: string) => ex.transaction(async () => ex.prepare('insert into t (v) values (?)').run(v));
  const count = () => (db.prepare('select count(*) as n from t').get() as { n: number }).n;

  test('concurrent transactions all commit, sharing commits', async () => {
    const before = { ...ex.stats };
    await Promise.all(Array.from({ length: 200 }, (_, i) => insert(`a${i}`)));
    assert.equal(count(), 200);
    const commits = ex.stats.batches - before.batches;
    assert.equal(ex.stats.transactions - before.transactions, 200);
    assert.ok(commits >= 1 && commits < 200, `expected batched commits, got ${commits}`);
  });

  test('a failing transaction rolls back alone; the others in its batch commit', async () => {
    const before = count();
    const results = await Promise.allSettled([
      insert('b1'),
      ex.transaction(async () => {
        ex.prepare('insert into t (v) values (?)').run('b2');
        throw new Error('boom');
      }),
      insert('b3'),
      insert('b1'), // unique violation
    ]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'rejected', 'fulfilled', 'rejected'],
    );
    assert.equal(count(), before + 2);
    assert.equal((db.prepare('select count(*) as n from t where v = ?').get('b2') as { n: number }).n, 0);
  });

  test('a transaction resolves only after its commit, and reads never see uncommitted rows', async () => {
    let seenInside = -1;
    let seenOutside = -1;
    let signalStarted: () => void = () => {};
    const started = new Promise<void>((resolve) => {
      signalStarted = resolve;
    });
    const tx = ex.transaction(async () => {
      ex.prepare('insert into t (v) values (?)').run('c1');
      seenInside = (ex.prepare('select count(*) as n from t where v = ?').get('c1') as { n: number }).n;
      signalStarted();
      await new Promise((r) => setTimeout(r, 20)); // real I/O inside: others must wait
      return 'done';
    });
    await started; // the batch holds the connection now; this read comes from outside it
    const read = ex
      .run(() => (ex.prepare('select count(*) as n from t where v = ?').get('c1') as { n: number }).n)
      .then((n) => {
        seenOutside = n;
      });
    assert.equal(await tx, 'done');
    await read;
    assert.equal(seenInside, 1);
    assert.equal(seenOutside, 1, 'the read waited for the commit');
    assert.equal(db.inTransaction, false);
  });

  test('nested transactions are savepoints of the enclosing one', async () => {
    await ex.transaction(async () => {
      ex.prepare('insert into t (v) values (?)').run('d1');
      await assert.rejects(
        ex.inside.transaction(async () => {
          ex.prepare('insert into t (v) values (?)').run('d2');
          throw new Error('inner');
        }),
      );
    });
    const rows = db.prepare("select v from t where v like 'd%' order by v").all() as { v: string }[];
    assert.deepEqual(
      rows.map((r) => r.v),
      ['d1'],
    );
  });

  test('reads of one turn share a read transaction that ends with the turn; writes never wait in it', async () => {
    const other = new BetterSqlite3(join(dir, 'x.db'));
    try {
      const countOf = (v: string) => ex.read(() => (ex.prepare('select count(*) as n from t where v = ?').get(v) as { n: number }).n);
      assert.equal(await countOf('e1'), 0);
      assert.equal(db.inTransaction, true, 'the first read opened a read transaction');
      // A write by another connection during the turn is not seen by this turn's reads ...
      other.prepare('insert into t (v) values (?)').run('e1');
      assert.equal(await countOf('e1'), 0, 'one snapshot per turn');
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(db.inTransaction, false, 'ended with the turn');
      // ... and is seen by the next turn's.
      assert.equal(await countOf('e1'), 1);
      // A write after a read in the same turn ends the read transaction and commits at once.
      await ex.run(() => ex.prepare('insert into t (v) values (?)').run('e2'));
      assert.equal(db.inTransaction, false);
      assert.equal((other.prepare('select count(*) as n from t where v = ?').get('e2') as { n: number }).n, 1, 'committed, visible elsewhere');
      // A group-committed transaction after reads of the same turn.
      await countOf('e3');
      await insert('e3');
      assert.equal((other.prepare('select count(*) as n from t where v = ?').get('e3') as { n: number }).n, 1);
    } finally {
      other.close();
    }
  });
});
