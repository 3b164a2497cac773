/** Boots the real composed server (both listeners) on free loopback ports for end-to-end tests. */
import { createServer } from 'node:net';
import { loadConfig } from '../../src/config/load.ts';
import type { Clock } from '../../src/domain/clock.ts';
import { createLatch, type Latch } from '../../src/latch.ts';
import { type Backend, freshDatabase, type TestDatabase } from './backends.ts';

export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdefghijklmnop';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export interface TestLatch {
  latch: Latch;
  backend: Backend;
  issuer: string;
  adminUrl: string;
  database: TestDatabase;
  /** Calls the admin API with the test admin token; returns status and parsed JSON. */
  admin<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T; headers: Headers }>;
  /** Stops the listeners and closes the database (the data stays until drop). */
  stop(): Promise<void>;
  /** stop() and delete the database. */
  close(): Promise<void>;
}

export interface StartOptions {
  /** Dotted config paths, e.g. { 'tokens.accessTokenTtl': 60 }. */
  config?: Record<string, unknown>;
  clock?: Clock;
  /** Reuse an existing database (e.g. to restart on the same data). */
  database?: TestDatabase;
  env?: NodeJS.ProcessEnv;
}

export async function startLatch(backend: Backend, options: StartOptions = {}): Promise<TestLatch> {
  const database = options.database ?? (await freshDatabase(backend));
  const [publicPort, adminPort] = [await freePort(), await freePort()];
  const issuer = `http://127.0.0.1:${publicPort}`;
  const config = loadConfig({
    env: options.env ?? {},
    file: undefined,
    overrides: {
      issuer,
      'public.port': publicPort,
      'admin.port': adminPort,
      'admin.token': ADMIN_TOKEN,
      'database.url': database.url,
      'log.level': 'silent',
      'outbound.allowLoopback': true,
      ...options.config,
    },
  });
  const latch = await createLatch(config, {
    logger: false,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(database.pgSchema ? { pgSchema: database.pgSchema } : {}),
  });
  await latch.listen();
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await latch.close();
  };
  return {
    latch,
    backend,
    issuer,
    adminUrl,
    database,
    async admin(method, path, body) {
      const res = await fetch(adminUrl + path, {
        method,
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
    },
    stop,
    async close() {
      await stop();
      if (!options.database) await database.drop();
    },
  };
}
