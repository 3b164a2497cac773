/**
 * OpenID Connect, assembled: ID tokens for the grants, userinfo, RP-initiated logout,
 * back-channel logout through the outbox and its dispatcher, signing key rotation, their admin API
 * and discovery metadata. latch.ts creates this once and plugs its ports into the OAuth core:
 * `sessionEvents` into the session service, `idTokens` into the grants.
 */
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { LatchConfig } from '../config/schema.ts';
import { type KeyStore, SIGNING_ALGS } from '../crypto/keys.ts';
import type { Clock } from '../domain/clock.ts';
import { HTTP_POST_KIND, OutboxDispatcher, renderHttpPost, senderFrom } from '../events/dispatcher.ts';
import { adminEventRoutes } from '../http/admin/events.ts';
import { adminKeyRoutes } from '../http/admin/keys.ts';
import type { DiscoveryRegistry } from '../http/discovery-registry.ts';
import type { CookieNames } from '../http/html-reply.ts';
import { LOGOUT_PATH, logoutRoutes } from '../http/public/logout.ts';
import { USERINFO_PATH, userInfoRoutes } from '../http/public/userinfo.ts';
import type { BrowserSessionService } from '../services/browser-sessions.ts';
import type { InteractionSealer } from '../services/interaction.ts';
import type { Outbound } from '../services/outbound.ts';
import type { FinishReason, Repositories, Session, Storage } from '../storage/repositories.ts';
import { BACKCHANNEL_LOGOUT_KIND, BackchannelLogout, logoutTokenRenderer } from './backchannel-logout.ts';
import { CLAIMS_SUPPORTED, OIDC_SCOPES } from './claims.ts';
import { IdTokenService } from './id-token.ts';
import { KeyMaintenance, KeyRotation } from './key-rotation.ts';
import { LogoutService } from './logout.ts';
import { UserInfoService } from './userinfo.ts';

export interface OidcDeps {
  config: LatchConfig;
  storage: Storage;
  keys: KeyStore;
  clock: Clock;
  outbound: Pick<Outbound, 'safeFetch'>;
  log: FastifyBaseLogger;
}

export interface OidcFrontChannel {
  browserSessions: Pick<BrowserSessionService, 'current'>;
  interactions: Pick<InteractionSealer, 'newCsrfCookie' | 'csrfToken' | 'verifyCsrf'>;
  cookies: CookieNames;
  /** The session service's `end` (SessionService.end), which emits the session events below. */
  endSession(repos: Repositories, session: Session, reason: FinishReason, now: number): Promise<boolean>;
}

export class Oidc {
  /** SessionEvents port: queues back-channel logout tokens in the session-ending transaction. */
  readonly sessionEvents: BackchannelLogout;
  /** IdTokenMinter port for the code and refresh grants. */
  readonly idTokens: IdTokenService;
  readonly dispatcher: OutboxDispatcher;
  readonly keyRotation: KeyRotation;
  private readonly maintenance: KeyMaintenance;
  private cleanupTimer: NodeJS.Timeout | undefined;

  constructor(private readonly deps: OidcDeps) {
    const { config, storage, keys, clock } = deps;
    const outboxLog = deps.log.child({ component: 'outbox' });
    this.dispatcher = new OutboxDispatcher({
      outbox: storage.outbox,
      renderers: {
        [BACKCHANNEL_LOGOUT_KIND]: logoutTokenRenderer({ issuer: config.issuer, keys, clock }),
        [HTTP_POST_KIND]: renderHttpPost,
      },
      send: senderFrom(deps.outbound),
      clock,
      backoff: { baseMs: config.outbox.retryBase, maxMs: config.outbox.retryMax, maxAttempts: config.outbox.maxAttempts },
      pollIntervalMs: config.outbox.pollInterval,
      timeoutMs: config.outbound.timeoutMs,
      log: outboxLog,
    });
    this.sessionEvents = new BackchannelLogout({ onEnqueued: () => this.dispatcher.wake() });
    this.idTokens = new IdTokenService({ issuer: config.issuer, keys, clock, ttlSeconds: config.tokens.idTokenTtl });
    this.keyRotation = new KeyRotation({
      keys,
      repo: storage.signingKeys,
      audit: storage.audit,
      clock,
      schedule: { rotationInterval: config.keys.rotationInterval, promoteAfter: config.keys.promoteAfter },
    });
    this.maintenance = new KeyMaintenance(this.keyRotation, 60_000, (err) =>
      deps.log.warn({ err: (err as Error).message }, 'signing keys: scheduled maintenance failed'),
    );
  }

  /** Public endpoints (userinfo, end_session) and their discovery metadata (OIDC Discovery §3, the logout specs). */
  publicRoutes(app: FastifyInstance, discovery: DiscoveryRegistry, front: OidcFrontChannel): void {
    const { config, storage, clock } = this.deps;
    userInfoRoutes(app, { userinfo: new UserInfoService({ repos: storage, clock }), realm: config.issuer });
    const logout = new LogoutService({
      repos: storage,
      transaction: (work) => storage.transaction(work),
      browserSessions: front.browserSessions,
      idTokens: this.idTokens,
      endSession: front.endSession,
      clock,
    });
    logoutRoutes(app, { logout, interactions: front.interactions, cookies: front.cookies });
    discovery.add({
      userinfo_endpoint: `${config.issuer}${USERINFO_PATH}`,
      end_session_endpoint: `${config.issuer}${LOGOUT_PATH}`,
      scopes_supported: [...OIDC_SCOPES],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: [...SIGNING_ALGS],
      claims_supported: [...CLAIMS_SUPPORTED],
      claims_parameter_supported: false,
      // Back-Channel Logout §2.1; every logout token carries `sid`, and so does every ID token.
      backchannel_logout_supported: true,
      backchannel_logout_session_supported: true,
    });
  }

  adminRoutes(app: FastifyInstance): void {
    adminEventRoutes(app, { outbox: this.deps.storage.outbox, clock: this.deps.clock, onRetry: () => this.dispatcher.wake(0) });
    adminKeyRoutes(app, { rotation: this.keyRotation });
  }

  /** Background work: the outbox dispatcher (when enabled), the key schedule, cleanup of delivered events. */
  start(): void {
    const { config, storage, clock } = this.deps;
    if (config.outbox.dispatcher) this.dispatcher.start();
    this.maintenance.start();
    this.cleanupTimer = setInterval(() => {
      storage.outbox.cleanup(clock() - config.outbox.retention * 1000).catch(() => {});
    }, 3600_000);
    this.cleanupTimer.unref();
  }

  /** Waits for deliveries in flight and hands back leases; call before the database closes. */
  async stop(): Promise<void> {
    clearInterval(this.cleanupTimer);
    await Promise.all([this.dispatcher.stop(), this.maintenance.stop()]);
  }
}
