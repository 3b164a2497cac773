import { timingSafeEqual } from 'node:crypto';
import { hashSecret, mintToken } from '../crypto/random.ts';
import type { Clock } from '../domain/clock.ts';
import type { SettingsRepository } from '../storage/repositories.ts';

const SETTING = 'admin_token_sha256';

/** How stale the stored hash may get before a check re-reads it, in ms. */
const RELOAD_AFTER_MS = 5000;
/** A failed check re-reads at once (a token just replaced by `latch admin-token`), at most this often. */
const RELOAD_ON_FAILURE_AFTER_MS = 1000;

/**
 * Admin API credentials. A configured token (admin.token / LATCH_ADMIN_TOKEN) is the only one
 * accepted when set. Otherwise the first start mints one, returns it for printing once, and
 * stores only its SHA-256; with several processes starting together exactly one of them mints it.
 * A stored token replaced by `latch admin-token` takes over in every running process: the new one
 * within a second, and the old one stops within five.
 */
export class AdminTokenVerifier {
  private expected: Buffer | undefined;
  private loadedAt: number;

  private constructor(
    expected: Buffer | undefined,
    private readonly stored?: { settings: SettingsRepository; clock: Clock },
  ) {
    this.expected = expected;
    this.loadedAt = stored ? stored.clock() : 0;
  }

  static async init(options: {
    configured: string | undefined;
    settings: SettingsRepository;
    clock: Clock;
  }): Promise<{ verifier: AdminTokenVerifier; generated?: string }> {
    if (options.configured) return { verifier: new AdminTokenVerifier(hashSecret(options.configured)) };
    const source = { settings: options.settings, clock: options.clock };
    const stored = await options.settings.get(SETTING);
    if (stored) return { verifier: new AdminTokenVerifier(Buffer.from(stored, 'base64url'), source) };
    const minted = mintToken('adm');
    if (await options.settings.addIfAbsent(SETTING, minted.hash.toString('base64url'), options.clock())) {
      return { verifier: new AdminTokenVerifier(minted.hash, source), generated: minted.token };
    }
    const winner = await options.settings.get(SETTING);
    return { verifier: new AdminTokenVerifier(winner ? Buffer.from(winner, 'base64url') : undefined, source) };
  }

  /** Replaces the stored token (CLI `latch admin-token reset`); returns the new token. */
  static async reset(settings: SettingsRepository, clock: Clock): Promise<string> {
    const minted = mintToken('adm');
    await settings.put(SETTING, minted.hash.toString('base64url'), clock());
    return minted.token;
  }

  async verify(presented: string | undefined): Promise<boolean> {
    if (!presented) return false;
    const hash = hashSecret(presented);
    if (this.sinceLoad() >= RELOAD_AFTER_MS) await this.reload();
    if (this.matches(hash)) return true;
    if (this.sinceLoad() < RELOAD_ON_FAILURE_AFTER_MS) return false;
    await this.reload();
    return this.matches(hash);
  }

  private matches(hash: Buffer): boolean {
    return this.expected !== undefined && timingSafeEqual(hash, this.expected);
  }

  private sinceLoad(): number {
    return this.stored ? this.stored.clock() - this.loadedAt : 0;
  }

  /** Re-reads the stored hash; on a database error the one in memory stays. */
  private async reload(): Promise<void> {
    if (!this.stored) return;
    this.loadedAt = this.stored.clock();
    try {
      const value = await this.stored.settings.get(SETTING);
      if (value) this.expected = Buffer.from(value, 'base64url');
    } catch {
      // Keep the last known hash: the admin API stays usable while the database recovers.
    }
  }
}
