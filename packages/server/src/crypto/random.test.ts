import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { checkToken } from '../domain/token-format.ts';
import { hashSecret, mintToken, tokenJti, tokenKey } from './random.ts';

const sha256 = (s: string) => createHash('sha256').update(s).digest();

test('access and refresh tokens: well-formed, 43 characters after the kind, keys that sort by minting time', () => {
  const times = [1_795_000_000_000, 1_795_000_000_001, 1_795_000_060_000, 1_900_000_000_000];
  for (const kind of ['at', 'rt'] as const) {
    const minted = times.map((now) => mintToken(kind, undefined, now));
    for (const { token, hash } of minted) {
      assert.equal(checkToken(token), kind);
      assert.match(token, new RegExp(`^lat_${kind}_[0-9A-Za-z]{43}_[0-9A-Za-z]{6}$`));
      assert.equal(hash.length, 7 + 32);
      assert.deepEqual(hash.subarray(7), sha256(token), 'the key ends with the SHA-256 of the whole token');
      assert.deepEqual(tokenKey(kind, token), hash, 'the key is recomputed from the token alone');
    }
    const keys = minted.map((m) => m.hash);
    const sorted = [...keys].sort(Buffer.compare);
    assert.deepEqual(sorted, keys, 'later tokens have larger keys');
    // Two tokens of the same millisecond differ in their 214 random bits.
    const [a, b] = [mintToken(kind, undefined, times[0]), mintToken(kind, undefined, times[0])];
    assert.notEqual(a.token, b.token);
    assert.equal(a.token.slice(0, 14), b.token.slice(0, 14), 'same time prefix');
    assert.notDeepEqual(a.hash, b.hash);
  }
});

test('other kinds stay fully random and are keyed by their SHA-256 alone', () => {
  for (const kind of ['cs', 'ac', 'bs'] as const) {
    const { token, hash } = mintToken(kind, undefined, 0);
    assert.equal(checkToken(token), kind);
    assert.deepEqual(hash, hashSecret(token));
    assert.deepEqual(tokenKey(kind, token), sha256(token));
    assert.notEqual(token.slice(kind.length + 5, kind.length + 12), '0000000', 'no time prefix');
  }
});

test('tokenJti: kind and 96 bits of the token hash, the same for a token and not its time prefix', () => {
  const a = mintToken('at');
  const b = mintToken('at');
  const jti = tokenJti('at', tokenKey('at', a.token));
  assert.match(jti, /^at_[\w-]{16}$/);
  assert.equal(tokenJti('at', tokenKey('at', a.token)), jti);
  assert.notEqual(tokenJti('at', tokenKey('at', b.token)), jti);
  assert.equal(jti.slice(3), createHash('sha256').update(a.token).digest().subarray(0, 12).toString('base64url'));
  assert.match(tokenJti('rt', tokenKey('rt', mintToken('rt').token)), /^rt_[\w-]{16}$/);
});
