import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { backends, freshDatabase, type TestDatabase } from '../../test/support/backends.ts';
import { migrateToLatest, openDatabase } from '../storage/db.ts';
import { createStorage } from '../storage/index.ts';
import type { Storage } from '../storage/repositories.ts';
import { HTTP_POST_KIND, type HttpSender, OutboxDispatcher, renderHttpPost } from './dispatcher.ts';

const T0 = 1_800_000_000_000;

for (const backend of backends()) {
  describe(`[${backend}] outbox dispatcher`, () => {
    let database: TestDatabase;
    let storage: Storage;
    let now = T0;
    const clock = () => now;
    let answer: (url: string) => Promise<{ status: number }>;
    const sent: { url: string; body: string; headers: Record<string, string> }[] = [];
    const send: HttpSender = async (req) => {
      sent.push(req);
      return answer(req.url);
    };
    const dispatcher = (maxAttempts = 3) =>
      new OutboxDispatcher({
        outbox: storage.outbox,
        renderers: { [HTTP_POST_KIND]: renderHttpPost },
        send,
        clock,
        backoff: { baseMs: 1000, maxMs: 10_000, maxAttempts },
        pollIntervalMs: 50,
        timeoutMs: 1000,
        random: () => 0,
      });
    const enqueue = (target: string, kind = HTTP_POST_KIND) =>
      storage.outbox.enqueue({ kind, target, payload: { body: 'logout_token=abc', contentType: 'application/x-www-form-urlencoded' }, now });

    before(async () => {
      database = await freshDatabase(backend);
      const handle = openDatabase({ url: database.url, ...(database.pgSchema ? { pgSchema: database.pgSchema } : {}) });
      await migrateToLatest(handle);
      storage = createStorage(handle);
    });
    after(async () => {
      await storage.close();
      await database.drop();
    });

    test('delivers a due event with its body and content type, once', async () => {
      answer = async () => ({ status: 200 });
      const e = await enqueue('https://rp.example/bcl');
      assert.ok(e);
      const d = dispatcher();
      const outcomes = await d.runOnce();
      assert.deepEqual(outcomes, [{ id: e.id, delivered: true, dead: false }]);
      assert.deepEqual(sent.at(-1), {
        url: 'https://rp.example/bcl',
        body: 'logout_token=abc',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        timeoutMs: 1000,
      });
      assert.deepEqual(await d.runOnce(), [], 'nothing left to send');
      assert.equal((await storage.outbox.lookup(e.id))?.deliveredAt, now);
    });

    test('4xx, 5xx and thrown errors are retried with growing delays, then dead-lettered; the loop never throws', async () => {
      now = T0 + 100_000;
      const answers = [
        async () => ({ status: 400 }),
        async () => {
          throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });
        },
        async () => ({ status: 503 }),
      ];
      const e = await enqueue('https://down.example/bcl');
      assert.ok(e);
      const d = dispatcher(3);
      const errors: string[] = [];
      for (const [i, next] of answers.entries()) {
        answer = next;
        const [outcome] = await d.runOnce();
        assert.ok(outcome);
        errors.push(outcome.error ?? '');
        const stored = await storage.outbox.lookup(e.id);
        assert.equal(stored?.attempts, i + 1);
        if (i < 2) {
          // random() = 0 gives the lower bound of the jittered delay: 500 ms, then 1000 ms.
          assert.equal(stored?.nextAttemptAt, now + 500 * 2 ** i);
          assert.deepEqual(await d.runOnce(), [], 'not retried before its time');
          now = stored?.nextAttemptAt ?? now;
        } else {
          assert.equal(outcome.dead, true);
          assert.equal(stored?.deadAt, now);
        }
      }
      assert.deepEqual(errors, ['HTTP 400', 'connection refused', 'HTTP 503']);
      now += 3_600_000;
      assert.deepEqual(await d.runOnce(), [], 'dead events are not retried by themselves');
      // An operator retry puts it back with a fresh budget.
      assert.ok(await storage.outbox.retry(e.id, now));
      answer = async () => ({ status: 204 });
      assert.deepEqual(await d.runOnce(), [{ id: e.id, delivered: true, dead: false }]);
    });

    test('an event of an unknown kind or with a broken payload fails like a delivery, without stopping the others', async () => {
      now = T0 + 10_000_000;
      answer = async () => ({ status: 200 });
      const unknown = await enqueue('https://rp.example/u', 'no.such.kind');
      const good = await enqueue('https://rp.example/g');
      assert.ok(unknown && good);
      const outcomes = await dispatcher().runOnce();
      const byId = new Map(outcomes.map((o) => [o.id, o]));
      assert.match(byId.get(unknown.id)?.error ?? '', /no renderer/);
      assert.equal(byId.get(good.id)?.delivered, true);
    });

    test('the polling loop delivers by itself; stop() waits for the delivery in flight and leaves nothing leased', async () => {
      now = T0 + 20_000_000;
      answer = async () => ({ status: 200 });
      const d = dispatcher();
      d.start();
      const e = await enqueue('https://rp.example/loop');
      assert.ok(e);
      d.wake();
      for (let i = 0; i < 200 && !(await storage.outbox.lookup(e.id))?.deliveredAt; i++) await new Promise((r) => setTimeout(r, 10));
      assert.ok((await storage.outbox.lookup(e.id))?.deliveredAt);

      // A delivery in flight when stop() is called completes; nothing stays leased afterwards.
      let release: () => void = () => {};
      answer = () =>
        new Promise((r) => {
          release = () => r({ status: 200 });
        });
      const slow = await enqueue('https://rp.example/slow');
      assert.ok(slow);
      d.wake();
      for (let i = 0; i < 200 && (await storage.outbox.lookup(slow.id))?.lockedBy === null; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal((await storage.outbox.lookup(slow.id))?.lockedBy, d.workerId);
      const stopping = d.stop();
      release();
      await stopping;
      const stored = await storage.outbox.lookup(slow.id);
      assert.ok(stored?.deliveredAt);
      assert.equal(stored?.lockedBy, null);
    });
  });
}
