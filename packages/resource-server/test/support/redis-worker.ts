/**
 * The second API process of the Redis fan-out test: an introspector and receiver sharing the
 * parent's Redis store, driven over IPC. Reports every eviction with its time.
 */
import { Redis } from 'ioredis';
import { createIntrospector } from '../../src/introspector.ts';
import { createRedisStore } from '../../src/redis-store.ts';
import { createReceiver } from '../../src/ssf/receiver.ts';
import { CLIENT_ID, CLIENT_SECRET } from './fake-latch.ts';

const { ISSUER, REDIS_URL, PREFIX, AUDIENCE } = process.env as Record<string, string>;
const send = (message: unknown) => process.send?.(message);

const redis = new Redis(REDIS_URL as string);
const store = createRedisStore({ redis, prefix: PREFIX as string });
const introspector = createIntrospector({
  issuer: ISSUER as string,
  client: { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET },
  store,
  metrics: { cache: (event, count) => event === 'eviction' && send({ type: 'evicted', count, at: Date.now() }) },
  onError: (err) => send({ type: 'error', message: String(err) }),
});
const receiver = createReceiver({ introspector, audience: AUDIENCE as string, delivery: { method: 'push', endpointUrl: 'http://127.0.0.1/unused' } });

process.on('message', async (m: { id: number; cmd: string; token?: string; set?: string }) => {
  try {
    if (m.cmd === 'introspect') {
      const p = await introspector.introspect(m.token as string);
      send({ id: m.id, active: p.active, calls: introspector.calls, stats: introspector.stats() });
    } else if (m.cmd === 'process') {
      const r = await receiver.process(m.set as string);
      send({ id: m.id, outcome: r.outcome });
    } else if (m.cmd === 'exit') {
      await introspector.close();
      redis.disconnect();
      process.disconnect();
    }
  } catch (err) {
    send({ id: m.id, error: String(err) });
  }
});

await introspector.whenReady();
send({ type: 'ready' });
