/**
 * Outbox repository conformance (docs/architecture.md §4), on SQLite and PostgreSQL: transactional enqueue,
 * leases that give each due event to exactly one worker, failure scheduling, dead letters, retry.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type DatabaseHandle, migrateToLatest, openDatabase } from '../../src/storage/db.ts';
import { createStorage } from '../../src/storage/index.ts';
import type { Storage } from '../../src/storage/repositories.ts';
import { backends, freshDatabase, type TestDatabase } from '../support/backends.ts';

const T0 = 1_700_000_000_000;

function open(database: TestDatabase): { handle: DatabaseHandle; storage: Storage } {
  const handle = openDatabase({ url: database.url, poolSize: 4, ...(database.pgSchema ? { pgSchema: database.pgSchema } : {}) });
  return { handle, storage: createStorage(handle) };
}

for (const backend of backends()) {
  describe(`[${backend}] outbox repository`, () => {
    let database: TestDatabase;
    let storage: Storage;
    let other: Storage;

    before(async () => {
      database = await freshDatabase(backend);
      const first = open(database);
      await migrateToLatest(first.handle);
      storage = first.storage;
      // A second connection (pool) on the same database plays a second process.
      other = open(database).storage;
    });
    after(async () => {
      await other.close();
      await storage.close();
      await database.drop();
    });

    const enqueue = (target: string, now = T0, dedupeKey?: string) =>
      storage.outbox.enqueue({ kind: 'test.post', target, payload: { body: 'x=1', contentType: 'application/x-www-form-urlencoded' }, dedupeKey, now });

    test('enqueue stores a pending event; a repeated dedupe key keeps the first one', async () => {
      const e = await enqueue('https://a.example/1', T0, 'dedupe-1');
      assert.ok(e);
      assert.equal(e.attempts, 0);
      assert.deepEqual(e.payload, { body: 'x=1', contentType: 'application/x-www-form-urlencoded' });
      assert.equal(await enqueue('https://a.example/other', T0, 'dedupe-1'), undefined);
      const stored = await storage.outbox.lookup(e.id);
      assert.equal(stored?.target, 'https://a.example/1');
      assert.equal(stored?.nextAttemptAt, T0);
      // Clean slate for the claims below.
      assert.ok(await storage.outbox.claimDue({ worker: 'setup', now: T0, leaseUntil: T0 + 1, limit: 100 }));
      assert.ok(await storage.outbox.markDelivered(e.id, 'setup', T0));
    });

    test('an event enqueued in a transaction that rolls back is never seen', async () => {
      await assert.rejects(
        storage.transaction(async (repos) => {
          await repos.outbox.enqueue({ kind: 'test.post', target: 'https://rolled.back/', payload: {}, now: T0 });
          throw new Error('abort');
        }),
        /abort/,
      );
      const page = await storage.outbox.list({ limit: 200 });
      assert.equal(
        page.items.some((e) => e.target === 'https://rolled.back/'),
        false,
      );
    });

    test('claimDue leases due events once, counts the attempt, and frees them when the lease runs out', async () => {
      const now = T0 + 10_000;
      const a = await enqueue('https://claim.example/a', now);
      const later = await enqueue('https://claim.example/later', now + 60_000);
      assert.ok(a && later);
      const claimed = await storage.outbox.claimDue({ worker: 'w1', now, leaseUntil: now + 30_000, limit: 10 });
      assert.deepEqual(
        claimed.map((e) => e.id),
        [a.id],
      );
      assert.equal(claimed[0]?.attempts, 1);
      assert.equal(claimed[0]?.lockedBy, 'w1');
      // Leased: nobody else gets it, from either connection.
      assert.deepEqual(await other.outbox.claimDue({ worker: 'w2', now: now + 1000, leaseUntil: now + 31_000, limit: 10 }), []);
      // The lease ran out (the worker died): another worker takes it over, and only the new holder may record the outcome.
      const again = await other.outbox.claimDue({ worker: 'w2', now: now + 30_000, leaseUntil: now + 60_000, limit: 10 });
      assert.deepEqual(
        again.map((e) => [e.id, e.attempts]),
        [[a.id, 2]],
      );
      assert.equal(await storage.outbox.markDelivered(a.id, 'w1', now + 30_001), false);
      assert.equal(await other.outbox.markDelivered(a.id, 'w2', now + 30_001), true);
      assert.equal(await other.outbox.markDelivered(a.id, 'w2', now + 30_002), false);
      const delivered = await storage.outbox.lookup(a.id);
      assert.equal(delivered?.deliveredAt, now + 30_001);
      assert.equal(delivered?.lockedBy, null);
      // Not due yet: stays put until its time.
      assert.deepEqual(await storage.outbox.claimDue({ worker: 'w1', now: now + 59_999, leaseUntil: now + 90_000, limit: 10 }), []);
      const due = await storage.outbox.claimDue({ worker: 'w1', now: now + 60_000, leaseUntil: now + 90_000, limit: 10 });
      assert.deepEqual(
        due.map((e) => e.id),
        [later.id],
      );
      assert.ok(await storage.outbox.markDelivered(later.id, 'w1', now + 60_000));
    });

    test('markFailed schedules the next attempt or dead-letters; retry revives only dead events', async () => {
      const now = T0 + 100_000;
      const e = await enqueue('https://fail.example/', now);
      assert.ok(e);
      await storage.outbox.claimDue({ worker: 'w1', now, leaseUntil: now + 30_000, limit: 10 });
      assert.equal(await storage.outbox.markFailed(e.id, 'w2', { error: 'not the holder', nextAttemptAt: now, deadAt: null }), false);
      assert.ok(await storage.outbox.markFailed(e.id, 'w1', { error: 'HTTP 503', nextAttemptAt: now + 5000, deadAt: null }));
      let stored = await storage.outbox.lookup(e.id);
      assert.equal(stored?.lastError, 'HTTP 503');
      assert.equal(stored?.nextAttemptAt, now + 5000);
      assert.equal(stored?.lockedUntil, null);
      assert.equal(await storage.outbox.retry(e.id, now), false, 'only dead events are retried');

      await storage.outbox.claimDue({ worker: 'w1', now: now + 5000, leaseUntil: now + 35_000, limit: 10 });
      assert.ok(await storage.outbox.markFailed(e.id, 'w1', { error: 'connection refused', nextAttemptAt: now + 5000, deadAt: now + 5001 }));
      stored = await storage.outbox.lookup(e.id);
      assert.equal(stored?.deadAt, now + 5001);
      assert.equal(stored?.attempts, 2);
      assert.deepEqual(await storage.outbox.claimDue({ worker: 'w1', now: now + 10_000_000, leaseUntil: now + 10_030_000, limit: 10 }), []);

      const dead = await storage.outbox.list({ limit: 50, status: 'dead' });
      assert.deepEqual(
        dead.items.map((x) => x.id),
        [e.id],
      );
      assert.ok(await storage.outbox.retry(e.id, now + 6000));
      stored = await storage.outbox.lookup(e.id);
      assert.equal(stored?.deadAt, null);
      assert.equal(stored?.attempts, 0);
      assert.equal(stored?.lastError, 'connection refused', 'the last error stays visible');
      const revived = await storage.outbox.claimDue({ worker: 'w1', now: now + 6000, leaseUntil: now + 36_000, limit: 10 });
      assert.deepEqual(
        revived.map((x) => x.id),
        [e.id],
      );
      assert.ok(await storage.outbox.markDelivered(e.id, 'w1', now + 6001));
    });

    test('releaseLeases hands a stopping worker’s events back at once', async () => {
      const now = T0 + 200_000;
      const e = await enqueue('https://release.example/', now);
      assert.ok(e);
      assert.equal((await storage.outbox.claimDue({ worker: 'stopping', now, leaseUntil: now + 60_000, limit: 10 })).length, 1);
      assert.equal(await storage.outbox.releaseLeases('stopping'), 1);
      const taken = await other.outbox.claimDue({ worker: 'next', now: now + 1, leaseUntil: now + 60_000, limit: 10 });
      assert.deepEqual(
        taken.map((x) => x.id),
        [e.id],
      );
      assert.ok(await other.outbox.markDelivered(e.id, 'next', now + 2));
    });

    test('list filters by status and kind and pages with a cursor', async () => {
      const now = T0 + 300_000;
      for (let i = 0; i < 5; i++) await storage.outbox.enqueue({ kind: 'test.page', target: `https://page.example/${i}`, payload: { i }, now: now + i });
      const first = await storage.outbox.list({ limit: 3, status: 'pending', kind: 'test.page' });
      assert.equal(first.items.length, 3);
      assert.ok(first.nextCursor);
      const second = await storage.outbox.list({ limit: 3, status: 'pending', kind: 'test.page', cursor: first.nextCursor });
      assert.deepEqual(
        [...first.items, ...second.items].map((e) => e.payload.i),
        [0, 1, 2, 3, 4],
      );
      assert.equal(second.nextCursor, undefined);
      const delivered = await storage.outbox.list({ limit: 200, status: 'delivered' });
      assert.ok(delivered.items.length >= 4);
      assert.ok(delivered.items.every((e) => e.deliveredAt !== null));
      // Drain them so the concurrency test starts from an empty queue.
      const drained = await storage.outbox.claimDue({ worker: 'drain', now: now + 10, leaseUntil: now + 20, limit: 100 });
      for (const e of drained) await storage.outbox.markDelivered(e.id, 'drain', now + 10);
      assert.ok((await storage.outbox.cleanup(now + 11)) >= 5);
    });

    test('two workers on two connections claiming concurrently never take the same event', async () => {
      const now = T0 + 400_000;
      const ids = new Set<number>();
      for (let i = 0; i < 60; i++) {
        const e = await storage.outbox.enqueue({ kind: 'test.race', target: `https://race.example/${i}`, payload: {}, now });
        assert.ok(e);
        ids.add(e.id);
      }
      const seen: { worker: string; id: number }[] = [];
      const work = async (repo: Storage, worker: string) => {
        for (;;) {
          const batch = await repo.outbox.claimDue({ worker, now: now + 1, leaseUntil: now + 60_000, limit: 4 });
          if (batch.length === 0) return;
          for (const e of batch) {
            seen.push({ worker, id: e.id });
            assert.ok(await repo.outbox.markDelivered(e.id, worker, now + 2));
          }
        }
      };
      await Promise.all([work(storage, 'a1'), work(other, 'b1'), work(storage, 'a2'), work(other, 'b2')]);
      const claimedIds = seen.map((s) => s.id);
      assert.equal(claimedIds.length, ids.size, 'every event claimed exactly once');
      assert.deepEqual(new Set(claimedIds), ids);
      if (backend === 'postgres') {
        // With SKIP LOCKED both connections make progress instead of one waiting for the other.
        assert.ok(seen.some((s) => s.worker.startsWith('a')) && seen.some((s) => s.worker.startsWith('b')));
      }
    });
  });
}
