/**
 * The outbox dispatcher (docs/architecture.md §4). Events are written to the outbox in the same transaction
 * as the state change that causes them; this loop drains it:
 *
 *   claim due events (a lease in the database: each event goes to exactly one process)
 *   -> render each by kind (e.g. sign a logout token now, so a retry carries a fresh `exp`)
 *   -> POST it with a timeout through the SSRF-safe outbound client (services/outbound.ts)
 *   -> delivered, or retried later with exponential backoff and jitter, or dead-lettered.
 *
 * All state is in the database, so deliveries survive restarts; a stopping dispatcher finishes
 * what it holds and hands back its leases. Nothing a receiver does (4xx, 5xx, timeouts, refused
 * connections, garbage) and no database hiccup can throw out of the loop.
 *
 * Delivery is at least once: a process that dies after the receiver answered but before the
 * outcome was recorded sends the event again after its lease expires. Receivers deduplicate by the
 * event's identity (`jti` for tokens), which stays the same across attempts.
 */
import { hostname } from 'node:os';
import { randomId } from '../crypto/random.ts';
import type { Clock } from '../domain/clock.ts';
import type { OutboxEvent, OutboxRepository } from '../storage/repositories.ts';
import { afterFailure, type BackoffPolicy } from './backoff.ts';

/** An HTTP request to make for an event. */
export interface OutgoingRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
  /** Statuses that mean "delivered"; default: any 2xx. */
  okStatuses?: readonly number[];
}

/** Turns a stored event into a request at delivery time (one per event kind). */
export type EventRenderer = (event: OutboxEvent) => Promise<OutgoingRequest> | OutgoingRequest;

/** POSTs a request; resolves with the status, rejects on network errors, timeouts and refused targets. */
export type HttpSender = (request: { url: string; headers: Record<string, string>; body: string; timeoutMs: number }) => Promise<{ status: number }>;

/** The generic kind: the payload already holds the body (e.g. a pre-signed Security Event Token). */
export const HTTP_POST_KIND = 'http.post';
export const renderHttpPost: EventRenderer = (event) => {
  const p = event.payload as { body?: unknown; contentType?: unknown; headers?: unknown };
  if (typeof p.body !== 'string' || typeof p.contentType !== 'string') throw new Error('payload needs string `body` and `contentType`');
  return { url: event.target, headers: { ...((p.headers as Record<string, string>) ?? {}), 'content-type': p.contentType }, body: p.body };
};

interface Log {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}
const silent: Log = { info() {}, warn() {}, error() {} };

export interface DispatcherOptions {
  outbox: OutboxRepository;
  renderers: Record<string, EventRenderer>;
  send: HttpSender;
  clock: Clock;
  backoff: BackoffPolicy;
  /** How often to look for due events when idle, in milliseconds. */
  pollIntervalMs: number;
  /** Timeout of one delivery, in milliseconds. */
  timeoutMs: number;
  /** Events claimed (and delivered concurrently) per round. */
  batchSize?: number;
  log?: Log;
  random?: () => number;
  /** Identifies this dispatcher in leases; unique per instance. */
  workerId?: string;
}

export interface DeliveryOutcome {
  id: number;
  delivered: boolean;
  dead: boolean;
  error?: string;
}

export class OutboxDispatcher {
  readonly workerId: string;
  private readonly batchSize: number;
  private readonly leaseMs: number;
  private readonly log: Log;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private started = false;
  private wakeRequested = false;

  constructor(private readonly options: DispatcherOptions) {
    this.workerId = options.workerId ?? `${hostname()}:${process.pid}:${randomId(8)}`;
    this.batchSize = options.batchSize ?? 20;
    // A batch is delivered concurrently, so one timeout plus rendering fits comfortably in the lease.
    this.leaseMs = Math.max(30_000, options.timeoutMs * 3);
    this.log = options.log ?? silent;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.schedule(0);
  }

  /** Looks for due events soon (after a commit that enqueued one) instead of at the next poll. */
  wake(delayMs = 20): void {
    if (!this.started) return;
    if (this.running) this.wakeRequested = true;
    else this.schedule(delayMs);
  }

  /** Stops polling, waits for the round in flight, and hands back any lease this process still holds. */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => {});
    await this.options.outbox.releaseLeases(this.workerId).catch(() => {});
  }

  private schedule(delayMs: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tick(), delayMs);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    if (!this.started || this.running) return;
    let claimed = 0;
    const round = this.runOnce().then((outcomes) => {
      claimed = outcomes.length;
    });
    this.running = round;
    try {
      await round;
    } catch (err) {
      // The database is unreachable or similar: log and try again at the next poll.
      this.log.warn({ err: (err as Error).message }, 'outbox: polling failed');
    } finally {
      this.running = undefined;
    }
    // A full batch means there is probably more: go again at once; so does a wake-up that came mid-round.
    const again = claimed >= this.batchSize || this.wakeRequested;
    this.wakeRequested = false;
    if (this.started) this.schedule(again ? 0 : this.options.pollIntervalMs);
  }

  /** One round: claim due events, deliver them concurrently, record the outcomes. */
  async runOnce(): Promise<DeliveryOutcome[]> {
    const now = this.options.clock();
    const events = await this.options.outbox.claimDue({ worker: this.workerId, now, leaseUntil: now + this.leaseMs, limit: this.batchSize });
    return Promise.all(events.map((e) => this.deliver(e)));
  }

  private async deliver(event: OutboxEvent): Promise<DeliveryOutcome> {
    const target = safeTarget(event.target);
    let error: string;
    try {
      const renderer = this.options.renderers[event.kind];
      if (!renderer) throw new Error(`no renderer for event kind "${event.kind}"`);
      const request = await renderer(event);
      const { status } = await this.options.send({ url: request.url, headers: request.headers, body: request.body, timeoutMs: this.options.timeoutMs });
      const ok = request.okStatuses ? request.okStatuses.includes(status) : status >= 200 && status < 300;
      if (ok) {
        const recorded = await this.options.outbox.markDelivered(event.id, this.workerId, this.options.clock());
        if (!recorded) this.log.warn({ event: event.id, kind: event.kind }, 'outbox: delivered, but the lease had passed to another process');
        else this.log.info({ event: event.id, kind: event.kind, target, attempts: event.attempts, status }, 'outbox: delivered');
        return { id: event.id, delivered: true, dead: false };
      }
      error = `HTTP ${status}`;
    } catch (err) {
      error = describeError(err);
    }
    const now = this.options.clock();
    const next = afterFailure(event.attempts, now, this.options.backoff, this.options.random);
    try {
      await this.options.outbox.markFailed(event.id, this.workerId, { error, nextAttemptAt: next.nextAttemptAt, deadAt: next.dead ? now : null });
    } catch (err) {
      // Could not record it: the lease expires and the event is simply tried again.
      this.log.warn({ event: event.id, err: (err as Error).message }, 'outbox: could not record a failed attempt');
    }
    const fields = { event: event.id, kind: event.kind, target, attempts: event.attempts, error };
    if (next.dead) this.log.error(fields, 'outbox: giving up, event dead-lettered (retry with POST /admin/v1/events/{id}/retry)');
    else this.log.warn({ ...fields, retryInMs: next.nextAttemptAt - now }, 'outbox: delivery failed, will retry');
    return { id: event.id, delivered: false, dead: next.dead, error };
  }
}

/** Target for logs: scheme, host and path only (a query could carry something private). */
function safeTarget(target: string): string {
  try {
    const u = new URL(target);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}

/** A short, stable description of a delivery failure (stored as `last_error`, shown in the admin API). */
export function describeError(err: unknown): string {
  const e = err as { name?: string; message?: string; code?: string; reason?: string; cause?: { code?: string } };
  const code = e?.code ?? e?.cause?.code;
  const message = e?.message ?? String(err);
  if (e?.reason === 'timeout' || e?.name === 'TimeoutError' || e?.name === 'AbortError' || /^UND_ERR_(CONNECT|HEADERS|BODY)_TIMEOUT$/.test(code ?? '')) {
    return 'timeout';
  }
  if (code === 'ECONNREFUSED' || /\bECONNREFUSED\b/.test(message)) return 'connection refused';
  return (code && !message.includes(code) ? `${message} (${code})` : message).slice(0, 500);
}

/** The dispatcher's sender on top of the SSRF-safe outbound client (services/outbound.ts `safeFetch`). */
export function senderFrom(outbound: {
  safeFetch(
    url: string,
    init: { method: 'POST'; headers: Record<string, string>; body: string; timeoutMs: number; maxBytes: number },
  ): Promise<{ status: number }>;
}): HttpSender {
  return async ({ url, headers, body, timeoutMs }) => {
    const res = await outbound.safeFetch(url, { method: 'POST', headers, body, timeoutMs, maxBytes: 1024 * 1024 });
    return { status: res.status };
  };
}
