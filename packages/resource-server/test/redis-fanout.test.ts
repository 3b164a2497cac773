/**
 * Several API processes on one Redis (a real redis-server): cache entries are shared, a revocation
 * received by one process is applied by the other within milliseconds, a SET replayed to another
 * process is still a replay, and a revoked token cannot be written back by a late introspection.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { createIntrospector, type Introspector } from '../src/introspector.ts';
import { principalFromIntrospection } from '../src/principal.ts';
import { createRedisStore, type RedisStore } from '../src/redis-store.ts';
import { SESSION_REVOKED } from '../src/ssf/events.ts';
import { createReceiver, type Receiver } from '../src/ssf/receiver.ts';
import { CLIENT_ID, CLIENT_SECRET, FakeLatch } from './support/fake-latch.ts';
import { testRedis } from './support/redis.ts';
import { eventually } from './support/servers.ts';
import { latchToken } from './support/tokens.ts';

interface Reply {
  id?: number;
  type?: string;
  active?: boolean;
  calls?: number;
  outcome?: string;
  at?: number;
  error?: string;
  message?: string;
}

class Worker {
  private next = 0;
  readonly messages: Reply[] = [];
  private readonly waiting = new Map<number, (r: Reply) => void>();
  constructor(readonly child: ChildProcess) {
    child.on('message', (m: Reply) => {
      this.messages.push(m);
      if (m.id !== undefined) this.waiting.get(m.id)?.(m);
    });
  }
  call(message: Record<string, unknown>): Promise<Reply> {
    const id = ++this.next;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.child.send({ id, ...message });
    });
  }
}

describe('Redis store across two processes', () => {
  let redisServer: Awaited<ReturnType<typeof testRedis>>;
  let latch: FakeLatch;
  let redis: Redis;
  let store: RedisStore;
  let introspector: Introspector;
  let receiver: Receiver;
  let worker: Worker;
  const prefix = `latch-rs-test-${randomBytes(6).toString('hex')}:`;

  before(async () => {
    redisServer = await testRedis();
    latch = await FakeLatch.start();
    redis = new Redis(redisServer.url);
    store = createRedisStore({ redis, prefix });
    introspector = createIntrospector({ issuer: latch.issuer, client: { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET }, store });
    receiver = createReceiver({ introspector, audience: latch.audience, delivery: { method: 'push', endpointUrl: 'http://127.0.0.1/unused' } });
    await introspector.whenReady();
    const child = fork(fileURLToPath(new URL('./support/redis-worker.ts', import.meta.url)), [], {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, ISSUER: latch.issuer, REDIS_URL: redisServer.url, PREFIX: prefix, AUDIENCE: latch.audience },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    worker = new Worker(child);
    await eventually(() => worker.messages.some((m) => m.type === 'ready'), 'the second process', 20_000);
  });
  after(async () => {
    if (worker) {
      worker.child.send({ cmd: 'exit' });
      await new Promise((r) => worker.child.once('exit', r));
    }
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    await introspector.close();
    redis.disconnect();
    await latch.close();
    await redisServer.stop();
  });

  test('an entry cached by one process is a hit for the other, without a call to Latch', async () => {
    const token = latchToken();
    latch.addToken(token, { sid: 'sid-shared' });
    assert.ok((await introspector.introspect(token)).active);
    const calls = latch.introspections;
    const r = await worker.call({ cmd: 'introspect', token });
    assert.equal(r.active, true);
    assert.equal(latch.introspections, calls, 'the second process asked Redis, not Latch');
    assert.equal(r.calls, 0);
  });

  test('a session-revoked received by one process evicts the entry in the other within milliseconds', async (t) => {
    const token = latchToken();
    latch.addToken(token, { sub: 'fan', sid: 'sid-fanout' });
    assert.equal((await worker.call({ cmd: 'introspect', token })).active, true, 'cached in the second process');
    const evictionsBefore = worker.messages.filter((m) => m.type === 'evicted').length;
    const set = await latch.signSet({ [SESSION_REVOKED]: {} }, { claims: { sub_id: { format: 'complex', session: { format: 'opaque', id: 'sid-fanout' } } } });
    const reply = await receiver.handlePush({ contentType: 'application/secevent+jwt', authorization: undefined, body: set });
    const answered = Date.now();
    assert.equal(reply.status, 202);
    const evicted = await eventually(() => worker.messages.filter((m) => m.type === 'evicted').slice(evictionsBefore)[0], 'the eviction in the second process');
    const lag = (evicted.at as number) - answered;
    t.diagnostic(`eviction in the other process ${lag} ms after the push was answered`);
    assert.ok(lag < 1000, `${lag} ms`);
    // Latch (the fake) still says active: the tombstone and the shared deletion keep it out.
    assert.equal((await worker.call({ cmd: 'introspect', token })).active, false);
    assert.equal((await introspector.introspect(token)).active, false);
  });

  test('a SET replayed to the other process is a replay there too', async () => {
    const set = await latch.signSet({ [SESSION_REVOKED]: {} }, { claims: { sub_id: { format: 'complex', session: { format: 'opaque', id: 'sid-replay' } } } });
    assert.equal((await receiver.process(set)).outcome, 'applied');
    assert.equal((await worker.call({ cmd: 'process', set })).outcome, 'duplicate');
  });

  test('after a revocation, a late write of the old answer is refused by Redis itself', async () => {
    const active = principalFromIntrospection({ active: true, sub: 'late', client_id: 'c', sid: 'sid-late', jti: 'at_late' });
    await store.revoke('sid', 'sid-late', 60_000);
    await store.set('late-key', active, 60_000);
    assert.equal(await store.get('late-key'), undefined);
    await store.set('other-key', principalFromIntrospection({ active: true, sub: 'late2', client_id: 'c', sid: 'sid-other' }), 60_000);
    const entry = await store.get('other-key');
    assert.ok(entry?.principal.active);
    assert.ok(entry.ttlMs > 55_000 && entry.ttlMs <= 60_000, `${entry.ttlMs}`);
  });

  test('Redis down: the introspector keeps working on its own cache and reports the error', async () => {
    const dead = new Redis('redis://127.0.0.1:1', { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    dead.on('error', () => {});
    const errors: unknown[] = [];
    const lonely = createIntrospector({
      issuer: latch.issuer,
      client: { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET },
      store: createRedisStore({ redis: dead, subscriber: dead, prefix }),
      onError: (err) => errors.push(err),
    });
    const token = latchToken();
    latch.addToken(token);
    assert.ok((await lonely.introspect(token)).active);
    assert.ok((await lonely.introspect(token)).active);
    assert.ok(errors.length > 0);
    dead.disconnect();
  });
});
