/**
 * Composition root: builds storage, keys, services and the two listeners from a configuration.
 * Nothing else creates these pieces; tests boot the same composed server.
 */
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import type { LatchConfig } from './config/schema.ts';
import { KeyStore } from './crypto/keys.ts';
import { type Clock, systemClock } from './domain/clock.ts';
import { adminAuditRoutes } from './http/admin/audit.ts';
import { adminAuth } from './http/admin/auth.ts';
import { adminClientRoutes } from './http/admin/clients.ts';
import { adminInitialAccessTokenRoutes } from './http/admin/initial-access-tokens.ts';
import { adminUserRoutes } from './http/admin/users.ts';
import { DiscoveryRegistry } from './http/discovery-registry.ts';
import { healthRoutes } from './http/health.ts';
import { createMetrics, instrument, type Metrics } from './http/metrics.ts';
import { AUTHORIZATION_PATH, authorizeRoutes } from './http/public/authorize.ts';
import { registrationRoutes } from './http/public/register.ts';
import { wellKnownRoutes } from './http/public/well-known.ts';
import { cookieNames } from './http/html-reply.ts';
import { createServer, pinoOptions } from './http/server.ts';
import { AdminTokenVerifier } from './services/admin-token.ts';
import { AuthorizeService } from './services/authorize.ts';
import { BrowserSessionService } from './services/browser-sessions.ts';
import { ClientService } from './services/clients.ts';
import { InteractionSealer } from './services/interaction.ts';
import { MemoryLoginThrottle, RedisLoginThrottle } from './services/login-throttle.ts';
import { RegistrationService } from './services/registration.ts';
import { UserService } from './services/users.ts';
import { type DatabaseHandle, migrateToLatest, openDatabase } from './storage/db.ts';
import { createStorage } from './storage/index.ts';
import type { Storage } from './storage/repositories.ts';

export interface LatchOptions {
  clock?: Clock;
  /** false silences logs (tests); otherwise pino at config.log.level. */
  logger?: boolean;
  /** PostgreSQL schema to run in (tests). */
  pgSchema?: string;
  /** Register process-wide default metrics (off in tests that build several instances). */
  defaultMetrics?: boolean;
}

export interface Latch {
  config: LatchConfig;
  db: DatabaseHandle;
  storage: Storage;
  keys: KeyStore;
  metrics: Metrics;
  users: UserService;
  clients: ClientService;
  publicApp: FastifyInstance;
  adminApp: FastifyInstance;
  /** Shared Redis connection when `redis.url` is configured. */
  redis?: Redis;
  /** Set when this start generated the admin token (print it once). */
  generatedAdminToken?: string;
  listen(): Promise<{ publicUrl: string; adminUrl: string }>;
  close(): Promise<void>;
}

export async function createLatch(config: LatchConfig, options: LatchOptions = {}): Promise<Latch> {
  const clock = options.clock ?? systemClock;
  const db = openDatabase({
    url: config.database.url,
    poolSize: config.database.poolSize,
    sqliteSynchronous: config.database.sqliteSynchronous,
    ...(options.pgSchema ? { pgSchema: options.pgSchema } : {}),
  });
  try {
    if (config.database.autoMigrate) await migrateToLatest(db);
    const storage = createStorage(db);
    const keys = new KeyStore({
      repo: storage.signingKeys,
      encryptionKey: config.keys.encryptionKey,
      clock,
      retireGraceSeconds: Math.max(config.tokens.idTokenTtl, config.tokens.accessTokenTtl) + 300,
    });
    await keys.ensureInitialKeys();
    const admin = await AdminTokenVerifier.init({ configured: config.admin.token, settings: storage.settings, clock });
    const metrics = createMetrics(db, { defaultMetrics: options.defaultMetrics ?? false });
    const users = new UserService(storage, clock);
    const clients = new ClientService(storage, clock);

    const logger = options.logger === false ? false : pinoOptions(config.log.level);
    const serverOptions = { logger, logRequests: config.log.requests, trustProxy: config.public.trustProxy };

    // Shared rate limits across processes when Redis is configured; in memory otherwise.
    const redis = config.redis.url ? new Redis(config.redis.url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: false }) : undefined;
    redis?.on('error', () => {});

    const publicApp = createServer({ ...serverOptions, realm: config.issuer });
    instrument(publicApp, metrics, 'public');
    // Routes opt in with `config: { rateLimit: {...} }` (the token endpoint, the login form).
    await publicApp.register(rateLimit, { global: false, ...(redis ? { redis, nameSpace: 'latch-rl:', skipOnError: true } : {}) });
    const discovery = new DiscoveryRegistry();
    wellKnownRoutes(publicApp, { issuer: config.issuer, discovery, keys });
    const registration = new RegistrationService({ storage, clients, clock, policy: config.registration.policy });
    registrationRoutes(publicApp, { registration, issuer: config.issuer, discovery });

    // Front channel: authorization endpoint, login and consent pages, SSO browser session (issue 3/4).
    const loginLimits = { perIp: config.rateLimit.loginPerIp, perUsername: config.rateLimit.loginPerUsername, window: config.rateLimit.loginWindow };
    const loginThrottle = redis
      ? new RedisLoginThrottle(redis, loginLimits, clock, 'latch-login:', (err) => publicApp.log.warn({ err: (err as Error).message }, 'login throttle: Redis unavailable'))
      : new MemoryLoginThrottle(loginLimits, clock);
    const interactions = await InteractionSealer.init({ settings: storage.settings, clock });
    const browserSessions = new BrowserSessionService(storage, clock, config.sessions.browserSessionTtl);
    const authorize = new AuthorizeService({
      repos: storage,
      browserSessions,
      interactions,
      throttle: loginThrottle,
      keys,
      clock,
      issuer: config.issuer,
      authorizationCodeTtl: config.tokens.authorizationCodeTtl,
      scopeDescriptions: config.scopes.descriptions,
    });
    authorizeRoutes(publicApp, { authorize, interactions, cookies: cookieNames(config.issuer) });
    discovery.add({
      authorization_endpoint: `${config.issuer}${AUTHORIZATION_PATH}`,
      response_types_supported: ['code'],
      response_modes_supported: ['query', 'fragment', 'form_post'],
      // RFC 9207 §3
      authorization_response_iss_parameter_supported: true,
      code_challenge_methods_supported: ['S256'],
      prompt_values_supported: ['none', 'login', 'consent'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      // OIDC Discovery §3: request_uri_parameter_supported defaults to true, so say that it is not.
      request_parameter_supported: false,
      request_uri_parameter_supported: false,
    });
    healthRoutes(publicApp, { ping: () => storage.ping() });

    const adminApp = createServer({ ...serverOptions, trustProxy: false });
    instrument(adminApp, metrics, 'admin');
    adminAuth(adminApp, admin.verifier);
    healthRoutes(adminApp, { ping: () => storage.ping() });
    adminApp.get('/metrics', async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
    adminUserRoutes(adminApp, { users });
    adminClientRoutes(adminApp, { clients });
    adminInitialAccessTokenRoutes(adminApp, { registration, clock });
    adminAuditRoutes(adminApp, { audit: storage.audit });

    let closed = false;
    return {
      config,
      db,
      storage,
      keys,
      metrics,
      users,
      clients,
      publicApp,
      adminApp,
      ...(redis ? { redis } : {}),
      ...(admin.generated ? { generatedAdminToken: admin.generated } : {}),
      async listen() {
        const publicUrl = await publicApp.listen({ host: config.public.host, port: config.public.port });
        const adminUrl = await adminApp.listen({ host: config.admin.host, port: config.admin.port });
        return { publicUrl, adminUrl };
      },
      async close() {
        if (closed) return;
        closed = true;
        // Stop accepting, let in-flight requests finish, then close the database.
        await Promise.all([publicApp.close(), adminApp.close()]);
        redis?.disconnect();
        await storage.close();
      },
    };
  } catch (err) {
    await db.close().catch(() => {});
    throw err;
  }
}
