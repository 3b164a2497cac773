import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { before, describe, test } from 'node:test';
import { createLocalJWKSet, decodeProtectedHeader, type JSONWebKeySet, jwtVerify, SignJWT } from 'jose';
import { KeyStore } from '../crypto/keys.ts';
import type { ClientMetadata } from '../domain/client.ts';
import type { SigningKeyRecord, SigningKeyRepository } from '../storage/repositories.ts';
import { halfHash, IdTokenService } from './id-token.ts';

/** An in-memory signing key repository, enough for the KeyStore. */
function memoryKeyRepo(): SigningKeyRepository & { rows: SigningKeyRecord[] } {
  const rows: SigningKeyRecord[] = [];
  return {
    rows,
    async add(k) {
      rows.push({ ...k });
    },
    async list() {
      return rows.map((r) => ({ ...r }));
    },
    async transition(kid, expect, to, at, removeAfter) {
      const r = rows.find((k) => k.kid === kid && k.state === expect);
      if (!r) return false;
      r.state = to;
      if (to === 'active') r.activatedAt = at;
      if (to === 'retired') {
        r.retiredAt = at;
        r.removeAfter = removeAfter ?? null;
      }
      return true;
    },
    async cleanup(now) {
      const before = rows.length;
      for (let i = rows.length - 1; i >= 0; i--) {
        const r = rows[i] as SigningKeyRecord;
        if (r.state === 'retired' && r.removeAfter !== null && r.removeAfter <= now) rows.splice(i, 1);
      }
      return before - rows.length;
    },
  };
}

const ISSUER = 'https://id.example.com';
const metadata = (alg?: string): ClientMetadata => ({
  redirect_uris: ['https://rp.example/cb'],
  grant_types: ['authorization_code'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic',
  application_type: 'web',
  ...(alg ? { id_token_signed_response_alg: alg } : {}),
});

describe('ID tokens', () => {
  let now = Date.UTC(2030, 0, 1);
  const clock = () => now;
  let keys: KeyStore;
  let ids: IdTokenService;
  let jwks: () => Promise<ReturnType<typeof createLocalJWKSet>>;
  before(async () => {
    keys = new KeyStore({ repo: memoryKeyRepo(), encryptionKey: undefined, clock, retireGraceSeconds: 3900 });
    await keys.ensureInitialKeys();
    ids = new IdTokenService({ issuer: ISSUER, keys, clock, ttlSeconds: 600 });
    jwks = async () => createLocalJWKSet((await keys.jwks()) as JSONWebKeySet);
  });

  const input = {
    client: { clientId: 'rp-1', metadata: metadata() },
    session: { sid: 'sid-123', userId: 'user-9' },
    nonce: 'n-0S6_WzA2Mj',
    accessToken: 'lat_at_example',
    authTime: Date.UTC(2029, 11, 31, 23, 0, 0),
    amr: ['pwd'],
    acr: null,
  };

  test('code grant: every OIDC Core §2 claim, the echoed nonce, at_hash, sid; RS256 by default', async () => {
    const token = await ids.mint(input);
    const { payload, protectedHeader } = await jwtVerify(token, await jwks(), { issuer: ISSUER, audience: 'rp-1', currentDate: new Date(now) });
    assert.equal(protectedHeader.alg, 'RS256');
    assert.equal(protectedHeader.kid, (await keys.signingKey('RS256')).kid);
    assert.equal(payload.sub, 'user-9');
    assert.equal(payload.iat, now / 1000);
    assert.equal(payload.exp, now / 1000 + 600);
    assert.equal(payload.auth_time, input.authTime / 1000);
    assert.equal(payload.nonce, 'n-0S6_WzA2Mj');
    assert.equal(payload.sid, 'sid-123');
    assert.deepEqual(payload.amr, ['pwd']);
    assert.equal(payload.acr, undefined, 'no acr when none was recorded');
    assert.equal(payload.c_hash, undefined);
    assert.equal(payload.preferred_username, undefined, 'profile claims are served by userinfo (OIDC Core §5.4)');
    // at_hash by hand: left half of SHA-256 of the ASCII access token, base64url.
    const expected = createHash('sha256').update('lat_at_example').digest().subarray(0, 16).toString('base64url');
    assert.equal(payload.at_hash, expected);
  });

  test('refresh: no nonce, same sub and auth_time, new iat; ES256 when the client asks for it', async () => {
    now += 5000;
    const token = await ids.mint({ ...input, client: { clientId: 'rp-es', metadata: metadata('ES256') }, nonce: null, code: 'lat_ac_x' });
    assert.equal(decodeProtectedHeader(token).alg, 'ES256');
    const { payload } = await jwtVerify(token, await jwks(), { issuer: ISSUER, audience: 'rp-es', currentDate: new Date(now) });
    assert.equal(payload.nonce, undefined);
    assert.equal(payload.sub, 'user-9');
    assert.equal(payload.auth_time, input.authTime / 1000);
    assert.equal(payload.iat, now / 1000);
    assert.equal(payload.c_hash, halfHash('lat_ac_x', 'ES256'));
  });

  test('refuses to mint without a user', async () => {
    await assert.rejects(ids.mint({ ...input, session: { sid: 's', userId: null } }), /needs a user/);
  });

  describe('id_token_hint', () => {
    test('accepts our own ID token, also shortly after it expired, and reads sub, aud, sid', async () => {
      const token = await ids.mint(input);
      const fresh = await ids.verifyHint(token, { expiredGraceMs: 0 });
      assert.deepEqual(fresh, { ok: true, hint: { sub: 'user-9', aud: ['rp-1'], sid: 'sid-123', exp: now / 1000 + 600 } });
      now += 700_000;
      assert.deepEqual(await ids.verifyHint(token, { expiredGraceMs: 0 }), { ok: false, reason: 'expired' });
      assert.equal((await ids.verifyHint(token, { expiredGraceMs: 3_600_000 })).ok, true);
    });

    test('refuses foreign signatures, other issuers, tampered tokens, logout tokens and garbage', async () => {
      const rs = await keys.signingKey('RS256');
      const other = await new SignJWT({ sub: 'u' })
        .setProtectedHeader({ alg: 'RS256', kid: rs.kid })
        .setIssuer('https://evil.example')
        .setAudience('rp-1')
        .setExpirationTime('1h')
        .sign(rs.privateKey);
      assert.deepEqual(await ids.verifyHint(other, { expiredGraceMs: 0 }), { ok: false, reason: 'other issuer' });
      const { privateKey } = await import('jose').then((j) => j.generateKeyPair('RS256'));
      const forged = await new SignJWT({ sub: 'u' })
        .setProtectedHeader({ alg: 'RS256', kid: rs.kid })
        .setIssuer(ISSUER)
        .setAudience('rp-1')
        .setExpirationTime('1h')
        .sign(privateKey);
      assert.equal((await ids.verifyHint(forged, { expiredGraceMs: 0 })).ok, false);
      const good = await ids.mint(input);
      const [h, p, s] = good.split('.') as [string, string, string];
      const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
      const tampered = `${h}.${Buffer.from(JSON.stringify({ ...claims, sub: 'admin' })).toString('base64url')}.${s}`;
      assert.equal((await ids.verifyHint(tampered, { expiredGraceMs: 0 })).ok, false);
      const logoutToken = await new SignJWT({ events: { 'http://schemas.openid.net/event/backchannel-logout': {} } })
        .setProtectedHeader({ alg: 'RS256', kid: rs.kid, typ: 'logout+jwt' })
        .setIssuer(ISSUER)
        .setAudience('rp-1')
        .setSubject('user-9')
        .setExpirationTime('2m')
        .sign(rs.privateKey);
      assert.equal((await ids.verifyHint(logoutToken, { expiredGraceMs: 0 })).ok, false);
      assert.equal((await ids.verifyHint('not.a.jwt', { expiredGraceMs: 0 })).ok, false);
      assert.equal((await ids.verifyHint('x'.repeat(9000), { expiredGraceMs: 0 })).ok, false);
    });
  });
});
