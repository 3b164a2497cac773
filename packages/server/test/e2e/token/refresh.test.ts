import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as oidc from 'openid-client';
import { tokenKey } from '../../../src/crypto/random.ts';
import { backends } from '../../support/backends.ts';
import { startLatch, type TestLatch } from '../../support/latch.ts';
import {
  basic,
  createClient,
  createUser,
  introspectAs,
  issueCode,
  oauthError,
  pkce,
  post,
  REDIRECT_URI,
  type Reply,
  rp,
  type TestClient,
  tokenRequest,
} from './helpers.ts';

for (const backend of backends()) {
  describe(`[${backend}] refresh token rotation (docs/architecture.md §3)`, () => {
    let t: TestLatch;
    let now = Date.parse('2030-01-01T00:00:00Z');
    const clock = () => now;
    let web: TestClient;
    let config: oidc.Configuration;
    let alice: { id: string };
    before(async () => {
      t = await startLatch(backend, { clock });
      web = await createClient(t);
      config = await rp(t, web);
      alice = await createUser(t, 'alice');
    });
    after(() => t.close());

    /** A fresh session: redeems a stored code and returns the first pair. */
    async function login(scope = ['profile', 'read:syn1', 'read:syn2']): Promise<{ access_token: string; refresh_token: string }> {
      const code = await issueCode(t, { clientId: web.client_id, userId: alice.id, scope, now });
      const res = await tokenRequest(t, web, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI });
      assert.equal(res.status, 200, res.text);
      return res.body as { access_token: string; refresh_token: string };
    }

    const refresh = (refreshToken: string, extra: Record<string, string> = {}) =>
      tokenRequest(t, web, { grant_type: 'refresh_token', refresh_token: refreshToken, ...extra });
    const active = async (token: string) => (await introspectAs(t, web, token)).active === true;

    test('openid-client: every refresh rotates; sid and device_id stay the same', async () => {
      const first = await login();
      const info0 = await oidc.tokenIntrospection(config, first.access_token);
      const second = await oidc.refreshTokenGrant(config, first.refresh_token);
      assert.notEqual(second.refresh_token, first.refresh_token);
      assert.notEqual(second.access_token, first.access_token);
      const third = await oidc.refreshTokenGrant(config, second.refresh_token as string);
      const info3 = await oidc.tokenIntrospection(config, third.access_token);
      assert.equal(info3.sid, info0.sid);
      assert.equal(info3.device_id, info0.device_id);
      assert.equal(info3.scope, 'profile read:syn1 read:syn2');
      // Consumed refresh tokens are no longer active; the newest one is.
      assert.equal(await active(first.refresh_token), false);
      assert.equal(await active(second.refresh_token as string), false);
      assert.equal(await active(third.refresh_token as string), true);
    });

    test('replay: a consumed token whose successor was used ends the whole session', async () => {
      const first = await login();
      const second = (await refresh(first.refresh_token)).body;
      const third = (await refresh(second.refresh_token as string)).body;
      assert.equal(await active(third.access_token as string), true);
      const replay = await refresh(first.refresh_token);
      assert.equal(replay.status, 400);
      assert.equal(replay.body.error, 'invalid_grant');
      for (const token of [first.access_token, second.access_token, third.access_token, third.refresh_token])
        assert.equal(await active(token as string), false);
      assert.equal((await refresh(third.refresh_token as string)).body.error, 'invalid_grant');
      const info = await t.latch.storage.refreshTokens.findByHash(tokenKey('rt', first.refresh_token));
      const session = await t.latch.storage.sessions.lookup(info?.sessionId as number);
      assert.equal(session?.finishReason, 'refresh_token_replay');
    });

    test('openid-client sees invalid_grant for a replay', async () => {
      const first = await login();
      const second = await oidc.refreshTokenGrant(config, first.refresh_token);
      await oidc.refreshTokenGrant(config, second.refresh_token as string);
      assert.equal((await oauthError(oidc.refreshTokenGrant(config, first.refresh_token))).error, 'invalid_grant');
    });

    test('lost response: presenting a consumed token again, successor unused, yields a fresh pair and the unused successor dies', async () => {
      const first = await login();
      const lost = (await refresh(first.refresh_token)).body; // the client never saw this answer
      const retry = await refresh(first.refresh_token);
      assert.equal(retry.status, 200, retry.text);
      assert.notEqual(retry.body.refresh_token, lost.refresh_token);
      assert.equal(await active(lost.refresh_token as string), false, 'the unused successor died');
      assert.equal(await active(lost.access_token as string), false, "the unused successor's access token died too");
      assert.equal(await active(retry.body.access_token as string), true);
      // The session lives on: the fresh pair keeps rotating.
      const next = await refresh(retry.body.refresh_token as string);
      assert.equal(next.status, 200);
      assert.equal(await active(next.body.access_token as string), true);
      // Now the fresh successor was used, so the first token is a replay.
      assert.equal((await refresh(first.refresh_token)).body.error, 'invalid_grant');
      assert.equal(await active(next.body.access_token as string), false);
    });

    test('lost response twice in a row still leaves exactly one usable successor', async () => {
      const first = await login();
      const a = (await refresh(first.refresh_token)).body;
      const b = (await refresh(first.refresh_token)).body;
      const c = (await refresh(first.refresh_token)).body;
      assert.deepEqual(await Promise.all([a, b, c].map((p) => active(p.refresh_token as string))), [false, false, true]);
      assert.equal((await refresh(c.refresh_token as string)).status, 200);
    });

    test('a successor that died through a lost-response retry, presented later, ends the session (its holder exists)', async () => {
      const first = await login();
      const stolen = (await refresh(first.refresh_token)).body;
      const retry = (await refresh(first.refresh_token)).body;
      const res = await refresh(stolen.refresh_token as string);
      assert.equal(res.body.error, 'invalid_grant');
      assert.equal(await active(retry.access_token as string), false);
    });

    test('scope may be narrowed for the access token, never widened; the new refresh token keeps the original scope', async () => {
      const first = await login();
      const narrowed = await refresh(first.refresh_token, { scope: 'read:syn1' });
      assert.equal(narrowed.status, 200);
      assert.equal(narrowed.body.scope, 'read:syn1');
      assert.equal((await introspectAs(t, web, narrowed.body.access_token as string)).scope, 'read:syn1');
      assert.equal((await introspectAs(t, web, narrowed.body.refresh_token as string)).scope, 'profile read:syn1 read:syn2');
      for (const scope of ['read:syn1 read:syn3', 'email', 'read:*']) {
        const wider = await refresh(narrowed.body.refresh_token as string, { scope });
        assert.equal(wider.status, 400, scope);
        assert.equal(wider.body.error, 'invalid_scope', scope);
      }
      // A refused request consumes nothing.
      assert.equal((await refresh(narrowed.body.refresh_token as string)).status, 200);
    });

    test('refresh tokens are introspectable (with or without token_type_hint)', async () => {
      const first = await login();
      for (const hint of [{}, { token_type_hint: 'refresh_token' }, { token_type_hint: 'access_token' }, { token_type_hint: 'bogus' }] as Record<
        string,
        string
      >[]) {
        const info = await introspectAs(t, web, first.refresh_token, hint);
        assert.equal(info.active, true, JSON.stringify(hint));
        assert.equal(info.token_type, 'refresh_token');
        assert.equal(info.client_id, web.client_id);
        assert.equal(info.sub, alice.id);
        assert.equal(info.username, 'alice');
        assert.match(info.jti as string, /^rt_[\w-]{16}$/);
      }
    });

    test('an expired refresh token is invalid_grant', async () => {
      const first = await login();
      now += 31 * 24 * 3600 * 1000;
      assert.equal((await refresh(first.refresh_token)).body.error, 'invalid_grant');
      assert.equal(await active(first.refresh_token), false);
    });

    test("another client's refresh token is invalid_grant and is not consumed", async () => {
      const first = await login();
      const other = await createClient(t);
      const res = await tokenRequest(t, other, { grant_type: 'refresh_token', refresh_token: first.refresh_token });
      assert.equal(res.body.error, 'invalid_grant');
      assert.equal((await refresh(first.refresh_token)).status, 200);
    });

    test('a deactivated user can no longer refresh, and their tokens turn inactive', async () => {
      const bob = await createUser(t, 'bob');
      const code = await issueCode(t, { clientId: web.client_id, userId: bob.id, now });
      const first = (await tokenRequest(t, web, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI })).body;
      assert.equal((await t.admin('PATCH', `/admin/v1/users/${bob.id}`, { active: false })).status, 200);
      assert.equal(await active(first.access_token as string), false);
      assert.equal(await active(first.refresh_token as string), false);
      assert.equal((await refresh(first.refresh_token as string)).body.error, 'invalid_grant');
    });

    test('revoking a refresh token ends its session: every token of it dies; revoking an access token only that one', async () => {
      const first = await login();
      const second = (await refresh(first.refresh_token)).body;
      await oidc.tokenRevocation(config, second.access_token as string);
      assert.equal(await active(second.access_token as string), false);
      assert.equal(await active(second.refresh_token as string), true);
      await oidc.tokenRevocation(config, second.refresh_token as string);
      for (const token of [first.access_token, second.refresh_token]) assert.equal(await active(token as string), false);
      assert.equal((await refresh(second.refresh_token as string)).body.error, 'invalid_grant');
    });

    test('revocation with token_type_hint, by a public client, and of unknown tokens', async () => {
      const first = await login();
      const res = await post(
        t,
        '/oauth2/revoke',
        { token: first.refresh_token, token_type_hint: 'refresh_token' },
        { authorization: basic(web.client_id, web.client_secret as string) },
      );
      assert.equal(res.status, 200);
      assert.equal(res.text, '');
      assert.equal(await active(first.access_token), false);
      for (const token of ['lat_rt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA_AAAAAA', 'garbage']) {
        for (const token_type_hint of ['access_token', 'refresh_token', 'unknown_type']) {
          const r = await post(t, '/oauth2/revoke', { token, token_type_hint }, { authorization: basic(web.client_id, web.client_secret as string) });
          assert.equal(r.status, 200, `${token} ${token_type_hint}`);
        }
      }
      const pub = await createClient(t, { token_endpoint_auth_method: 'none', application_type: 'native', redirect_uris: ['http://127.0.0.1/cb'] });
      const { challenge, verifier } = pkce();
      const code = await issueCode(t, { clientId: pub.client_id, userId: alice.id, codeChallenge: challenge, redirectUri: 'http://127.0.0.1/cb', now });
      const tokens = (
        await post(t, '/oauth2/token', {
          grant_type: 'authorization_code',
          code,
          code_verifier: verifier,
          redirect_uri: 'http://127.0.0.1/cb',
          client_id: pub.client_id,
        })
      ).body;
      const revoked = await post(t, '/oauth2/revoke', { token: tokens.refresh_token as string, client_id: pub.client_id });
      assert.equal(revoked.status, 200);
      assert.equal(
        (await post(t, '/oauth2/token', { grant_type: 'refresh_token', refresh_token: tokens.refresh_token as string, client_id: pub.client_id })).body.error,
        'invalid_grant',
      );
    });
  });

  describe(`[${backend}] concurrent refreshes never produce two live families`, () => {
    let t: TestLatch;
    let web: TestClient;
    let alice: { id: string };
    before(async () => {
      t = await startLatch(backend);
      web = await createClient(t);
      alice = await createUser(t, 'alice');
    });
    after(() => t.close());

    async function login() {
      const code = await issueCode(t, { clientId: web.client_id, userId: alice.id, now: Date.now() });
      const res = await tokenRequest(t, web, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI });
      assert.equal(res.status, 200, res.text);
      return res.body as { access_token: string; refresh_token: string };
    }
    const refresh = (refreshToken: string) => tokenRequest(t, web, { grant_type: 'refresh_token', refresh_token: refreshToken });
    const active = async (token: string) => (await introspectAs(t, web, token)).active === true;

    /** Every answer is a pair or invalid_grant (never a 5xx); returns the refresh tokens handed out. */
    function outcomes(results: Reply[]): string[] {
      for (const r of results) {
        assert.ok(r.status === 200 || (r.status === 400 && r.body.error === 'invalid_grant'), `${r.status} ${r.text}`);
      }
      return results.filter((r) => r.status === 200).map((r) => r.body.refresh_token as string);
    }

    test('N concurrent refreshes of one token: at least one pair, exactly one live refresh token afterwards, session alive', async () => {
      for (let round = 0; round < 3; round++) {
        const first = await login();
        const results = await Promise.all(Array.from({ length: 12 }, () => refresh(first.refresh_token)));
        const handedOut = outcomes(results);
        assert.ok(handedOut.length >= 1, 'someone wins');
        assert.equal(new Set(handedOut).size, handedOut.length);
        const live = [];
        for (const token of handedOut) if (await active(token)) live.push(token);
        assert.equal(live.length, 1, `exactly one live family (round ${round}, ${handedOut.length} pairs handed out)`);
        // That family keeps working.
        const next = await refresh(live[0] as string);
        assert.equal(next.status, 200, next.text);
        assert.equal(await active(next.body.access_token as string), true);
      }
    });

    test('concurrent use of a successor and replays of its predecessor: at most one live family, never a 5xx', async () => {
      for (let round = 0; round < 3; round++) {
        const first = await login();
        const second = (await refresh(first.refresh_token)).body;
        const results = await Promise.all([
          ...Array.from({ length: 5 }, () => refresh(first.refresh_token)),
          ...Array.from({ length: 5 }, () => refresh(second.refresh_token as string)),
        ]);
        const handedOut = outcomes(results);
        let live = 0;
        for (const token of [second.refresh_token as string, ...handedOut]) if (await active(token)) live++;
        assert.ok(live <= 1, `at most one live refresh token, got ${live} (round ${round})`);
      }
    });
  });
}
