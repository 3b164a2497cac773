/**
 * notes-api: a small fastify API on @latch/resource-server. `GET /notes` and `POST /notes` keep
 * notes per device (the principal's deviceKey); when Latch says the device's session ended —
 * Shared Signals `session-revoked`, or an OIDC back-channel logout — that device's notes are
 * purged. A refreshed token is the same device: its notes stay.
 */
import {
  type BackchannelLogoutReceiver,
  createBackchannelLogoutReceiver,
  createGuard,
  createReceiver,
  type Delivery,
  type Introspector,
  type Receiver,
  type SessionEnded,
} from '@latch/resource-server';
import { latchResourceServer } from '@latch/resource-server/fastify';
import Fastify, { type FastifyInstance } from 'fastify';
import { NotesStore } from './notes.ts';

export const READ_SCOPE = 'read:notes';
export const WRITE_SCOPE = 'write:notes';

export interface NotesApiOptions {
  introspector: Introspector;
  /** SQLite file (or ':memory:'). */
  database: string;
  /** Shared Signals delivery; without it, only back-channel logout and the cache TTL end access. */
  delivery?: Delivery;
  /** Called after a device's notes were purged (tests, logs). */
  onPurged?: (event: SessionEnded, notes: number) => void;
  logger?: boolean;
}

export interface NotesApi {
  app: FastifyInstance;
  introspector: Introspector;
  store: NotesStore;
  receiver: Receiver | undefined;
  backchannelLogout: BackchannelLogoutReceiver;
  close(): Promise<void>;
}

const noteBody = {
  type: 'object',
  properties: { text: { type: 'string', minLength: 1, maxLength: 10_000 } },
  required: ['text'],
  additionalProperties: false,
} as const;

export async function createNotesApi(options: NotesApiOptions): Promise<NotesApi> {
  const store = new NotesStore(options.database);
  const { introspector } = options;

  // The device is the unit of data: purge it when its session ends, whoever says so.
  const purge = (event: SessionEnded) => {
    const deviceKey = event.deviceKey ?? (event.sid !== undefined ? store.deviceOfSession(event.sid) : undefined);
    if (deviceKey === undefined) return;
    options.onPurged?.(event, store.purgeDevice(deviceKey));
  };
  const receiver = options.delivery
    ? createReceiver({
        introspector,
        delivery: options.delivery,
        description: 'notes-api',
        onSessionEnded: purge,
        // RISC account-purged: the user's data must go, on every device.
        onAccountPurged: ({ sub }) => void store.purgeUser(sub),
      })
    : undefined;
  const backchannelLogout = createBackchannelLogoutReceiver({ introspector, onSessionEnded: purge });

  const app = Fastify({ logger: options.logger ?? false });
  await app.register(latchResourceServer, {
    guard: createGuard({ introspector, realm: 'notes-api' }),
    ...(receiver ? { receiver, pushPath: '/ssf/events' } : {}),
    backchannelLogout,
    backchannelLogoutPath: '/backchannel-logout',
  });

  // Sessions already written to the sessions table by this process: a read stays a read.
  const remembered = new Set<string>();
  /** The device of the request's token; a token without a device (no session) cannot keep notes. */
  const deviceOf = (principal: { deviceKey: string | undefined; sid: string | undefined }) => {
    if (principal.deviceKey === undefined) return undefined;
    if (principal.sid !== undefined && !remembered.has(principal.sid)) {
      store.rememberSession(principal.sid, principal.deviceKey);
      if (remembered.size >= 100_000) remembered.clear();
      remembered.add(principal.sid);
    }
    return principal.deviceKey;
  };
  const noDevice = { error: 'invalid_request', error_description: 'Notes are kept per device: use a token issued to a signed-in device.' };

  app.get('/notes', { onRequest: app.requireToken({ scopes: [READ_SCOPE] }) }, async (request, reply) => {
    const device = deviceOf(request.principal);
    if (device === undefined) return reply.code(400).send(noDevice);
    return { notes: store.list(device) };
  });

  app.post<{ Body: { text: string } }>(
    '/notes',
    { onRequest: app.requireToken({ scopes: [WRITE_SCOPE] }), schema: { body: noteBody } },
    async (request, reply) => {
      const device = deviceOf(request.principal);
      if (device === undefined) return reply.code(400).send(noDevice);
      return reply.code(201).send(store.add(device, request.principal.sub, request.body.text, Date.now()));
    },
  );

  return {
    app,
    introspector,
    store,
    receiver,
    backchannelLogout,
    async close() {
      await receiver?.stop();
      await app.close();
      await introspector.close();
      store.close();
    },
  };
}
