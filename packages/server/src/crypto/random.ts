import { hash, randomFillSync, timingSafeEqual } from 'node:crypto';
import {
  base62,
  formatToken,
  RANDOM_LENGTH,
  randomBase62,
  randomPartStart,
  TIME_ORDERED_KINDS,
  TIME_PREFIX_LENGTH,
  type TokenKind,
} from '../domain/token-format.ts';

/** Randomness is injected so that tests can be deterministic where they need to be. */
export interface Random {
  bytes(n: number): Buffer;
}

/**
 * The CSPRNG, read in 4 KiB blocks: one `randomFillSync` per block instead of one per token, which
 * made random generation a visible share of token issuance. Every byte is handed out once.
 */
const POOL_SIZE = 4096;
const pool = Buffer.allocUnsafe(POOL_SIZE);
let poolOffset = POOL_SIZE;
export const systemRandom: Random = {
  bytes(n) {
    if (n > POOL_SIZE) return randomFillSync(Buffer.allocUnsafe(n));
    if (poolOffset + n > POOL_SIZE) {
      randomFillSync(pool);
      poolOffset = 0;
    }
    const out = Buffer.from(pool.subarray(poolOffset, poolOffset + n));
    poolOffset += n;
    return out;
  },
};

export interface MintedToken {
  token: string;
  hash: Buffer;
}

/** SHA-256 of a high-entropy server-generated secret (docs/architecture.md §2). */
export function hashSecret(value: string): Buffer {
  return hash('sha256', value, 'buffer');
}

/**
 * The stored lookup key of a token (docs/architecture.md §2: only hashes of tokens are stored): its SHA-256,
 * and for the time-ordered kinds (domain/token-format.ts) the 7 time characters before it, so keys
 * of new tokens sort last and their index inserts stay on one page. The characters are ASCII in
 * base62 order, so byte order is time order.
 */
export function tokenKey(kind: TokenKind, token: string): Buffer {
  if (!TIME_ORDERED_KINDS.has(kind)) return hashSecret(token);
  const key = Buffer.allocUnsafe(TIME_PREFIX_LENGTH + 32);
  const start = randomPartStart(kind);
  key.write(token.slice(start, start + TIME_PREFIX_LENGTH), 0, 'latin1');
  hashSecret(token).copy(key, TIME_PREFIX_LENGTH);
  return key;
}

/**
 * The `jti` reported for an access or refresh token (RFC 7662 §2.2), from its stored key: the kind
 * and 96 bits of the token's SHA-256 in base64url. Unique like the token and the same for its whole
 * life; it reveals neither the token nor, as a row id would, how many tokens have been issued.
 */
export function tokenJti(kind: 'at' | 'rt', key: Buffer): string {
  return `${kind}_${key.subarray(key.length - 32, key.length - 20).toString('base64url')}`;
}

export function mintToken(kind: TokenKind, random: Random = systemRandom, now: number = Date.now()): MintedToken {
  const ordered = TIME_ORDERED_KINDS.has(kind);
  const randomPart = ordered
    ? base62(now, TIME_PREFIX_LENGTH) + randomBase62(() => random.bytes(40), RANDOM_LENGTH - TIME_PREFIX_LENGTH)
    : randomBase62(() => random.bytes(48), RANDOM_LENGTH);
  const token = formatToken(kind, randomPart);
  return { token, hash: tokenKey(kind, token) };
}

/** A random identifier of `length` base62 characters (not a secret unless long enough). */
export function randomId(length: number, random: Random = systemRandom): string {
  return randomBase62(() => random.bytes(length + 8), length);
}

/** Constant-time comparison of a presented secret with a stored SHA-256 hash. */
export function secretMatches(presented: string, storedHash: Buffer | Uint8Array | null | undefined): boolean {
  if (storedHash?.length !== 32) return false;
  return timingSafeEqual(hashSecret(presented), storedHash);
}

/**
 * Public session ids: a millisecond timestamp (base36, sorts by creation) plus 12 random base62
 * characters. Time-ordered keys append to the right edge of the index instead of dirtying random pages.
 */
export function newSessionId(now: number, random: Random = systemRandom): string {
  return `${now.toString(36).padStart(9, '0')}${randomId(12, random)}`;
}

/** A device id: stable for a session's life (docs/architecture.md §2). */
export function newDeviceId(random: Random = systemRandom): string {
  return randomId(10, random).toUpperCase();
}
