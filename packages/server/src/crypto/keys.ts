/**
 * Signing keys (jose). States: `next` (published in the JWKS, not yet signing), `active` (signs;
 * one per algorithm), `retired` (no longer signs, stays published until every token it signed
 * has expired, then removed). Private JWKs can be encrypted at rest with AES-256-GCM under a key
 * derived from `keys.encryptionKey`.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { type CryptoKey, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import { KEY_RELOAD_SECONDS } from '../domain/key-timing.ts';
import type { KeyState, SigningKeyRecord, SigningKeyRepository } from '../storage/repositories.ts';
import { randomId } from './random.ts';

export type SigningAlg = 'RS256' | 'ES256';
export const SIGNING_ALGS: readonly SigningAlg[] = ['RS256', 'ES256'];

export interface LoadedKey {
  kid: string;
  alg: SigningAlg;
  state: KeyState;
  privateKey: CryptoKey;
  publicJwk: JWK;
  createdAt: number;
  activatedAt: number | null;
  removeAfter: number | null;
}

const ENC_PREFIX = 'enc:v1:';

function derive(secret: string): Buffer {
  return createHash('sha256').update(`latch-signing-key-encryption:${secret}`).digest();
}

export function sealPrivateJwk(jwk: JWK, secret: string | undefined): string {
  const plain = JSON.stringify(jwk);
  if (!secret) return plain;
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', derive(secret), iv);
  const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  return ENC_PREFIX + Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
}

export function openPrivateJwk(stored: string, secret: string | undefined): JWK {
  if (!stored.startsWith(ENC_PREFIX)) return JSON.parse(stored);
  if (!secret)
    throw new Error(
      'keys.encryptionKey: the signing keys are encrypted; set keys.encryptionKey (LATCH_KEYS_ENCRYPTION_KEY) to the key they were encrypted with',
    );
  const raw = Buffer.from(stored.slice(ENC_PREFIX.length), 'base64url');
  const decipher = createDecipheriv('aes-256-gcm', derive(secret), raw.subarray(0, 12));
  decipher.setAuthTag(raw.subarray(12, 28));
  try {
    return JSON.parse(Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8'));
  } catch {
    throw new Error('keys.encryptionKey: cannot decrypt the signing keys with the configured key; set the key they were encrypted with');
  }
}

export async function generateSigningKey(alg: SigningAlg, state: KeyState, now: number, secret: string | undefined): Promise<SigningKeyRecord> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'RS256' ? { modulusLength: 2048 } : {}) });
  const kid = `${alg.toLowerCase()}-${new Date(now).toISOString().slice(0, 10)}-${randomId(8)}`;
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg };
  return {
    kid,
    alg,
    state,
    privateJwk: sealPrivateJwk(privateJwk, secret),
    publicJwk,
    createdAt: now,
    activatedAt: state === 'active' ? now : null,
    retiredAt: null,
    removeAfter: null,
  };
}

export interface KeyStoreOptions {
  repo: SigningKeyRepository;
  encryptionKey: string | undefined;
  clock: () => number;
  /** How long a retired key stays published: the longest lifetime of anything it signed. */
  retireGraceSeconds: number;
  /** Reload from the database at most this often, so every process sees rotations. */
  refreshMs?: number;
  /**
   * Claims the one-time creation of the first keys (e.g. an insert-if-absent of a settings row):
   * true for exactly one caller across all processes sharing the database.
   */
  claimBootstrap?: () => Promise<boolean>;
}

const missingAlgs = (records: SigningKeyRecord[]) => SIGNING_ALGS.filter((alg) => !records.some((k) => k.alg === alg && k.state === 'active'));

/** In-process view of the signing keys, reloaded from the database so all processes agree. */
export class KeyStore {
  private keys: LoadedKey[] = [];
  private loadedAt = 0;
  private loading: Promise<void> | undefined;
  private jwksCache: { keys: JWK[] } | undefined;

  constructor(private readonly options: KeyStoreOptions) {}

  /**
   * Creates an active RS256 and ES256 key when none exists (first start). With several processes
   * starting together on one database exactly one creates them (`claimBootstrap`); the others wait
   * for those keys instead of minting their own (two active keys per algorithm, each process
   * publishing only part of the set until its next reload).
   */
  async ensureInitialKeys(): Promise<SigningKeyRecord[]> {
    let existing = await this.options.repo.list();
    if (missingAlgs(existing).length > 0 && this.options.claimBootstrap && !(await this.options.claimBootstrap())) {
      const deadline = Date.now() + 15_000; // real time: the injected clock may stand still in tests
      while (missingAlgs(existing).length > 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        existing = await this.options.repo.list();
      }
    }
    const created: SigningKeyRecord[] = [];
    // Still missing: first start, or the process that claimed creation died before finishing.
    for (const alg of missingAlgs(existing)) {
      const record = await generateSigningKey(alg, 'active', this.options.clock(), this.options.encryptionKey);
      await this.options.repo.add(record);
      created.push(record);
    }
    await this.reload();
    return created;
  }

  async reload(): Promise<void> {
    const records = await this.options.repo.list();
    const loaded: LoadedKey[] = [];
    for (const r of records) {
      const jwk = openPrivateJwk(r.privateJwk, this.options.encryptionKey);
      loaded.push({
        kid: r.kid,
        alg: r.alg,
        state: r.state,
        privateKey: (await importJWK(jwk, r.alg)) as CryptoKey,
        publicJwk: r.publicJwk as JWK,
        createdAt: r.createdAt,
        activatedAt: r.activatedAt,
        removeAfter: r.removeAfter,
      });
    }
    this.keys = loaded;
    this.jwksCache = undefined;
    this.loadedAt = this.options.clock();
  }

  private async fresh(): Promise<void> {
    if (this.options.clock() - this.loadedAt < (this.options.refreshMs ?? KEY_RELOAD_SECONDS * 1000)) return;
    this.loading ??= this.reload().finally(() => {
      this.loading = undefined;
    });
    await this.loading;
  }

  /** The key that signs for `alg` now. */
  async signingKey(alg: SigningAlg): Promise<LoadedKey> {
    await this.fresh();
    const key = this.keys.filter((k) => k.alg === alg && k.state === 'active').sort((a, b) => (b.activatedAt ?? 0) - (a.activatedAt ?? 0))[0];
    if (!key) throw new Error(`no active ${alg} signing key; run \`latch keys rotate\``);
    return key;
  }

  /** Public JWKS: next, active and retired keys that have not passed their removal time. */
  async jwks(): Promise<{ keys: JWK[] }> {
    await this.fresh();
    if (!this.jwksCache) {
      const now = this.options.clock();
      this.jwksCache = { keys: this.keys.filter((k) => k.removeAfter === null || k.removeAfter > now).map((k) => k.publicJwk) };
    }
    return this.jwksCache;
  }

  async list(): Promise<LoadedKey[]> {
    await this.fresh();
    return [...this.keys];
  }

  /** Step 1 of rotation: publish a new `next` key per algorithm (in the JWKS, not yet signing). */
  async rotate(algs: readonly SigningAlg[] = SIGNING_ALGS): Promise<SigningKeyRecord[]> {
    const records = await this.options.repo.list();
    const out: SigningKeyRecord[] = [];
    for (const alg of algs) {
      if (records.some((k) => k.alg === alg && k.state === 'next')) continue;
      const record = await generateSigningKey(alg, 'next', this.options.clock(), this.options.encryptionKey);
      await this.options.repo.add(record);
      out.push(record);
    }
    await this.reload();
    return out;
  }

  /** Step 2: the `next` key signs from now on; the previous active key is retired and stays published for the grace period. */
  async promote(algs: readonly SigningAlg[] = SIGNING_ALGS): Promise<string[]> {
    const now = this.options.clock();
    const records = await this.options.repo.list();
    const promoted: string[] = [];
    for (const alg of algs) {
      const next = records.find((k) => k.alg === alg && k.state === 'next');
      if (!next) continue;
      if (!(await this.options.repo.transition(next.kid, 'next', 'active', now))) continue;
      for (const old of records.filter((k) => k.alg === alg && k.state === 'active')) {
        await this.options.repo.transition(old.kid, 'active', 'retired', now, now + this.options.retireGraceSeconds * 1000);
      }
      promoted.push(next.kid);
    }
    await this.options.repo.cleanup(now);
    await this.reload();
    return promoted;
  }
}
