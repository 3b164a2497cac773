import { timingSafeEqual } from 'node:crypto';
import { hashSecret, mintToken } from '../crypto/random.ts';
import type { Clock } from '../domain/clock.ts';
import type { SettingsRepository } from '../storage/repositories.ts';

const SETTING = 'admin_token_sha256';

/**
 * Admin API credentials. A configured token (admin.token / LATCH_ADMIN_TOKEN) is the only one
 * accepted when set. Otherwise the first start mints one, returns it for printing once, and
 * stores only its SHA-256; with several processes starting together exactly one of them mints it.
 */
export class AdminTokenVerifier {
  private expected: Buffer | undefined;

  private constructor(expected: Buffer | undefined) {
    this.expected = expected;
  }

  static async init(options: {
    configured: string | undefined;
    settings: SettingsRepository;
    clock: Clock;
  }): Promise<{ verifier: AdminTokenVerifier; generated?: string }> {
    if (options.configured) return { verifier: new AdminTokenVerifier(hashSecret(options.configured)) };
    const stored = await options.settings.get(SETTING);
    if (stored) return { verifier: new AdminTokenVerifier(Buffer.from(stored, 'base64url')) };
    const minted = mintToken('adm');
    if (await options.settings.addIfAbsent(SETTING, minted.hash.toString('base64url'), options.clock())) {
      return { verifier: new AdminTokenVerifier(minted.hash), generated: minted.token };
    }
    const winner = await options.settings.get(SETTING);
    return { verifier: new AdminTokenVerifier(winner ? Buffer.from(winner, 'base64url') : undefined) };
  }

  /** Replaces the stored token (CLI `latch admin-token reset`); returns the new token. */
  static async reset(settings: SettingsRepository, clock: Clock): Promise<string> {
    const minted = mintToken('adm');
    await settings.put(SETTING, minted.hash.toString('base64url'), clock());
    return minted.token;
  }

  verify(presented: string | undefined): boolean {
    if (!presented || !this.expected) return false;
    return timingSafeEqual(hashSecret(presented), this.expected);
  }
}
