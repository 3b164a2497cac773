/**
 * Runs notes-api from environment variables:
 *   LATCH_ISSUER          Latch's issuer (default http://127.0.0.1:8080)
 *   NOTES_CLIENT_ID       the API's client at Latch (introspection, stream management)
 *   NOTES_CLIENT_SECRET
 *   NOTES_PORT            default 4000
 *   NOTES_DATABASE        SQLite file, default ./notes.db
 *   NOTES_PUBLIC_URL      where Latch can reach this API: Shared Signals by push to
 *                         <url>/ssf/events; unset: by poll
 *   NOTES_PUSH_SECRET     Authorization header value Latch must send with pushes (optional)
 */
import { createIntrospector } from '@latch/resource-server';
import { createNotesApi } from './app.ts';

const env = process.env;
const required = (name: string) => {
  const value = env[name];
  if (!value) {
    console.error(`${name} is required (see examples/notes-api/src/main.ts)`);
    process.exit(1);
  }
  return value;
};

const introspector = createIntrospector({
  issuer: env.LATCH_ISSUER ?? 'http://127.0.0.1:8080',
  client: { clientId: required('NOTES_CLIENT_ID'), clientSecret: required('NOTES_CLIENT_SECRET') },
});
const publicUrl = env.NOTES_PUBLIC_URL?.replace(/\/$/, '');
const api = await createNotesApi({
  introspector,
  database: env.NOTES_DATABASE ?? './notes.db',
  delivery: publicUrl
    ? { method: 'push', endpointUrl: `${publicUrl}/ssf/events`, ...(env.NOTES_PUSH_SECRET ? { authorizationHeader: env.NOTES_PUSH_SECRET } : {}) }
    : { method: 'poll' },
  logger: true,
  onPurged: (event, n) => console.log(`purged ${n} notes of device ${event.deviceKey ?? `of session ${event.sid}`} (${event.reason})`),
});
await api.app.listen({ host: '127.0.0.1', port: Number(env.NOTES_PORT ?? 4000) });
try {
  const stream = await api.receiver?.ensureStream();
  console.log(`Shared Signals stream ${stream?.stream_id} verified`);
} catch (err) {
  // Without a stream, tokens still stop working at the cache TTL (5 min) and back-channel logout still purges.
  console.warn(`Shared Signals unavailable: ${(err as Error).message}`);
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void api.close().then(() => process.exit(0)));
