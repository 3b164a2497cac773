/**
 * The Shared Signals receiver (SSF 1.0): manages the API's stream at Latch (stream.ts), takes SETs
 * by push (RFC 8935, `handlePush`) or poll (RFC 8936, poller.ts), verifies each (set-verifier.ts),
 * refuses replays by `jti`, and applies them: session-revoked evicts by `sid`, token-revoked by
 * `jti`, credential-change / account-disabled / account-purged by `sub`; then the callbacks.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { EvictBy } from '../cache/introspection-cache.ts';
import type { ReceiverCallbacks } from '../effects.ts';
import { textMap } from '../effects.ts';
import { AuthorityUnavailableError } from '../errors.ts';
import type { Introspector } from '../introspector.ts';
import { deviceKeyOf } from '../principal.ts';
import { MemoryReplayGuard, type ReplayGuard } from '../store.ts';
import {
  ACCOUNT_DISABLED,
  ACCOUNT_PURGED,
  CREDENTIAL_CHANGE,
  EVENTS_REQUESTED,
  SESSION_REVOKED,
  STREAM_UPDATED,
  shortName,
  subjectParts,
  TOKEN_REVOKED,
  VERIFICATION,
} from './events.ts';
import { Poller } from './poller.ts';
import { SetError, type SetErrorCode, type VerifiedSet, verifySet } from './set-verifier.ts';
import { StreamClient, type StreamConfiguration } from './stream.ts';

export const PUSH_METHOD = 'urn:ietf:rfc:8935';
export const POLL_METHOD = 'urn:ietf:rfc:8936';
export const SET_CONTENT_TYPE = 'application/secevent+jwt';
/** Largest push body accepted; a SET is a few kilobytes. */
export const MAX_SET_BYTES = 64 * 1024;

export type Delivery =
  | {
      method: 'push';
      /** Where Latch posts SETs: this API's public URL of the mounted push route. */
      endpointUrl: string;
      /**
       * The Authorization header value Latch must send (set in the stream at `ensureStream`);
       * required of every push when set. The same value in every process of the API.
       */
      authorizationHeader?: string;
    }
  | { method: 'poll'; maxEvents?: number; longPollTimeoutMs?: number };

export interface ReceiverOptions extends ReceiverCallbacks {
  introspector: Introspector;
  delivery: Delivery;
  /** The SET `aud` to require; default the stream's `aud` (read from Latch), else the client_id. */
  audience?: string | string[];
  /** Oldest SET still acted upon (by `iat`), ms; default 24 h. Also how long `jti`s are remembered. */
  maxEventAgeMs?: number;
  /** Tolerated clock difference with Latch, ms (default 60 s). */
  clockSkewMs?: number;
  /** Replay memory; default the introspector's shared store when it has one, else in memory. */
  replay?: ReplayGuard;
  /** Scope of the stream management token (SSF: `ssf.manage`). */
  scope?: string;
  description?: string;
  /** How long ensureStream waits for its verification SET, ms (default 10 s). */
  verificationTimeoutMs?: number;
  /** Errors that are not answered to anyone (a callback threw, a poll failed). */
  onError?: (err: unknown) => void;
}

export type ProcessResult =
  | { outcome: 'applied' | 'duplicate'; set: VerifiedSet }
  | { outcome: 'rejected'; code: SetErrorCode; description: string }
  | { outcome: 'failed'; error: unknown };

export interface PushRequest {
  contentType: string | undefined;
  authorization: string | undefined;
  body: string | Buffer;
}

export interface PushReply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export class Receiver {
  private readonly streams: StreamClient;
  private readonly replay: ReplayGuard;
  private readonly pendingVerifications = new Map<string, () => void>();
  private stream: StreamConfiguration | undefined;
  private audiencePromise: Promise<string | string[]> | undefined;
  private poller: Poller | undefined;

  constructor(private readonly options: ReceiverOptions) {
    const authority = options.introspector.authority;
    this.streams = new StreamClient(authority, options.scope ?? 'ssf.manage');
    this.replay = options.replay ?? options.introspector.store ?? new MemoryReplayGuard(authority.clock);
  }

  /** The stream this receiver uses, once ensureStream has run. */
  get streamConfiguration(): StreamConfiguration | undefined {
    return this.stream;
  }

  /**
   * Creates the API's stream at Latch, or reuses the one it already has (same delivery method and,
   * for push, the same endpoint), asks for the events this SDK acts on, and runs a verification
   * (SSF §8.1.4): resolves once the verification SET came back through the delivery. In poll mode
   * this also starts polling.
   */
  async ensureStream(options: { verify?: boolean } = {}): Promise<StreamConfiguration> {
    const d = this.options.delivery;
    const delivery: Record<string, unknown> =
      d.method === 'push'
        ? { method: PUSH_METHOD, endpoint_url: d.endpointUrl, ...(d.authorizationHeader ? { authorization_header: d.authorizationHeader } : {}) }
        : { method: POLL_METHOD };
    this.stream = await this.streams.ensure({
      delivery,
      matches: (s) => this.isOurs(s),
      eventsRequested: [...EVENTS_REQUESTED],
      description: this.options.description ?? 'API receiver (@latch/resource-server)',
    });
    if (this.options.audience === undefined && this.stream.aud !== undefined) this.audiencePromise = Promise.resolve(this.stream.aud);
    if (d.method === 'poll') this.startPolling();
    if (options.verify !== false) await this.verify();
    return this.stream;
  }

  /** Asks Latch for a verification SET and waits for it (skipped when Latch says it is too soon). */
  async verify(): Promise<void> {
    const stream = this.requireStream();
    const state = randomBytes(16).toString('base64url');
    const timeoutMs = this.options.verificationTimeoutMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    const arrived = new Promise<void>((resolve, reject) => {
      this.pendingVerifications.set(state, resolve);
      timer = setTimeout(() => {
        const how = this.options.delivery.method === 'push' ? `is ${this.options.delivery.endpointUrl} reachable from Latch?` : 'is polling working?';
        reject(new Error(`Shared Signals verification: no verification SET within ${timeoutMs} ms (${how})`));
      }, timeoutMs);
    });
    try {
      const sent = await this.streams.requestVerification(stream.stream_id, state);
      if (sent) await arrived;
    } finally {
      clearTimeout(timer);
      this.pendingVerifications.delete(state);
    }
  }

  /** Starts the RFC 8936 poll loop (ensureStream does it in poll mode). */
  startPolling(): void {
    if (this.poller) return;
    const stream = this.requireStream();
    const endpoint = stream.delivery?.endpoint_url;
    if (typeof endpoint !== 'string') throw new Error('the poll stream has no delivery.endpoint_url');
    const d = this.options.delivery;
    this.poller = new Poller({
      endpoint,
      token: () => this.streams.token(),
      tokenRefused: () => this.streams.dropToken(),
      process: (jwt) => this.process(jwt),
      timeoutMs: this.options.introspector.authority.timeoutMs,
      ...(d.method === 'poll' && d.maxEvents ? { maxEvents: d.maxEvents } : {}),
      ...(d.method === 'poll' && d.longPollTimeoutMs ? { longPollTimeoutMs: d.longPollTimeoutMs } : {}),
      onError: (err) => this.options.onError?.(err),
    });
    this.poller.start();
  }

  async stop(): Promise<void> {
    await this.poller?.stop();
    this.poller = undefined;
  }

  /**
   * RFC 8935 §2: a POST with one SET. 202 when it was applied; 400 with the error code when it is
   * not acceptable (nothing is evicted); 503 when it could not be processed now (the transmitter
   * retries).
   */
  async handlePush(req: PushRequest): Promise<PushReply> {
    const expected = this.options.delivery.method === 'push' ? this.options.delivery.authorizationHeader : undefined;
    if (expected !== undefined && !sameSecret(req.authorization ?? '', expected)) {
      return pushError(401, 'authentication_failed', 'The Authorization header is missing or wrong.');
    }
    const mediaType = req.contentType?.split(';')[0]?.trim().toLowerCase();
    if (mediaType !== SET_CONTENT_TYPE) return pushError(400, 'invalid_request', `Content-Type must be ${SET_CONTENT_TYPE} (RFC 8935 §2.1).`);
    const body = typeof req.body === 'string' ? req.body : req.body.toString('utf8');
    if (Buffer.byteLength(body) > MAX_SET_BYTES) return pushError(400, 'invalid_request', 'The SET is too large.');
    const result = await this.process(body.trim());
    switch (result.outcome) {
      case 'applied':
        return { status: 202, headers: {}, body: '' };
      case 'duplicate':
        return pushError(400, 'invalid_request', 'A SET with this jti was already received.');
      case 'rejected':
        return pushError(400, result.code, result.description);
      case 'failed':
        return {
          status: 503,
          headers: { 'retry-after': '5', 'content-type': 'application/json' },
          body: '{"description":"The SET could not be processed now; retry."}',
        };
    }
  }

  /** Verifies one SET, refuses a replay, applies it. Shared by push and poll. */
  async process(jwt: string): Promise<ProcessResult> {
    const metrics = this.options.introspector.metrics;
    const authority = this.options.introspector.authority;
    let set: VerifiedSet;
    let effects: (() => Promise<void>)[];
    try {
      const transmitter = await authority.ssfMetadata();
      if (typeof transmitter.jwks_uri !== 'string') throw new AuthorityUnavailableError('the transmitter metadata has no jwks_uri');
      set = await verifySet(jwt, {
        keys: authority.jwks(transmitter.jwks_uri),
        issuer: transmitter.issuer,
        audience: await this.audience(),
        now: authority.clock(),
        maxAgeMs: this.maxAgeMs(),
        clockSkewMs: this.options.clockSkewMs ?? 60_000,
      });
      effects = this.effectsOf(set);
    } catch (err) {
      if (err instanceof SetError) {
        metrics.event?.('unknown', 'rejected');
        return { outcome: 'rejected', code: err.code, description: err.message };
      }
      metrics.event?.('unknown', 'failed');
      this.options.onError?.(err);
      return { outcome: 'failed', error: err };
    }
    const types = Object.keys(set.events).map(shortName).join(',');
    if (!(await this.replay.claim(set.jti, this.maxAgeMs() + (this.options.clockSkewMs ?? 60_000)))) {
      metrics.event?.(types, 'duplicate');
      return { outcome: 'duplicate', set };
    }
    try {
      for (const effect of effects) await effect();
    } catch (err) {
      // Forget the jti, so that the retried delivery is applied instead of refused as a replay.
      await this.replay.release(set.jti);
      metrics.event?.(types, 'failed');
      this.options.onError?.(err);
      return { outcome: 'failed', error: err };
    }
    metrics.event?.(types, 'applied', authority.clock() - set.iat * 1000);
    return { outcome: 'applied', set };
  }

  /** Checks every event of the SET and returns what to do; throws SetError before anything happens. */
  private effectsOf(set: VerifiedSet): (() => Promise<void>)[] {
    const issuer = this.options.introspector.authority.issuer;
    const o = this.options;
    const revoke = (by: EvictBy, value: string) => () => this.options.introspector.revoke(by, value).then(() => {});
    const out: (() => Promise<void>)[] = [];
    for (const [type, event] of Object.entries(set.events)) {
      // SSF §3: the subject is the SET's sub_id; CAEP drafts put it in the event as `subject`.
      const parts = subjectParts(set.subId ?? event.subject, issuer);
      switch (type) {
        case VERIFICATION: {
          const resolve = typeof event.state === 'string' ? this.pendingVerifications.get(event.state) : undefined;
          out.push(async () => resolve?.());
          break;
        }
        case STREAM_UPDATED:
          out.push(async () =>
            o.onStreamUpdated?.({
              status: typeof event.status === 'string' ? event.status : undefined,
              reason: typeof event.reason === 'string' ? event.reason : undefined,
            }),
          );
          break;
        case SESSION_REVOKED: {
          if (parts.session === undefined && parts.user === undefined)
            throw new SetError('invalid_request', 'session-revoked names no session and no user of this issuer');
          // A session-revoked for a user without a session ends all of that user's sessions (CAEP §3.1).
          out.push(parts.session !== undefined ? revoke('sid', parts.session) : revoke('sub', parts.user as string));
          out.push(async () =>
            o.onSessionEnded?.({
              sub: parts.user,
              sid: parts.session,
              deviceId: parts.device,
              deviceKey: parts.user !== undefined && parts.device !== undefined ? deviceKeyOf(parts.user, parts.device) : undefined,
              clientId: parts.application,
              reason: 'session-revoked',
              initiatingEntity: typeof event.initiating_entity === 'string' ? event.initiating_entity : undefined,
              reasonAdmin: textMap(event.reason_admin),
              reasonUser: textMap(event.reason_user),
              eventId: set.jti,
            }),
          );
          break;
        }
        case TOKEN_REVOKED: {
          const jti = event.jti;
          if (typeof jti !== 'string' || jti === '') throw new SetError('invalid_request', 'token-revoked carries no "jti" member');
          out.push(revoke('jti', jti));
          out.push(async () => o.onTokenRevoked?.({ jti, sid: parts.session, sub: parts.user, eventId: set.jti }));
          break;
        }
        case CREDENTIAL_CHANGE:
        case ACCOUNT_DISABLED:
        case ACCOUNT_PURGED: {
          const sub = parts.user;
          if (sub === undefined) throw new SetError('invalid_request', `${shortName(type)} names no user of this issuer`);
          const name = shortName(type) as 'credential-change' | 'account-disabled' | 'account-purged';
          const callback = type === CREDENTIAL_CHANGE ? o.onCredentialChange : type === ACCOUNT_DISABLED ? o.onAccountDisabled : o.onAccountPurged;
          out.push(revoke('sub', sub));
          out.push(async () => callback?.({ sub, type: name, event, eventId: set.jti }));
          break;
        }
        default:
        // Events this SDK does not act on are accepted and ignored (RFC 8417 §2.2 lets a SET
        // carry events a recipient does not understand).
      }
    }
    return out;
  }

  private maxAgeMs(): number {
    return this.options.maxEventAgeMs ?? 24 * 3600_000;
  }

  private audience(): Promise<string | string[]> {
    if (this.options.audience !== undefined) return Promise.resolve(this.options.audience);
    this.audiencePromise ??= this.streams
      .find((s) => (this.stream !== undefined ? s.stream_id === this.stream.stream_id : this.isOurs(s)))
      .then((s) => s?.aud ?? this.options.introspector.authority.clientId)
      .catch((err) => {
        this.audiencePromise = undefined;
        throw err;
      });
    return this.audiencePromise;
  }

  /** Our stream among the client's: same delivery method and, for push, the same endpoint. */
  private isOurs(s: StreamConfiguration): boolean {
    const d = this.options.delivery;
    return d.method === 'push' ? s.delivery?.method === PUSH_METHOD && s.delivery?.endpoint_url === d.endpointUrl : s.delivery?.method === POLL_METHOD;
  }

  private requireStream(): StreamConfiguration {
    if (!this.stream) throw new Error('call ensureStream() first');
    return this.stream;
  }
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** RFC 8935 §2.3: `{"err": code, "description": text}`. */
function pushError(status: number, err: SetErrorCode, description: string): PushReply {
  return { status, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ err, description }) };
}

export function createReceiver(options: ReceiverOptions): Receiver {
  return new Receiver(options);
}
