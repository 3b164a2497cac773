/**
 * Sessions are devices (docs/architecture.md §2, §3): one per grant of a user (or per client_credentials
 * request), with a `device_id` that stays the same for the session's life. A session outlives many
 * access tokens; ending it is the event, and it revokes every token issued in it.
 */
import { newDeviceId, newSessionId, type Random, systemRandom } from '../crypto/random.ts';
import type { FinishReason, Repositories, Session } from '../storage/repositories.ts';

/**
 * Port for what must happen when a session ends (back-channel logout, Security Event Tokens via the
 * outbox). Called inside the transaction that finishes the session, so an event is recorded exactly
 * when the state change commits (docs/architecture.md §4).
 */
export interface SessionEvents {
  sessionFinished(repos: Repositories, session: Session, reason: FinishReason, now: number): Promise<void>;
}

export const noSessionEvents: SessionEvents = {
  async sessionFinished() {},
};

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
export function startSession(repos: Pick<Repositories, 'sessions'>, input: StartSessionInput, random: Random = systemRandom): Promise<Session> {
  return repos.sessions.add({
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
}

/**
 * Ends a session and revokes all its access and refresh tokens. `repos` must belong to a
 * transaction (`storage.transaction(repos => endSession(repos, …))`) so the session, its tokens and
 * the events change together. Returns false when the session had already ended (nothing changes).
 */
export async function endSession(
  repos: Repositories,
  session: Session,
  reason: FinishReason,
  now: number,
  events: SessionEvents = noSessionEvents,
): Promise<boolean> {
  // Guarded update: of two concurrent ends, exactly one proceeds (and emits the event).
  if (!(await repos.sessions.finish(session.id, reason, now))) return false;
  await repos.accessTokens.revokeBySession(session.id, now);
  await repos.refreshTokens.revokeBySession(session.id, now);
  await events.sessionFinished(repos, { ...session, finishedAt: now, finishReason: reason }, reason, now);
  return true;
}

/** The composed form: `endSession` with the server's configured events. */
export class SessionService {
  constructor(
    private readonly events: SessionEvents = noSessionEvents,
    private readonly random: Random = systemRandom,
  ) {}

  start(repos: Pick<Repositories, 'sessions'>, input: StartSessionInput): Promise<Session> {
    return startSession(repos, input, this.random);
  }

  /** See `endSession`: `repos` must belong to a transaction. */
  end(repos: Repositories, session: Session, reason: FinishReason, now: number): Promise<boolean> {
    return endSession(repos, session, reason, now, this.events);
  }
}
