import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { BackgroundCheckpointer } from './checkpointer.ts';

test('the background checkpointer copies the WAL into the database file while the main connection keeps writing', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'latch-ckpt-'));
  const path = join(dir, 'x.db');
  const db = new BetterSqlite3(path);
  db.pragma('journal_mode = WAL');
  db.pragma('wal_autocheckpoint = 0'); // only the worker checkpoints
  db.exec('create table t (id integer primary key, v blob)');
  const checkpointer = new BackgroundCheckpointer(path, 50);
  try {
    const insert = db.prepare('insert into t (v) values (randomblob(1000))');
    for (let i = 0; i < 2000; i++) insert.run();
    const dbSizeBefore = statSync(path).size;
    const deadline = Date.now() + 10_000;
    while (statSync(path).size <= dbSizeBefore + 1_000_000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.ok(statSync(path).size > dbSizeBefore + 1_000_000, 'pages moved from the WAL into the database file');
    assert.equal((db.prepare('select count(*) as n from t').get() as { n: number }).n, 2000);
  } finally {
    await checkpointer.stop();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
