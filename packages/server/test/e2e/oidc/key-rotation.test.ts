/**
 * Signing key rotation end to end, with an injected clock: the JWKS at every step (rotate → `next`
 * published but not signing; promote → the new key signs, the old one is retired but still published;
 * after the grace → gone), tokens signed before the rotation verify until they expire, openid-client
 * validates ID tokens across the rotation, the schedule, and encryption of private keys at rest.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createLocalJWKSet, decodeProtectedHeader, type JSONWebKeySet, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { backends } from '../../support/backends.ts';
import { startLatch, type TestLatch } from '../../support/latch.ts';
import { Browser, createUser, relyingParty, signIn } from './helpers.ts';

interface KeyView {
  kid: string;
  alg: string;
  state: 'next' | 'active' | 'retired';
  remove_after: string | null;
  published: boolean;
}

const MINUTE = 60_000;
const ID_TOKEN_TTL = 3600;
/** KeyStore grace in latch.ts: max(idTokenTtl, accessTokenTtl) + 300 s. */
const GRACE_MS = (ID_TOKEN_TTL + 300) * 1000;

async function jwks(t: TestLatch): Promise<{ kids: string[]; set: JSONWebKeySet; cacheControl: string | null }> {
  const res = await fetch(`${t.issuer}/oauth2/keys.json`);
  assert.equal(res.status, 200);
  const set = (await res.json()) as JSONWebKeySet;
  return { kids: set.keys.map((k) => k.kid as string).sort(), set, cacheControl: res.headers.get('cache-control') };
}

async function keys(t: TestLatch): Promise<KeyView[]> {
  const res = await t.admin<{ keys: KeyView[] }>('GET', '/admin/v1/keys');
  assert.equal(res.status, 200);
  return res.body.keys;
}

const kidsIn = (list: KeyView[], state: KeyView['state']) =>
  list
    .filter((k) => k.state === state)
    .map((k) => k.kid)
    .sort();

for (const backend of backends()) {
  describe(`[${backend}] signing key rotation`, () => {
    let t: TestLatch;
    let offset = 0;
    const clock = () => Date.now() + offset;
    before(async () => {
      t = await startLatch(backend, { clock, config: { 'tokens.idTokenTtl': ID_TOKEN_TTL } });
    });
    after(() => t.close());

    test('rotate, promote, expire: the JWKS at each step; old tokens verify until they expire; openid-client follows', async () => {
      // Step 0: one active key per algorithm, all published, with a cache lifetime shorter than any promotion delay.
      const initial = await keys(t);
      const oldActive = kidsIn(initial, 'active');
      assert.equal(oldActive.length, 2);
      const start = await jwks(t);
      assert.deepEqual(start.kids, oldActive);
      assert.match(start.cacheControl ?? '', /max-age=300\b/);

      const user = await createUser(t, 'rotator');
      const mint = () =>
        t.latch.oidc.idTokens.mint({
          client: {
            clientId: 'rp-direct',
            metadata: { redirect_uris: [], grant_types: [], response_types: [], token_endpoint_auth_method: 'none', application_type: 'web' },
          },
          session: { sid: 'sid-direct', userId: user.id },
          nonce: null,
          authTime: clock(),
          amr: ['pwd'],
          acr: null,
        });
      const before = await mint();
      const oldRs = decodeProtectedHeader(before).kid as string;
      assert.ok(oldActive.includes(oldRs));

      // Step 1: rotate publishes a `next` key per algorithm; signing does not change.
      const rotated = await t.admin<{ created: string[]; keys: KeyView[] }>('POST', '/admin/v1/keys/rotate');
      assert.equal(rotated.status, 201);
      assert.equal(rotated.body.created.length, 2);
      assert.deepEqual(kidsIn(rotated.body.keys, 'next'), [...rotated.body.created].sort());
      assert.deepEqual((await jwks(t)).kids, [...oldActive, ...rotated.body.created].sort(), 'next keys are in the JWKS');
      assert.equal(decodeProtectedHeader(await mint()).kid, oldRs, 'the old key still signs');
      const again = await t.admin<{ created: string[] }>('POST', '/admin/v1/keys/rotate');
      assert.equal(again.status, 200);
      assert.deepEqual(again.body.created, [], 'rotating again while a next key waits adds nothing');

      // A relying party that fetched the JWKS now already knows the key that will sign next.
      const rp = await relyingParty(t);
      const browser = new Browser(t.issuer);
      const first = await signIn(t, rp, browser, 'rotator');
      assert.equal(decodeProtectedHeader(first.tokens.id_token as string).kid, oldRs);

      // Step 2: ten minutes later, promote. The new keys sign; the old ones are retired but published.
      offset += 10 * MINUTE;
      const promoted = await t.admin<{ promoted: string[]; keys: KeyView[]; warning?: string }>('POST', '/admin/v1/keys/promote', { alg: 'RS256' });
      assert.equal(promoted.status, 200);
      assert.equal(promoted.body.promoted.length, 1);
      assert.equal(promoted.body.warning, undefined, 'published long enough: no warning');
      const newRs = promoted.body.promoted[0] as string;
      const es = await t.admin<{ promoted: string[] }>('POST', '/admin/v1/keys/promote', {});
      assert.equal(es.body.promoted.length, 1, 'the ES256 next key is promoted by a promote of all algorithms');
      const afterPromote = await keys(t);
      const newActive = kidsIn(afterPromote, 'active');
      assert.deepEqual(newActive, [newRs, es.body.promoted[0] as string].sort());
      assert.deepEqual(kidsIn(afterPromote, 'retired'), oldActive);
      for (const k of afterPromote.filter((x) => x.state === 'retired')) {
        assert.ok(Math.abs(Date.parse(k.remove_after as string) - (clock() + GRACE_MS)) < 5000, 'retired keys stay until everything they signed has expired');
        assert.equal(k.published, true);
      }
      assert.deepEqual((await jwks(t)).kids, [...oldActive, ...newActive].sort());
      const fresh = await mint();
      assert.equal(decodeProtectedHeader(fresh).kid, newRs, 'new tokens use the new key');

      // openid-client (JWKS fetched before the promotion) validates the new key's ID tokens, and refresh too.
      // (The server clock now runs 10 minutes ahead; for the RP that only moves exp further away.)
      const second = await signIn(t, rp, browser, 'rotator');
      assert.equal(decodeProtectedHeader(second.tokens.id_token as string).kid, newRs);
      const refreshed = await oidc.refreshTokenGrant(rp.config, first.tokens.refresh_token as string);
      assert.equal(decodeProtectedHeader(refreshed.id_token as string).kid, newRs);

      // The token signed before the rotation still verifies against the published JWKS...
      const verify = async (token: string) => jwtVerify(token, createLocalJWKSet((await jwks(t)).set), { issuer: t.issuer, currentDate: new Date(clock()) });
      assert.equal((await verify(before)).payload.sub, user.id);
      // ...until it expires (its key is still published then, but the token is over).
      offset += ID_TOKEN_TTL * 1000 - 10 * MINUTE + 1000;
      await assert.rejects(verify(before), /"exp" claim timestamp check failed/);
      assert.deepEqual((await jwks(t)).kids, [...oldActive, ...newActive].sort(), 'retired keys are still published within the grace');

      // Step 3: after the grace the retired keys leave the JWKS, and maintenance deletes them.
      offset += GRACE_MS;
      assert.deepEqual((await jwks(t)).kids, newActive);
      const maintained = await t.latch.oidc.keyRotation.maintain();
      assert.equal(maintained.removed, 2);
      const final = await keys(t);
      assert.deepEqual(final.map((k) => k.kid).sort(), newActive);
      assert.ok(final.every((k) => k.state === 'active' && k.published));
      // Nothing left to promote.
      const nothing = await t.admin<{ promoted: string[] }>('POST', '/admin/v1/keys/promote');
      assert.deepEqual(nothing.body.promoted, []);
      assert.equal((await t.admin('POST', '/admin/v1/keys/rotate', { alg: 'HS256' })).status, 400);
      const audit = await t.admin<{ events: { action: string }[] }>('GET', '/admin/v1/audit?target_type=signing_key');
      assert.deepEqual(
        audit.body.events.map((e) => e.action),
        ['keys.rotate', 'keys.promote', 'keys.promote'],
      );
    });

    test('promoting a key published only moments ago works but warns about JWKS caches', async () => {
      await t.admin('POST', '/admin/v1/keys/rotate', { alg: 'ES256' });
      const res = await t.admin<{ promoted: string[]; warning?: string }>('POST', '/admin/v1/keys/promote', { alg: 'ES256' });
      assert.equal(res.body.promoted.length, 1);
      assert.match(res.body.warning ?? '', /^es256-\S+ had been published for less than 390 s \(JWKS cache lifetime plus key reload interval\)/);
    });
  });

  describe(`[${backend}] scheduled rotation and keys at rest`, () => {
    test('with keys.rotationInterval and keys.promoteAfter the schedule rotates and promotes by itself', async () => {
      let offset = 0;
      const clock = () => Date.now() + offset;
      const t = await startLatch(backend, { clock, config: { 'keys.rotationInterval': 86_400, 'keys.promoteAfter': 3600 } });
      try {
        const initial = kidsIn(await keys(t), 'active');
        assert.deepEqual(await t.latch.oidc.keyRotation.maintain(), { removed: 0, rotated: [], promoted: [] }, 'nothing due yet');
        offset += 86_400_000;
        const first = await t.latch.oidc.keyRotation.maintain();
        assert.equal(first.rotated.length, 2);
        assert.deepEqual(first.promoted, []);
        assert.deepEqual(kidsIn(await keys(t), 'next'), [...first.rotated].sort());
        assert.deepEqual((await t.latch.oidc.keyRotation.maintain()).rotated, [], 'a waiting next key is not rotated again');
        offset += 3600_000;
        const second = await t.latch.oidc.keyRotation.maintain();
        assert.deepEqual([...second.promoted].sort(), [...first.rotated].sort());
        const now = await keys(t);
        assert.deepEqual(kidsIn(now, 'active'), [...first.rotated].sort());
        assert.deepEqual(kidsIn(now, 'retired'), initial);
      } finally {
        await t.close();
      }
    });

    test('with keys.encryptionKey the database holds only ciphertext; the right key is needed to start', async () => {
      const secret = 'an-encryption-key-of-at-least-32-characters';
      const t = await startLatch(backend, { config: { 'keys.encryptionKey': secret } });
      const database = t.database;
      try {
        const rows = await t.latch.db.db.selectFrom('signing_keys').select(['kid', 'private_jwk', 'public_jwk']).execute();
        assert.equal(rows.length, 2);
        for (const row of rows) {
          assert.match(row.private_jwk, /^enc:v1:[A-Za-z0-9_-]+$/);
          assert.doesNotMatch(row.private_jwk, /"d"|"kty"/, 'no private JWK member in clear');
          assert.doesNotMatch(row.public_jwk, /"d"/);
        }
        const kids = (await jwks(t)).kids;
        await t.stop();
        await assert.rejects(
          startLatch(backend, { database, config: { 'keys.encryptionKey': 'another-key-of-at-least-32-characters!!' } }),
          /cannot decrypt the signing keys/,
        );
        await assert.rejects(startLatch(backend, { database }), /signing keys are encrypted/);
        const again = await startLatch(backend, { database, config: { 'keys.encryptionKey': secret } });
        assert.deepEqual((await jwks(again)).kids, kids);
        // Rotation under encryption stores the new key encrypted too.
        await again.admin('POST', '/admin/v1/keys/rotate');
        const all = await again.latch.db.db.selectFrom('signing_keys').select('private_jwk').execute();
        assert.equal(all.length, 4);
        assert.ok(all.every((r) => r.private_jwk.startsWith('enc:v1:')));
        await again.stop();
      } finally {
        await t.close();
      }
    });
  });
}
