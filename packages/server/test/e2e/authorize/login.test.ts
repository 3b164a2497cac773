import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { generateKeyPair, SignJWT } from 'jose';
import { hashSecret } from '../../../src/crypto/random.ts';
import { backends } from '../../support/backends.ts';
import { startLatch, type TestLatch } from '../../support/latch.ts';
import {
  assertConsentPage,
  assertLoginPage,
  assertPageHeaders,
  authorizeUrl,
  Browser,
  createClient,
  createUser,
  hidden,
  PASSWORD,
  redirectParams,
  signInAndAllow,
  submitLogin,
  type TestClient,
} from './helpers.ts';

const INVALID = 'The username or password is incorrect.';

for (const backend of backends()) {
  describe(`[${backend}] login page, SSO session, prompt and max_age`, () => {
    let t: TestLatch;
    let client: TestClient;
    let now = Date.parse('2030-01-01T00:00:00Z');
    const clock = () => now;
    const users: Record<string, { id: string }> = {};
    before(async () => {
      t = await startLatch(backend, { clock, config: { 'rateLimit.loginPerUsername': 1000, 'rateLimit.loginPerIp': 1000 } });
      client = await createClient(t);
      for (const name of ['alice', 'bob', 'carol', 'dora', 'ed']) users[name] = await createUser(t, name);
    });
    after(() => t.close());

    const codeOf = async (page: Awaited<ReturnType<Browser['get']>>) => {
      const code = redirectParams(page).params.get('code');
      assert.ok(code, 'a code');
      return (await t.latch.storage.authorizationCodes.findByHash(hashSecret(code))) ?? assert.fail('code stored');
    };

    test('a wrong password and an unknown user get the same message, status 401, no session', async () => {
      const b = new Browser(t.issuer);
      const login = await b.get(authorizeUrl(t.issuer, client));
      const wrong = await submitLogin(b, t.issuer, login, 'alice', 'not the password');
      const unknown = await submitLogin(b, t.issuer, login, 'nobody', PASSWORD);
      for (const page of [wrong, unknown]) {
        assert.equal(page.status, 401);
        assertLoginPage(page);
        assertPageHeaders(page);
        assert.match(page.text, new RegExp(`role="alert"[^>]*>${INVALID}<`));
        assert.equal(
          page.headers.getSetCookie().some((c) => c.startsWith('latch_session=')),
          false,
        );
      }
      assert.equal(b.cookies.has('latch_session'), false);
      // The typed username is kept, the password is not.
      assert.match(wrong.text, /id="username"[^>]*value="alice"/s);
      assert.doesNotMatch(wrong.text, /not the password/);
      // The re-rendered form still works.
      assertConsentPage(await submitLogin(b, t.issuer, wrong, 'alice'));
    });

    test('empty fields ask for both; usernames are matched case-insensitively', async () => {
      const b = new Browser(t.issuer);
      const login = await b.get(authorizeUrl(t.issuer, client));
      const empty = await submitLogin(b, t.issuer, login, '', '');
      assert.equal(empty.status, 400);
      assert.match(empty.text, /Enter your username and password\./);
      assertConsentPage(await submitLogin(b, t.issuer, login, 'ALICE'));
    });

    test('a deactivated user cannot sign in, and an existing browser session of theirs stops counting', async () => {
      const b = new Browser(t.issuer);
      assert.ok(redirectParams(await signInAndAllow(t, b, authorizeUrl(t.issuer, client), 'ed')).params.get('code'));
      assert.equal((await t.admin('PATCH', `/admin/v1/users/${users.ed?.id}`, { active: false })).status, 200);
      const login = await b.get(authorizeUrl(t.issuer, client));
      assertLoginPage(login);
      const refused = await submitLogin(b, t.issuer, login, 'ed');
      assert.equal(refused.status, 401);
      assert.match(refused.text, new RegExp(INVALID));
    });

    test('login_hint prefills the username', async () => {
      const page = await new Browser(t.issuer).get(authorizeUrl(t.issuer, client, { login_hint: 'carol' }));
      assertLoginPage(page);
      assert.match(page.text, /id="username"[^>]*value="carol"/s);
    });

    test('prompt=none: login_required without a session, consent_required without consent, a code otherwise — never a page', async () => {
      const b = new Browser(t.issuer);
      const noSession = await b.get(authorizeUrl(t.issuer, client, { prompt: 'none' }));
      assert.equal(noSession.status, 302);
      assert.equal(redirectParams(noSession).params.get('error'), 'login_required');
      assert.equal(redirectParams(noSession).params.get('state'), 'st-123');
      assert.equal(redirectParams(noSession).params.get('iss'), t.issuer);

      const login = await b.get(authorizeUrl(t.issuer, client, { scope: 'openid' }));
      assertConsentPage(await submitLogin(b, t.issuer, login, 'bob'));
      const noConsent = await b.get(authorizeUrl(t.issuer, client, { prompt: 'none', scope: 'openid' }));
      assert.equal(redirectParams(noConsent).params.get('error'), 'consent_required');

      await signInAndAllow(t, b, authorizeUrl(t.issuer, client, { scope: 'openid' }), 'bob');
      const ok = await b.get(authorizeUrl(t.issuer, client, { prompt: 'none', scope: 'openid' }));
      assert.equal(ok.status, 302);
      assert.ok(redirectParams(ok).params.get('code'));
      // More scopes than consented: consent_required again.
      const more = await b.get(authorizeUrl(t.issuer, client, { prompt: 'none', scope: 'openid email' }));
      assert.equal(redirectParams(more).params.get('error'), 'consent_required');
    });

    test('prompt=login forces the login page despite the session, then continues without asking again', async () => {
      const b = new Browser(t.issuer);
      const first = await codeOf(await signInAndAllow(t, b, authorizeUrl(t.issuer, client), 'carol'));
      now += 5_000;
      const page = await b.get(authorizeUrl(t.issuer, client, { prompt: 'login' }));
      assertLoginPage(page);
      const cookieBefore = b.cookies.get('latch_session');
      const done = await submitLogin(b, t.issuer, page, 'carol');
      assert.equal(done.status, 303, 'consent remembered: straight to the client');
      const second = await codeOf(done);
      assert.equal(second.authTime, now, 'auth_time is the new sign-in');
      assert.ok(second.authTime > first.authTime);
      assert.equal(second.browserSessionId, first.browserSessionId, 'same browser session, re-authenticated');
      assert.equal(b.cookies.get('latch_session'), cookieBefore);
    });

    test('max_age forces a new login when the last one is older; max_age=0 always does', async () => {
      const b = new Browser(t.issuer);
      await signInAndAllow(t, b, authorizeUrl(t.issuer, client), 'dora');
      now += 120_000;
      assert.equal((await b.get(authorizeUrl(t.issuer, client, { max_age: '600' }))).status, 302);
      const stale = await b.get(authorizeUrl(t.issuer, client, { max_age: '60' }));
      assertLoginPage(stale);
      const none = await b.get(authorizeUrl(t.issuer, client, { max_age: '60', prompt: 'none' }));
      assert.equal(redirectParams(none).params.get('error'), 'login_required');
      const record = await codeOf(await submitLogin(b, t.issuer, stale, 'dora'));
      assert.equal(record.authTime, now);
      assert.equal((await b.get(authorizeUrl(t.issuer, client, { max_age: '60' }))).status, 302);
      assertLoginPage(await b.get(authorizeUrl(t.issuer, client, { max_age: '0' })));
    });

    test('signing in as someone else in the same browser starts a new browser session with a new cookie', async () => {
      const b = new Browser(t.issuer);
      const first = await codeOf(await signInAndAllow(t, b, authorizeUrl(t.issuer, client), 'alice'));
      const cookieBefore = b.cookies.get('latch_session');
      const page = await b.get(authorizeUrl(t.issuer, client, { prompt: 'login' }));
      const second = await codeOf(await signInAndAllow(t, b, page.url, 'bob'));
      assert.notEqual(b.cookies.get('latch_session'), cookieBefore);
      assert.notEqual(second.browserSessionId, first.browserSessionId);
      assert.equal(second.userId, users.bob?.id);
      const old = await t.latch.storage.browserSessions.lookup(first.browserSessionId as number);
      assert.ok(old?.finishedAt, 'the previous browser session is finished');
    });

    test('the browser session expires after sessions.browserSessionTtl', async () => {
      const b = new Browser(t.issuer);
      await signInAndAllow(t, b, authorizeUrl(t.issuer, client), 'alice');
      now += t.latch.config.sessions.browserSessionTtl * 1000 + 1;
      assertLoginPage(await b.get(authorizeUrl(t.issuer, client)));
    });

    test('a login form left open longer than the interaction lifetime is refused with a page', async () => {
      const b = new Browser(t.issuer);
      const login = await b.get(authorizeUrl(t.issuer, client));
      now += 16 * 60_000;
      const res = await submitLogin(b, t.issuer, login, 'alice');
      assert.equal(res.status, 400);
      assert.equal(res.location, null);
      assert.match(res.text, /expired/);
    });

    describe('id_token_hint', () => {
      const idToken = async (sub: string, options: { aud?: string; iss?: string; exp?: number; foreignKey?: boolean } = {}) => {
        const key = options.foreignKey ? (await generateKeyPair('RS256')).privateKey : (await t.latch.keys.signingKey('RS256')).privateKey;
        const kid = (await t.latch.keys.signingKey('RS256')).kid;
        return new SignJWT({ nonce: 'n' })
          .setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' })
          .setIssuer(options.iss ?? t.issuer)
          .setSubject(sub)
          .setAudience(options.aud ?? client.client_id)
          .setIssuedAt(Math.floor(now / 1000) - 7200)
          .setExpirationTime(options.exp ?? Math.floor(now / 1000) - 3600)
          .sign(key);
      };

      test('a hint (even expired) for the signed-in user lets prompt=none through; for another user it is login_required', async () => {
        const b = new Browser(t.issuer);
        await signInAndAllow(t, b, authorizeUrl(t.issuer, client), 'alice');
        const same = await b.get(authorizeUrl(t.issuer, client, { prompt: 'none', id_token_hint: await idToken(users.alice?.id as string) }));
        assert.ok(redirectParams(same).params.get('code'));
        const other = await b.get(authorizeUrl(t.issuer, client, { prompt: 'none', id_token_hint: await idToken(users.bob?.id as string) }));
        assert.equal(redirectParams(other).params.get('error'), 'login_required');
        // Without prompt=none the other user's hint shows the login page.
        assertLoginPage(await b.get(authorizeUrl(t.issuer, client, { id_token_hint: await idToken(users.bob?.id as string) })));
      });

      test('a hint signed by another key, for another client or from another issuer is invalid_request', async () => {
        const b = new Browser(t.issuer);
        const sub = users.alice?.id as string;
        for (const hint of [
          await idToken(sub, { foreignKey: true }),
          await idToken(sub, { aud: 'someone-else' }),
          await idToken(sub, { iss: 'https://evil.example' }),
        ]) {
          const res = await b.get(authorizeUrl(t.issuer, client, { id_token_hint: hint }));
          assert.equal(redirectParams(res).params.get('error'), 'invalid_request');
          assert.equal(redirectParams(res).params.get('iss'), t.issuer);
        }
      });
    });

    test('the CSRF cookie is reused across pages of one browser and bound per interaction', async () => {
      const b = new Browser(t.issuer);
      const one = await b.get(authorizeUrl(t.issuer, client));
      const cookie = b.cookies.get('latch_csrf');
      const two = await b.get(authorizeUrl(t.issuer, client, { state: 'x' }));
      assert.equal(b.cookies.get('latch_csrf'), cookie);
      assert.equal(two.headers.getSetCookie().length, 0);
      assert.notEqual(hidden(one, 'csrf'), hidden(two, 'csrf'));
    });
  });
}
