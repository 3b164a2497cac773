import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { formatToken, RANDOM_LENGTH, randomBase62, type TokenKind } from '../domain/token-format.ts';

/** Randomness is injected so that tests can be deterministic where they need to be. */
export interface Random {
  bytes(n: number): Buffer;
}
export const systemRandom: Random = { bytes: (n) => randomBytes(n) };

export interface MintedToken {
  token: string;
  hash: Buffer;
}

/** SHA-256 of a high-entropy server-generated secret (DESIGN.md §2). */
export function hashSecret(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

export function mintToken(kind: TokenKind, random: Random = systemRandom): MintedToken {
  const token = formatToken(
    kind,
    randomBase62(() => random.bytes(48), RANDOM_LENGTH),
  );
  return { token, hash: hashSecret(token) };
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

/** A device id: stable for a session's life (DESIGN.md §2). */
export function newDeviceId(random: Random = systemRandom): string {
  return randomId(10, random).toUpperCase();
}
