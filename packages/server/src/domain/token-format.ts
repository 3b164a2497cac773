/**
 * Self-describing opaque tokens (docs/architecture.md §3): `lat_<kind>_<random base62>_<crc32 base62>`.
 * The prefix lets secret scanners find leaks; the CRC lets us reject garbage before any database
 * read. The random part carries 256 bits (43 base62 characters).
 */
import { crc32 } from 'node:zlib';

export const TOKEN_KINDS = {
  at: 'access_token',
  rt: 'refresh_token',
  ac: 'authorization_code',
  cs: 'client_secret',
  rat: 'registration_access_token',
  iat: 'initial_access_token',
  adm: 'admin_token',
  bs: 'browser_session',
} as const;
export type TokenKind = keyof typeof TOKEN_KINDS;

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
export const RANDOM_LENGTH = 43; // ceil(256 / log2(62))
const CRC_LENGTH = 6; // 62^6 > 2^32

/**
 * Access and refresh tokens are minted on every token request, and a B-tree keyed by a random hash
 * takes each insert to a different leaf page: on SQLite that cost ~60 µs per token (a 4 KiB page to
 * the WAL, then again at checkpoint) against ~20 µs when keys arrive in order. So their random part
 * starts with the minting time (milliseconds, 7 base62 characters, good until 2081) followed by 36
 * random characters (214 bits), and their storage key starts with those 7 characters (see
 * crypto/random.ts `tokenKey`). The time is not secret; the 214 random bits are.
 */
export const TIME_ORDERED_KINDS: ReadonlySet<TokenKind> = new Set(['at', 'rt']);
export const TIME_PREFIX_LENGTH = 7;

export function base62(value: number, width: number): string {
  let out = '';
  let v = value;
  for (let i = 0; i < width; i++) {
    out = ALPHABET[v % 62] + out;
    v = Math.floor(v / 62);
  }
  return out;
}

/** Encodes random bytes as base62 characters by rejection sampling (no modulo bias). */
export function randomBase62(bytes: () => Buffer, length: number): string {
  let out = '';
  while (out.length < length) {
    const buf = bytes();
    for (let i = 0; i < buf.length && out.length < length; i++) {
      const b = buf[i] as number;
      if (b < 248) out += ALPHABET[b % 62];
    }
  }
  return out;
}

export function checksum(body: string): string {
  return base62(crc32(body) >>> 0, CRC_LENGTH);
}

/** Where a token's random part starts (after `lat_<kind>_`). */
export const randomPartStart = (kind: TokenKind) => kind.length + 5;

export function formatToken(kind: TokenKind, random: string): string {
  const body = `lat_${kind}_${random}`;
  return `${body}_${checksum(body)}`;
}

const TOKEN_PATTERN = /^lat_([a-z]{2,3})_([0-9A-Za-z]{43})_([0-9A-Za-z]{6})$/;

/** Returns the kind when the token is well-formed and its checksum matches; undefined otherwise. */
export function checkToken(token: string): TokenKind | undefined {
  if (token.length > 64) return undefined;
  const m = TOKEN_PATTERN.exec(token);
  if (!m) return undefined;
  const kind = m[1] as string;
  if (!(kind in TOKEN_KINDS)) return undefined;
  if (checksum(token.slice(0, token.length - CRC_LENGTH - 1)) !== m[3]) return undefined;
  return kind as TokenKind;
}
