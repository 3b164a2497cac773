/**
 * Signing key rotation in two steps, so that no verifier ever meets a token signed by a key it has
 * not seen (the JWKS is cached for minutes, see http/public/well-known.ts):
 *
 *   rotate   publish a new key as `next`: in the JWKS, not yet signing;
 *   promote  the `next` key signs from now on; the previous active key is `retired`: it stays in
 *            the JWKS until every token it signed has expired (KeyStore `retireGraceSeconds`),
 *            then leaves the JWKS and the database.
 *
 * Both steps run on command (`latch keys rotate|promote`, POST /admin/v1/keys/rotate|promote) or on
 * a schedule (`keys.rotationInterval`, `keys.promoteAfter`) checked by `maintain()`, which also
 * deletes retired keys whose time is up. Every process may run `maintain()`: the transitions are
 * guarded updates, so concurrent promotions of one key succeed once.
 */
import { type KeyStore, SIGNING_ALGS, type SigningAlg } from '../crypto/keys.ts';
import type { Clock } from '../domain/clock.ts';
import { MIN_PROMOTE_AFTER_SECONDS } from '../domain/key-timing.ts';
import { type Actor, audit } from '../services/audit.ts';
import type { AuditRepository, SigningKeyRecord, SigningKeyRepository } from '../storage/repositories.ts';

export interface RotationSchedule {
  /** seconds; 0 = never automatically */
  rotationInterval: number;
  /** seconds; 0 = never automatically */
  promoteAfter: number;
}

export interface KeyView {
  kid: string;
  alg: SigningAlg;
  state: SigningKeyRecord['state'];
  created_at: string;
  activated_at: string | null;
  retired_at: string | null;
  /** When a retired key leaves the JWKS. */
  remove_after: string | null;
  /** Whether the JWKS publishes it right now. */
  published: boolean;
  public_jwk: Record<string, unknown>;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export class KeyRotation {
  constructor(
    private readonly deps: {
      keys: KeyStore;
      repo: SigningKeyRepository;
      audit: AuditRepository;
      clock: Clock;
      schedule: RotationSchedule;
    },
  ) {}

  /** Every stored key, newest first within each state (admin API, `latch keys list`). */
  async list(): Promise<KeyView[]> {
    const now = this.deps.clock();
    const order = { active: 0, next: 1, retired: 2 } as const;
    return (await this.deps.repo.list())
      .sort((a, b) => order[a.state] - order[b.state] || b.createdAt - a.createdAt)
      .map((k) => ({
        kid: k.kid,
        alg: k.alg,
        state: k.state,
        created_at: iso(k.createdAt) as string,
        activated_at: iso(k.activatedAt),
        retired_at: iso(k.retiredAt),
        remove_after: iso(k.removeAfter),
        published: k.removeAfter === null || k.removeAfter > now,
        public_jwk: k.publicJwk,
      }));
  }

  /** Step 1: publish a `next` key for each algorithm that has none. Returns the new kids. */
  async rotate(actor: Actor, algs: readonly SigningAlg[] = SIGNING_ALGS): Promise<string[]> {
    const created = (await this.deps.keys.rotate(algs)).map((k) => k.kid);
    if (created.length)
      await audit(this.deps.audit, actor, 'keys.rotate', { type: 'signing_key', id: created.join(',') }, this.deps.clock(), { kids: created });
    return created;
  }

  /**
   * Step 2: promote the `next` key of each algorithm; the old active key retires. Returns the
   * promoted kids, and a warning when some had been published for less than
   * MIN_PROMOTE_AFTER_SECONDS: a verifier holding an older JWKS rejects what they sign until then.
   * An operator may have reasons (a compromised key), so it is a warning, not a refusal.
   */
  async promote(actor: Actor, algs: readonly SigningAlg[] = SIGNING_ALGS): Promise<{ promoted: string[]; warning?: string }> {
    const publishedSince = this.deps.clock() - MIN_PROMOTE_AFTER_SECONDS * 1000;
    const early = (await this.deps.repo.list()).filter((k) => k.state === 'next' && algs.includes(k.alg) && k.createdAt > publishedSince).map((k) => k.kid);
    const promoted = await this.deps.keys.promote(algs);
    if (promoted.length) {
      await audit(this.deps.audit, actor, 'keys.promote', { type: 'signing_key', id: promoted.join(',') }, this.deps.clock(), { kids: promoted });
    }
    const unseen = early.filter((kid) => promoted.includes(kid));
    if (unseen.length === 0) return { promoted };
    return {
      promoted,
      warning: `${unseen.join(', ')} had been published for less than ${MIN_PROMOTE_AFTER_SECONDS} s (JWKS cache lifetime plus key reload interval); verifiers holding an older JWKS reject what it signs until they refetch`,
    };
  }

  /**
   * The schedule: deletes retired keys past their time, publishes a successor for active keys older
   * than `rotationInterval`, promotes `next` keys published longer than `promoteAfter`.
   */
  async maintain(): Promise<{ removed: number; rotated: string[]; promoted: string[] }> {
    const now = this.deps.clock();
    const actor: Actor = { name: 'key-schedule', sourceIp: null };
    const removed = await this.deps.repo.cleanup(now);
    const records = await this.deps.repo.list();
    const { rotationInterval, promoteAfter } = this.deps.schedule;
    const due = (since: number | null, seconds: number) => seconds > 0 && since !== null && now - since >= seconds * 1000;

    const rotateAlgs = SIGNING_ALGS.filter((alg) => {
      if (records.some((k) => k.alg === alg && k.state === 'next')) return false;
      const active = records.filter((k) => k.alg === alg && k.state === 'active').sort((a, b) => (b.activatedAt ?? 0) - (a.activatedAt ?? 0))[0];
      return active !== undefined && due(active.activatedAt, rotationInterval);
    });
    const promoteAlgs = SIGNING_ALGS.filter((alg) =>
      records.some((k) => k.alg === alg && k.state === 'next' && due(k.createdAt, promoteAfter > 0 ? Math.max(promoteAfter, MIN_PROMOTE_AFTER_SECONDS) : 0)),
    );
    const rotated = rotateAlgs.length ? await this.rotate(actor, rotateAlgs) : [];
    const promoted = promoteAlgs.length ? (await this.promote(actor, promoteAlgs)).promoted : [];
    if (removed > 0 && !rotated.length && !promoted.length) await this.deps.keys.reload();
    return { removed, rotated, promoted };
  }
}

/** Runs `maintain()` periodically (every process; transitions are guarded). */
export class KeyMaintenance {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;

  constructor(
    private readonly rotation: KeyRotation,
    private readonly intervalMs: number,
    private readonly onError: (err: unknown) => void,
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.rotation
        .maintain()
        .catch(this.onError)
        .finally(() => {
          this.running = undefined;
        });
    }, this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
