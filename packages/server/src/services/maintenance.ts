/**
 * Periodic clean-up of rows that can no longer matter: access tokens, refresh tokens and
 * authorization codes expired for longer than the retention, and used `private_key_jwt` assertion
 * ids past their expiry. Deleting is safe from any number of processes at once (plain deletes).
 * An expired token is inactive whether or not its row still exists; the retention only keeps a
 * short window in which a late replay of an expired code or refresh token is still recognised.
 */
import type { Clock } from '../domain/clock.ts';
import type { Storage } from '../storage/repositories.ts';
import type { SessionEnder } from './users.ts';

export interface MaintenanceOptions {
  /** Seconds between runs; 0 disables the timer. */
  intervalSeconds: number;
  /** Seconds past expiry before a row is deleted. */
  retentionSeconds: number;
  /** Sessions unused for this many seconds end by policy (reason `idle_timeout`). */
  sessionIdleSeconds: number;
}

/** User sessions ended per run at most (each in its own transaction, with its back-channel logout). */
const SESSIONS_PER_RUN = 500;

export interface CleanupReport {
  accessTokens: number;
  refreshTokens: number;
  authorizationCodes: number;
  clientAssertionJtis: number;
  sessionsExpired: number;
}

export class Maintenance {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;

  constructor(
    private readonly storage: Storage,
    private readonly sessions: SessionEnder,
    private readonly clock: Clock,
    private readonly options: MaintenanceOptions,
    private readonly onError: (err: unknown) => void = () => {},
  ) {}

  async runOnce(): Promise<CleanupReport> {
    const now = this.clock();
    const before = now - this.options.retentionSeconds * 1000;
    return {
      sessionsExpired: await this.expireIdleSessions(now),
      accessTokens: await this.storage.accessTokens.cleanup(before),
      refreshTokens: await this.storage.refreshTokens.cleanup(before),
      authorizationCodes: await this.storage.authorizationCodes.cleanup(before),
      clientAssertionJtis: await this.storage.clientAssertionJtis.cleanup(now),
    };
  }

  /**
   * Expiry by policy (docs/architecture.md §3: session end is the event, token expiry is not): a device unused
   * for `sessionIdleSeconds` ends like any other session, so clients hear of it by back-channel logout.
   * Sessions without a user (client_credentials) have nobody to tell and end in one statement.
   */
  private async expireIdleSessions(now: number): Promise<number> {
    const cutoff = now - this.options.sessionIdleSeconds * 1000;
    let ended = await this.storage.sessions.expireIdleWithoutUser(cutoff, now);
    for (const session of await this.storage.sessions.listIdle(cutoff, SESSIONS_PER_RUN)) {
      if (await this.storage.transaction((repos) => this.sessions.end(repos, session, 'idle_timeout', now))) ended++;
    }
    return ended;
  }

  start(): void {
    if (this.options.intervalSeconds <= 0 || this.timer) return;
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.runOnce()
        .catch(this.onError)
        .finally(() => {
          this.running = undefined;
        });
    }, this.options.intervalSeconds * 1000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
