/**
 * State that travels between the authorization request, the login form and the consent form.
 *
 * Why a sealed token rather than a database row: the pending request is small, needs no lookup by
 * anyone else, and must work across several processes. An AES-256-GCM sealed blob in a hidden form
 * field gives integrity (tampering fails authentication), confidentiality (nonce, login_hint and PKCE
 * challenge are not readable from the page) and expiry, with no table, no cleanup job and no write
 * per page view. The key is 32 random bytes created once in the `settings` table (the first process
 * to start wins; the others read it), so every process opens what any other sealed. A sealed
 * interaction is replayable until it expires, which is harmless by construction: every step that acts
 * (sign-in, consent) re-checks credentials or the browser-session binding and the CSRF token, and a
 * replay can only send a code for the same user to the same verified redirect URI.
 *
 * CSRF: signed double-submit (OWASP CSRF cheat sheet). The browser holds a random value in an
 * HttpOnly, SameSite=Lax cookie; each form carries HMAC(key, cookie value | interaction id). A
 * cross-site page can neither read the cookie nor compute the MAC, and the MAC ties the token to
 * one interaction, so a token planted by another site (login CSRF) does not verify.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { randomId } from '../crypto/random.ts';
import type { AuthorizationRequest } from '../domain/authorization-request.ts';
import type { Clock } from '../domain/clock.ts';
import type { SettingsRepository } from '../storage/repositories.ts';

const SETTING = 'interaction_key';
const VERSION = 'v1';

export type InteractionStage = 'login' | 'consent';

/** What the login and consent forms carry. camelCase inside; only this module reads the sealed form. */
export interface Interaction {
  /** Random id: binds CSRF tokens to this interaction. */
  id: string;
  stage: InteractionStage;
  /** ms */
  expiresAt: number;
  request: AuthorizationRequest;
  /** Subject of a verified id_token_hint. */
  hintSubject?: string | undefined;
  /** Set at the consent stage: who signed in, in which browser session. */
  signedIn?: { userId: string; browserSessionId: number } | undefined;
}

export class InteractionSealer {
  private constructor(
    private readonly encKey: Buffer,
    private readonly macKey: Buffer,
    private readonly clock: Clock,
    private readonly ttlMs: number,
  ) {}

  /** Loads (or, on the very first start, creates) the shared key from the settings table. */
  static async init(options: { settings: SettingsRepository; clock: Clock; ttlSeconds?: number }): Promise<InteractionSealer> {
    let stored = await options.settings.get(SETTING);
    if (!stored) {
      await options.settings.addIfAbsent(SETTING, randomBytes(32).toString('base64url'), options.clock());
      stored = await options.settings.get(SETTING);
    }
    if (!stored) throw new Error('interaction key: could not be stored in the settings table');
    const master = Buffer.from(stored, 'base64url');
    const derive = (info: string) => Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), info, 32));
    return new InteractionSealer(derive('latch interaction encryption'), derive('latch csrf'), options.clock, (options.ttlSeconds ?? 900) * 1000);
  }

  /** Starts a new interaction at `stage`. */
  create(stage: InteractionStage, fields: Omit<Interaction, 'id' | 'stage' | 'expiresAt'>): Interaction {
    // The raw id_token_hint is not needed any more (its verified subject is kept): keep the blob small.
    return { id: randomId(16), stage, expiresAt: this.clock() + this.ttlMs, ...fields, request: { ...fields.request, idTokenHint: undefined } };
  }

  seal(interaction: Interaction): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.encKey, iv);
    // The stage is authenticated data: a login-stage blob cannot be presented to the consent form.
    cipher.setAAD(Buffer.from(`${VERSION}:${interaction.stage}`));
    const body = Buffer.concat([cipher.update(JSON.stringify(interaction), 'utf8'), cipher.final()]);
    return `${VERSION}.${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')}`;
  }

  /** Opens a sealed interaction for `stage`; 'invalid' for anything tampered with, 'expired' when too old. */
  open(sealed: string | undefined, stage: InteractionStage): Interaction | 'invalid' | 'expired' {
    if (!sealed || sealed.length > 32_000 || !sealed.startsWith(`${VERSION}.`)) return 'invalid';
    const raw = Buffer.from(sealed.slice(VERSION.length + 1), 'base64url');
    if (raw.length < 29) return 'invalid';
    let interaction: Interaction;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.encKey, raw.subarray(0, 12));
      decipher.setAAD(Buffer.from(`${VERSION}:${stage}`));
      decipher.setAuthTag(raw.subarray(12, 28));
      interaction = JSON.parse(Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8'));
    } catch {
      return 'invalid';
    }
    if (interaction.stage !== stage) return 'invalid';
    if (interaction.expiresAt <= this.clock()) return 'expired';
    return interaction;
  }

  /** A fresh value for the CSRF cookie. */
  newCsrfCookie(): string {
    return randomId(32);
  }

  /** The token a form carries: HMAC over the cookie value and the interaction id. */
  csrfToken(cookieValue: string, interactionId: string): string {
    return createHmac('sha256', this.macKey).update(`${cookieValue}|${interactionId}`).digest('base64url');
  }

  verifyCsrf(cookieValue: string | undefined, interactionId: string, presented: string | undefined): boolean {
    if (!cookieValue || !presented || presented.length > 100) return false;
    const expected = Buffer.from(this.csrfToken(cookieValue, interactionId));
    const given = Buffer.from(presented);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}
