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
import { authorizationCodeGrant } from './grants/authorization-code.ts';
import { clientCredentialsGrant } from './grants/client-credentials.ts';
import { refreshTokenGrant } from './grants/refresh-token.ts';
import { GrantRegistry } from './grants/registry.ts';
import { adminAuditRoutes } from './http/admin/audit.ts';
import { adminAuth } from './http/admin/auth.ts';
import { adminClientRoutes } from './http/admin/clients.ts';
import { adminInitialAccessTokenRoutes } from './http/admin/initial-access-tokens.ts';
import { adminUserRoutes } from './http/admin/users.ts';
import { DirectLane } from './http/direct.ts';
import { DiscoveryRegistry } from './http/discovery-registry.ts';
import { healthRoutes } from './http/health.ts';
import { cookieNames } from './http/html-reply.ts';
import { createMetrics, instrument, type Metrics, RequestObserver } from './http/metrics.ts';
import { AUTHORIZATION_PATH, authorizeRoutes } from './http/public/authorize.ts';
import { INTROSPECTION_PATH, introspectionRoutes } from './http/public/introspect.ts';
import { registrationRoutes } from './http/public/register.ts';
import { REVOCATION_PATH, revocationRoutes } from './http/public/revoke.ts';
import { TOKEN_PATH, tokenRoutes } from './http/public/token.ts';
import { wellKnownRoutes } from './http/public/well-known.ts';
import { BODY_LIMIT, createServer, pinoOptions } from './http/server.ts';
import { Oidc } from './oidc/module.ts';
import { AdminTokenVerifier } from './services/admin-token.ts';
import { AuthorizeService } from './services/authorize.ts';
import { BrowserSessionService } from './services/browser-sessions.ts';
import { ASSERTION_SIGNING_ALGS, ClientAuthenticator } from './services/client-auth.ts';
import { ClientJwks } from './services/client-jwks.ts';
import { ClientService } from './services/clients.ts';
import { InteractionSealer } from './services/interaction.ts';
import { MemoryLoginThrottle, RedisLoginThrottle } from './services/login-throttle.ts';
import { Maintenance } from './services/maintenance.ts';
import { createOutbound, type Outbound } from './services/outbound.ts';
import { RegistrationService, registrationLimits } from './services/registration.ts';
import { MemoryRequestBudget, RedisRequestBudget } from './services/request-budget.ts';
import { type SessionEvents, SessionService } from './services/sessions.ts';
import { type UserEvents, UserService } from './services/users.ts';
import { type DatabaseHandle, migrateToLatest, openDatabase, pendingMigrations } from './storage/db.ts';
import { createStorage } from './storage/index.ts';
import type { Storage } from './storage/repositories.ts';

export interface LatchOptions {
  clock?: Clock;
  /** false silences logs (tests); otherwise pino at config.log.level. */
  logger?: boolean;
  /** Where JSON log lines go instead of stdout (tests capture them). */
  logStream?: { write(line: string): unknown };
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
  /** Starts and ends sessions (devices); `end` revokes all their tokens and emits session events. */
  sessions: SessionService;
  /** SSRF-safe outgoing HTTP (jwks_uri; back-channel deliveries may share it). */
  outbound: Outbound;
  /** OpenID Connect: ID tokens, userinfo, logout, back-channel logout via the outbox, key rotation. */
  oidc: Oidc;
  publicApp: FastifyInstance;
  /** Token and introspection requests answered on node:http before fastify (http/direct.ts). */
  directLane: DirectLane;
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
    backgroundCheckpoints: true,
    ...(options.pgSchema ? { pgSchema: options.pgSchema } : {}),
  });
  try {
    if (config.database.autoMigrate) await migrateToLatest(db);
    else {
      const pending = await pendingMigrations(db);
      if (pending.length > 0) {
        throw new Error(
          `database.autoMigrate: the database is not migrated (pending: ${pending.join(', ')}); run \`latch migrate\` first, or set database.autoMigrate to true`,
        );
      }
    }
    const storage = createStorage(db);
    const keys = new KeyStore({
      repo: storage.signingKeys,
      encryptionKey: config.keys.encryptionKey,
      clock,
      retireGraceSeconds: Math.max(config.tokens.idTokenTtl, config.tokens.accessTokenTtl) + 300,
      claimBootstrap: () => storage.settings.addIfAbsent('signing_keys_bootstrap', 'claimed', clock()),
    });
    await keys.ensureInitialKeys();
    const admin = await AdminTokenVerifier.init({ configured: config.admin.token, settings: storage.settings, clock });
    const metrics = createMetrics(db, { defaultMetrics: options.defaultMetrics ?? false });
    const clients = new ClientService(storage, clock, { allowLoopback: config.outbound.allowLoopback });

    const logger = options.logger === false ? false : { ...pinoOptions(config.log.level), ...(options.logStream ? { stream: options.logStream } : {}) };
    const serverOptions = { logger, logRequests: config.log.requests, trustProxy: config.public.trustProxy };

    // Shared rate limits across processes when Redis is configured; in memory otherwise.
    const redis = config.redis.url ? new Redis(config.redis.url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: false }) : undefined;
    redis?.on('error', () => {});
    // Commands sent before the connection is up fail at once (no offline queue), and the limits skip
    // them: wait briefly for Redis so the first requests after a start are counted too.
    if (redis) await waitForRedis(redis, 3000);

    const publicObserver = new RequestObserver(metrics, 'public');
    // Token and introspection requests are answered on node:http before fastify (http/direct.ts).
    const directLane = new DirectLane({
      bodyLimit: BODY_LIMIT,
      logRequests: config.log.requests,
      trustProxy: config.public.trustProxy,
      realm: config.issuer,
      observer: publicObserver,
    });
    const publicApp = createServer({ ...serverOptions, realm: config.issuer, direct: directLane });
    instrument(publicApp, publicObserver);
    // Routes opt in with `config: { rateLimit: {...} }` (registration; the token endpoint counts in its
    // own RequestBudget because the direct lane runs outside fastify, the login form in its throttle).
    // Only a refused request says when to come back (Retry-After); X-RateLimit-* headers on every
    // response would cost time on the hot path and tell callers about other clients' budgets.
    await publicApp.register(rateLimit, {
      global: false,
      addHeadersOnExceeding: { 'x-ratelimit-limit': false, 'x-ratelimit-remaining': false, 'x-ratelimit-reset': false },
      addHeaders: { 'x-ratelimit-limit': false, 'x-ratelimit-remaining': false, 'x-ratelimit-reset': false, 'retry-after': true },
      ...(redis ? { redis, nameSpace: 'latch-rl:', skipOnError: true } : {}),
    });
    const discovery = new DiscoveryRegistry();
    wellKnownRoutes(publicApp, { issuer: config.issuer, discovery, keys });
    const registration = new RegistrationService({
      storage,
      clients,
      clock,
      policy: config.registration.policy,
      limits: registrationLimits(config.registration),
    });
    registrationRoutes(publicApp, { registration, issuer: config.issuer, discovery, perIpPerMinute: config.rateLimit.registerPerIp });

    // Front channel: authorization endpoint, login and consent pages, SSO browser session.
    const loginLimits = { perIp: config.rateLimit.loginPerIp, perUsername: config.rateLimit.loginPerUsername, window: config.rateLimit.loginWindow };
    const loginThrottle = redis
      ? new RedisLoginThrottle(redis, loginLimits, clock, 'latch-login:', (err) =>
          publicApp.log.warn({ err: (err as Error).message }, 'login throttle: Redis unavailable'),
        )
      : new MemoryLoginThrottle(loginLimits, clock);
    const interactions = await InteractionSealer.init({ settings: storage.settings, clock });
    const browserSessions = new BrowserSessionService(storage, clock, config.sessions.browserSessionTtl);
    const outbound = createOutbound({ allowLoopback: config.outbound.allowLoopback, timeoutMs: config.outbound.timeoutMs });
    const oidc = new Oidc({ config, storage, keys, clock, outbound, log: publicApp.log });
    const authorize = new AuthorizeService({
      repos: storage,
      browserSessions,
      interactions,
      throttle: loginThrottle,
      idTokenHints: oidc.idTokens,
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

    // Back channel: token, introspection and revocation endpoints.
    // Who hears of a session's start and end, and of account changes, inside the transaction that
    // makes the change (services/sessions.ts, services/users.ts): each listener enqueues outbox rows.
    const sessionListeners: SessionEvents[] = [oidc.sessionEvents];
    const userListeners: UserEvents[] = [];
    const sessions = new SessionService(sessionListeners);
    const users = new UserService(storage, clock, sessions, userListeners);
    const clientJwks = new ClientJwks(outbound, clock);
    const clientAuth = new ClientAuthenticator({
      clients: storage.clients,
      assertionJtis: storage.clientAssertionJtis,
      jwks: clientJwks,
      issuer: config.issuer,
      tokenEndpoint: `${config.issuer}${TOKEN_PATH}`,
      clock,
    });
    // Verified credentials are cached for a few seconds; a change made in this process drops them at once.
    clients.onChange((clientId) => {
      clientAuth.invalidate(clientId);
      clientJwks.invalidate(clientId);
    });
    const tokenLimits = { limit: config.rateLimit.tokenPerClient, window: 60 };
    const tokenBudget = redis
      ? new RedisRequestBudget(redis, tokenLimits, clock, 'latch-rl:', (err) =>
          publicApp.log.warn({ err: (err as Error).message }, 'token rate limit: Redis unavailable'),
        )
      : new MemoryRequestBudget(tokenLimits, clock);
    const grants = new GrantRegistry().register(authorizationCodeGrant).register(refreshTokenGrant).register(clientCredentialsGrant);
    const lifetimes = { accessTokenTtl: config.tokens.accessTokenTtl, refreshTokenTtl: config.tokens.refreshTokenTtl };
    tokenRoutes(
      publicApp,
      {
        issuer: config.issuer,
        grants,
        // idTokens: the OpenID Connect ID token minter plugs in here (grants/types.ts IdTokenMinter).
        grantDeps: { storage, clock, lifetimes, sessions, idTokens: oidc.idTokens },
        clientAuth,
        clock,
        budget: tokenBudget,
      },
      directLane,
    );
    introspectionRoutes(
      publicApp,
      {
        accessTokens: storage.accessTokens,
        refreshTokens: storage.refreshTokens,
        sessions: storage.sessions,
        users: storage.users,
        issuer: config.issuer,
        clock,
        clientAuth,
      },
      directLane,
    );
    revocationRoutes(publicApp, { storage, sessions, clock, issuer: config.issuer, clientAuth });
    oidc.publicRoutes(publicApp, discovery, {
      browserSessions,
      interactions,
      cookies: cookieNames(config.issuer),
      endSession: (repos, session, reason, now) => sessions.end(repos, session, reason, now),
    });
    const credentialMethods = ['client_secret_basic', 'client_secret_post', 'private_key_jwt'];
    discovery.add({
      token_endpoint: `${config.issuer}${TOKEN_PATH}`,
      grant_types_supported: grants.grantTypes(),
      token_endpoint_auth_methods_supported: [...credentialMethods, 'none'],
      token_endpoint_auth_signing_alg_values_supported: [...ASSERTION_SIGNING_ALGS],
      introspection_endpoint: `${config.issuer}${INTROSPECTION_PATH}`,
      introspection_endpoint_auth_methods_supported: credentialMethods,
      introspection_endpoint_auth_signing_alg_values_supported: [...ASSERTION_SIGNING_ALGS],
      revocation_endpoint: `${config.issuer}${REVOCATION_PATH}`,
      revocation_endpoint_auth_methods_supported: [...credentialMethods, 'none'],
      revocation_endpoint_auth_signing_alg_values_supported: [...ASSERTION_SIGNING_ALGS],
      code_challenge_methods_supported: ['S256'],
    });
    healthRoutes(publicApp, { ping: () => storage.ping() });

    const adminApp = createServer({ ...serverOptions, trustProxy: false });
    instrument(adminApp, new RequestObserver(metrics, 'admin'));
    adminAuth(adminApp, admin.verifier);
    healthRoutes(adminApp, { ping: () => storage.ping() });
    adminApp.get('/metrics', async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
    adminUserRoutes(adminApp, { users });
    adminClientRoutes(adminApp, { clients });
    adminInitialAccessTokenRoutes(adminApp, { registration, clock });
    adminAuditRoutes(adminApp, { audit: storage.audit });
    oidc.adminRoutes(adminApp);

    const maintenance = new Maintenance(
      storage,
      sessions,
      clock,
      { intervalSeconds: config.maintenance.interval, retentionSeconds: config.maintenance.retention, sessionIdleSeconds: config.sessions.idleTtl },
      (err) => publicApp.log.warn({ err: (err as Error).message }, 'clean-up of expired rows failed'),
    );

    let closed = false;
    return {
      config,
      db,
      storage,
      keys,
      metrics,
      users,
      clients,
      sessions,
      outbound,
      oidc,
      publicApp,
      directLane,
      adminApp,
      ...(redis ? { redis } : {}),
      ...(admin.generated ? { generatedAdminToken: admin.generated } : {}),
      async listen() {
        const publicUrl = await publicApp.listen({ host: config.public.host, port: config.public.port });
        const adminUrl = await adminApp.listen({ host: config.admin.host, port: config.admin.port });
        oidc.start();
        maintenance.start();
        return { publicUrl, adminUrl };
      },
      async close() {
        if (closed) return;
        closed = true;
        // Stop accepting, let in-flight requests finish, then close the database.
        await Promise.all([publicApp.close(), adminApp.close()]);
        redis?.disconnect();
        await oidc.stop();
        await maintenance.stop();
        await outbound.close();
        await storage.close();
      },
    };
  } catch (err) {
    await db.close().catch(() => {});
    throw err;
  }
}

/** Resolves when Redis is ready or after `timeoutMs`; Latch then runs with limits that skip Redis errors. */
function waitForRedis(redis: Redis, timeoutMs: number): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      redis.off('ready', done);
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    redis.once('ready', done);
  });
}
