/**
 * The API process of the resource-server benchmark, one of:
 *   MODE=hello    bare fastify answering GET /hello
 *   MODE=noauth   notes-api's GET /notes route without authentication (one fixed device)
 *   MODE=auth     notes-api as shipped (cached introspection; back-channel logout; Shared Signals
 *                 push when DELIVERY=push or poll when DELIVERY=poll)
 *   MODE=nocache  notes-api with the cache off: introspection on every request
 * Environment: PORT, DATABASE, ISSUER, CLIENT_ID, CLIENT_SECRET, TTL_MS, DELIVERY, PUSH_URL.
 */
import { createIntrospector, type Delivery } from '@latch/resource-server';
import Fastify from 'fastify';
import { createNotesApi } from '../../examples/notes-api/src/app.ts';
import { NotesStore } from '../../examples/notes-api/src/notes.ts';

const env = process.env as Record<string, string>;
const port = Number(env.PORT);
const mode = env.MODE;

if (mode === 'hello') {
  const app = Fastify();
  app.get('/hello', async () => ({ hello: 'world' }));
  await app.listen({ host: '127.0.0.1', port });
} else if (mode === 'noauth') {
  const store = new NotesStore(env.DATABASE as string);
  store.add('bench-device', 'bench-user', 'a note', Date.now());
  const app = Fastify();
  app.get('/notes', async () => ({ notes: store.list('bench-device') }));
  await app.listen({ host: '127.0.0.1', port });
} else {
  const delivery: Delivery | undefined =
    env.DELIVERY === 'push' ? { method: 'push', endpointUrl: env.PUSH_URL as string } : env.DELIVERY === 'poll' ? { method: 'poll' } : undefined;
  const api = await createNotesApi({
    introspector: createIntrospector({
      issuer: env.ISSUER as string,
      client: { clientId: env.CLIENT_ID as string, clientSecret: env.CLIENT_SECRET as string },
      cache: mode === 'nocache' ? false : { ttlMs: Number(env.TTL_MS ?? 300_000) },
    }),
    database: env.DATABASE as string,
    ...(delivery ? { delivery } : {}),
  });
  await api.app.listen({ host: '127.0.0.1', port });
  if (api.receiver) await api.receiver.ensureStream();
}
process.send?.('ready');
