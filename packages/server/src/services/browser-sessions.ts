/**
 * The SSO browser session (docs/architecture.md §2 `browser_sessions`): a random `lat_bs_…` cookie value of
 * which only the SHA-256 is stored. It keeps a user signed in across authorizations until it
 * expires (`sessions.browserSessionTtl`) or is finished (logout).
 */
import { hashSecret, mintToken } from '../crypto/random.ts';
import type { Clock } from '../domain/clock.ts';
import { checkToken } from '../domain/token-format.ts';
import type { User } from '../domain/user.ts';
import type { BrowserSession, BrowserSessionRepository, UserRepository } from '../storage/repositories.ts';

export interface CurrentBrowserSession {
  session: BrowserSession;
  user: User;
}

export interface SignInResult {
  session: BrowserSession;
  /** Set when a new cookie must be sent (a new browser session). */
  cookie?: { value: string; maxAgeSeconds: number };
}

export class BrowserSessionService {
  constructor(
    private readonly deps: { browserSessions: BrowserSessionRepository; users: UserRepository },
    private readonly clock: Clock,
    private readonly ttlSeconds: number,
  ) {}

  /**
   * The live browser session behind a cookie value, with its user; undefined when the cookie is
   * absent, malformed (rejected by its checksum before any read), unknown, finished, expired, or its
   * user is gone or deactivated.
   */
  async current(cookieValue: string | undefined): Promise<CurrentBrowserSession | undefined> {
    if (!cookieValue || checkToken(cookieValue) !== 'bs') return undefined;
    const session = await this.deps.browserSessions.findByCookieHash(hashSecret(cookieValue));
    if (!session || session.finishedAt !== null || session.expiresAt <= this.clock()) return undefined;
    const user = await this.deps.users.lookup(session.userId);
    if (!user || user.deactivatedAt !== null) return undefined;
    return { session, user };
  }

  /**
   * Records a successful password sign-in. The same user signing in again in the same browser
   * (prompt=login, max_age) re-authenticates the existing session, so the sessions it started stay
   * linked for logout; anyone else gets a new session and a new cookie (no session fixation), and
   * the previous browser session is finished.
   */
  async signIn(user: User, existing: BrowserSession | undefined, amr: string[]): Promise<SignInResult> {
    const now = this.clock();
    if (existing && existing.userId === user.id && existing.finishedAt === null && existing.expiresAt > now) {
      await this.deps.browserSessions.reauthenticate(existing.id, now, amr);
      return { session: { ...existing, authenticatedAt: now, amr, lastActiveAt: now } };
    }
    if (existing && existing.finishedAt === null) await this.deps.browserSessions.finish(existing.id, now);
    const minted = mintToken('bs');
    const session = await this.deps.browserSessions.add({
      cookieHash: minted.hash,
      userId: user.id,
      authenticatedAt: now,
      amr,
      acr: null,
      now,
      expiresAt: now + this.ttlSeconds * 1000,
    });
    return { session, cookie: { value: minted.token, maxAgeSeconds: this.ttlSeconds } };
  }

  touch(session: BrowserSession): Promise<void> {
    return this.deps.browserSessions.touch(session.id, this.clock());
  }
}
