/** Well-formed Latch access tokens for tests: `lat_at_<43 base62>_<CRC-32 base62>` (Latch's README). */
import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';

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

export function latchToken(): string {
  const random = [...randomBytes(43)].map((b) => ALPHABET[b % 62]).join('');
  const body = `lat_at_${random}`;
  return `${body}_${base62(crc32(body) >>> 0, 6)}`;
}
