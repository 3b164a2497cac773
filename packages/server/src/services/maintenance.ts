/**
 * Periodic clean-up of rows that can no longer matter: access tokens, refresh tokens and
 * authorization codes expired for longer than the retention, and used `private_key_jwt` assertion
 * ids past their expiry. Deleting is safe from any number of processes at once (plain deletes).
 * An expired token is inactive whether or not its row still exists; the retention only keeps a
 * short window in which a late replay of an expired code or refresh token is still recognised.
 */
import type { Clock } from '../domain/clock.ts';
import type { Storage } from '../storage/repositories.ts';

export interface MaintenanceOptions {
  /** Seconds between runs; 0 disables the timer. */
  intervalSeconds: number;
  /** Seconds past expiry before a row is deleted. */
  retentionSeconds: number;
}

export interface CleanupReport {
  accessTokens: number;
  refreshTokens: number;
  authorizationCodes: number;
  clientAssertionJtis: number;
}

export class Maintenance {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;

  constructor(
    private readonly storage: Pick<Storage, 'accessTokens' | 'refreshTokens' | 'authorizationCodes' | 'clientAssertionJtis'>,
    private readonly clock: Clock,
    private readonly options: MaintenanceOptions,
    private readonly onError: (err: unknown) => void = () => {},
  ) {}

  async runOnce(): Promise<CleanupReport> {
    const now = this.clock();
    const before = now - this.options.retentionSeconds * 1000;
    return {
      accessTokens: await this.storage.accessTokens.cleanup(before),
      refreshTokens: await this.storage.refreshTokens.cleanup(before),
      authorizationCodes: await this.storage.authorizationCodes.cleanup(before),
      clientAssertionJtis: await this.storage.clientAssertionJtis.cleanup(now),
    };
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
