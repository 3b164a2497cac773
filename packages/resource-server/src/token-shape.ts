/**
 * Checks a bearer token can be one before anyone is asked about it: garbage, huge values and
 * Latch tokens with a wrong checksum are refused without a call to Latch, and never fill the cache.
 *
 * Latch access tokens look like `lat_at_<43 base62>_<6 base62 CRC-32 of what precedes>` (see
 * Latch's README): the checksum exists so that a resource server can reject a mistyped or forged
 * token cheaply.
 */
import { crc32 } from 'node:zlib';

/** RFC 6750 §2.1 b64token. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
const LATCH_ACCESS_TOKEN = /^lat_at_[0-9A-Za-z]{43}_([0-9A-Za-z]{6})$/;
const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

function base62(value: number, width: number): string {
  let out = '';
  let v = value;
  for (let i = 0; i < width; i++) {
    out = ALPHABET[v % 62] + out;
    v = Math.floor(v / 62);
  }
  return out;
}

/** `latch`: only well-formed Latch access tokens; `any`: any RFC 6750 token up to `maxLength`. */
export type TokenFormat = 'latch' | 'any';

export function plausibleToken(token: string, format: TokenFormat, maxLength: number): boolean {
  if (token.length === 0 || token.length > maxLength || !B64TOKEN.test(token)) return false;
  if (format === 'any') return true;
  const m = LATCH_ACCESS_TOKEN.exec(token);
  return m !== null && base62(crc32(token.slice(0, -7)) >>> 0, 6) === m[1];
}
