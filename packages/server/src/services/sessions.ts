/**
 * Sessions are devices (docs/architecture.md §2, §3): one per grant of a user (or per client_credentials
 * request), with a `device_id` that stays the same for the session's life. A session outlives many
 * access tokens; ending it is the event, and it revokes every token issued in it.
 */
import { newDeviceId, newSessionId, type Random, systemRandom } from '../crypto/random.ts';
import { type InitiatingEntity, type SessionEnd, sessionEnd } from '../domain/session-end.ts';
import type { FinishReason, Repositories, Session } from '../storage/repositories.ts';

/**
 * What must happen when a session starts or ends (back-channel logout, Shared Signals, a homeserver's
 * device list). Called inside the transaction that starts or finishes the session, with that
 * transaction's repositories, so an event is recorded exactly when the state change commits
 * (docs/architecture.md §4): a listener enqueues outbox rows, it never calls out itself. A listener
 * that throws rolls the whole change back.
 */
export interface SessionEvents {
  sessionStarted?(repos: Repositories, session: Session, now: number): Promise<void>;
  /** `session` carries the finished state (`finishedAt`, `finishReason`). */
  sessionFinished?(repos: Repositories, session: Session, reason: FinishReason, now: number, end: SessionEnd): Promise<void>;
}

export const noSessionEvents: SessionEvents = {};

/** Several listeners as one, called in order. */
export function allSessionEvents(listeners: readonly SessionEvents[]): SessionEvents {
  return {
    async sessionStarted(repos, session, now) {
      for (const l of listeners) await l.sessionStarted?.(repos, session, now);
    },
    async sessionFinished(repos, session, reason, now, end) {
      for (const l of listeners) await l.sessionFinished?.(repos, session, reason, now, end);
    },
  };
}

export interface StartSessionInput {
  userId: string | null;
  clientId: string;
  browserSessionId: number | null;
  scope: string[];
  authTime: number | null;
  amr: string[] | null;
  acr: string | null;
  parentSid?: string | null;
  now: number;
}

/** Starts a session with a fresh sid and device id. Run it in the transaction that issues its first tokens. */
export async function startSession(
  repos: Repositories,
  input: StartSessionInput,
  random: Random = systemRandom,
  events: SessionEvents = noSessionEvents,
): Promise<Session> {
  const session = await repos.sessions.add({
    sid: newSessionId(input.now, random),
    deviceId: newDeviceId(random),
    userId: input.userId,
    clientId: input.clientId,
    browserSessionId: input.browserSessionId,
    scope: input.scope,
    parentSid: input.parentSid ?? null,
    authTime: input.authTime,
    amr: input.amr,
    acr: input.acr,
    now: input.now,
  });
  await events.sessionStarted?.(repos, session, input.now);
  return session;
}

/**
 * Ends a session and revokes all its access and refresh tokens. `repos` must belong to a
 * transaction (`storage.transaction(repos => endSession(repos, …))`) so the session, its tokens and
 * the events change together. Returns false when the session had already ended (nothing changes).
 * `initiator` defaults to the reason's own (domain/session-end.ts).
 */
export async function endSession(
  repos: Repositories,
  session: Session,
  reason: FinishReason,
  now: number,
  events: SessionEvents = noSessionEvents,
  initiator?: InitiatingEntity,
): Promise<boolean> {
  // Guarded update: of two concurrent ends, exactly one proceeds (and emits the event).
  if (!(await repos.sessions.finish(session.id, reason, now))) return false;
  await repos.accessTokens.revokeBySession(session.id, now);
  await repos.refreshTokens.revokeBySession(session.id, now);
  await events.sessionFinished?.(repos, { ...session, finishedAt: now, finishReason: reason }, reason, now, sessionEnd(reason, initiator));
  return true;
}

/** The composed form: `startSession` and `endSession` with the server's configured listeners. */
export class SessionService {
  private readonly events: SessionEvents;

  constructor(
    events: SessionEvents | readonly SessionEvents[] = noSessionEvents,
    private readonly random: Random = systemRandom,
  ) {
    this.events = Array.isArray(events) ? allSessionEvents(events) : (events as SessionEvents);
  }

  /** See `startSession`: run it in the transaction that issues the session's first tokens. */
  start(repos: Repositories, input: StartSessionInput): Promise<Session> {
    return startSession(repos, input, this.random, this.events);
  }

  /** See `endSession`: `repos` must belong to a transaction. */
  end(repos: Repositories, session: Session, reason: FinishReason, now: number, initiator?: InitiatingEntity): Promise<boolean> {
    return endSession(repos, session, reason, now, this.events, initiator);
  }
}
