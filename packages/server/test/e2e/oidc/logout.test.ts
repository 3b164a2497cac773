/**
 * OpenID Connect RP-Initiated Logout 1.0 at /oauth2/logout, driven by a cookie-keeping fetch browser:
 * a trusted request (valid id_token_hint for this browser's session) logs out at once and redirects
 * to the registered post_logout_redirect_uri with `state`; anything else asks for confirmation with
 * a CSRF-protected **Sign out** form; bad hints and unregistered redirect targets get an error page
 * and never a redirect. Logging out ends every session the browser session started, and each of
 * their clients receives a back-channel logout token.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SignJWT } from 'jose';
import { backends } from '../../support/backends.ts';
import { startLatch, type TestLatch } from '../../support/latch.ts';
import { assertPageHeaders, hidden, isLoginPage, type Page } from '../authorize/helpers.ts';
import { Browser, createUser, eventually, LogoutReceiver, peek, type RelyingParty, relyingParty, signIn } from './helpers.ts';

const AFTER_LOGOUT = 'https://rp.example/logged-out';

const logoutUrl = (t: TestLatch, params: Record<string, string | undefined>) =>
  `${t.issuer}/oauth2/logout?${new URLSearchParams(Object.entries(params).filter((e): e is [string, string] => e[1] !== undefined))}`;

const isConfirmPage = (page: Page) => page.status === 200 && /<button type="submit" class="primary">Sign out<\/button>/.test(page.text);

function assertErrorPage(page: Page, message: RegExp): void {
  assert.equal(page.status, 400, page.text.slice(0, 400));
  assert.equal(page.location, null, 'never a redirect');
  assert.match(page.text, message);
  assertPageHeaders(page);
}

async function userinfoStatus(t: TestLatch, accessToken: string): Promise<number> {
  return (await fetch(`${t.issuer}/oauth2/userinfo`, { headers: { authorization: `Bearer ${accessToken}` } })).status;
}

for (const backend of backends()) {
  describe(`[${backend}] RP-initiated logout`, () => {
    let t: TestLatch;
    let receiver: LogoutReceiver;
    let rp: RelyingParty;
    let other: RelyingParty;
    before(async () => {
      t = await startLatch(backend, { config: { 'outbox.pollInterval': 50 } });
      receiver = await LogoutReceiver.start();
      rp = await relyingParty(t, { post_logout_redirect_uris: [AFTER_LOGOUT, 'https://rp.example/bye?from=latch'], backchannel_logout_uri: receiver.url });
      other = await relyingParty(t, { client_name: 'Calendar', backchannel_logout_uri: receiver.url });
      for (const name of ['ada', 'bob', 'cyd', 'dan', 'eve', 'fay']) await createUser(t, name);
    });
    after(async () => {
      await t.close();
      await receiver.down();
    });

    test('a valid id_token_hint for this browser logs out at once: redirect with state, cookie gone, every session of the browser session ended with back-channel logout', async () => {
      const browser = new Browser(t.issuer);
      const first = await signIn(t, rp, browser, 'ada');
      const second = await signIn(t, other, browser, 'ada'); // SSO: same browser session, no login page
      const sent = receiver.received.length;
      const page = await browser.get(
        logoutUrl(t, { id_token_hint: first.tokens.id_token, post_logout_redirect_uri: AFTER_LOGOUT, state: 'bye-123', ui_locales: 'de' }),
      );
      assert.equal(page.status, 302, page.text.slice(0, 300));
      assert.equal(page.location, `${AFTER_LOGOUT}?state=bye-123`);
      assert.match(page.headers.getSetCookie().join('\n'), /latch_session=[^;]*;.*Max-Age=0/i);
      assert.equal(browser.cookies.has('latch_session'), false);

      assert.equal(await userinfoStatus(t, first.tokens.access_token), 401);
      assert.equal(await userinfoStatus(t, second.tokens.access_token), 401);
      const got = await eventually(() => (receiver.received.length - sent >= 2 ? receiver.received.slice(sent) : undefined), 'two logout tokens');
      const byAud = new Map(got.map((r) => [peek(r.logoutToken as string).aud, peek(r.logoutToken as string)]));
      assert.equal(byAud.get(rp.clientId)?.sid, first.tokens.claims()?.sid);
      assert.equal(byAud.get(other.clientId)?.sid, second.tokens.claims()?.sid);

      // The browser session is over: the next authorization asks to sign in again.
      const again = await browser.get(
        `${t.issuer}/oauth2/authorize?response_type=code&client_id=${rp.clientId}&redirect_uri=${encodeURIComponent(rp.redirectUri)}&scope=openid&code_challenge=${'a'.repeat(43)}&code_challenge_method=S256`,
      );
      assert.ok(isLoginPage(again), `${again.status} ${again.text.slice(0, 200)}`);
    });

    test('a registered post_logout_redirect_uri keeps its own query; POST works like GET (303)', async () => {
      const browser = new Browser(t.issuer);
      const { tokens } = await signIn(t, rp, browser, 'bob');
      const page = await browser.post(`${t.issuer}/oauth2/logout`, {
        id_token_hint: tokens.id_token,
        post_logout_redirect_uri: 'https://rp.example/bye?from=latch',
        state: 's 1',
      });
      assert.equal(page.status, 303);
      assert.equal(page.location, 'https://rp.example/bye?from=latch&state=s+1');
      assert.equal(await userinfoStatus(t, tokens.access_token), 401);
    });

    test('without an id_token_hint a confirmation page asks first; Sign out with its CSRF token ends the sessions and redirects', async () => {
      const browser = new Browser(t.issuer);
      const { tokens } = await signIn(t, rp, browser, 'cyd');
      const confirm = await browser.get(logoutUrl(t, { client_id: rp.clientId, post_logout_redirect_uri: AFTER_LOGOUT, state: 'st' }));
      assert.ok(isConfirmPage(confirm), confirm.text.slice(0, 400));
      assertPageHeaders(confirm);
      assert.match(confirm.text, /You are signed in as <strong>cyd<\/strong>/);
      assert.match(confirm.text, /<strong>Notes<\/strong> asks you to sign out/);
      assert.equal(await userinfoStatus(t, tokens.access_token), 200, 'nothing ended before the user confirms');

      // A forged confirmation (no or wrong CSRF token) changes nothing.
      const fields = {
        client_id: hidden(confirm, 'client_id'),
        post_logout_redirect_uri: hidden(confirm, 'post_logout_redirect_uri'),
        state: hidden(confirm, 'state'),
        logout_confirm: '1',
      };
      const forged = await browser.post(`${t.issuer}/oauth2/logout`, { ...fields, csrf: 'x'.repeat(43) });
      assert.equal(forged.status, 403);
      assert.equal(forged.location, null);
      assert.equal((await browser.post(`${t.issuer}/oauth2/logout`, fields)).status, 403);
      const stranger = new Browser(t.issuer);
      assert.equal(
        (await stranger.post(`${t.issuer}/oauth2/logout`, { ...fields, csrf: hidden(confirm, 'csrf') })).status,
        403,
        'the token is bound to this browser',
      );
      assert.equal(await userinfoStatus(t, tokens.access_token), 200);

      const done = await browser.post(`${t.issuer}/oauth2/logout`, { ...fields, csrf: hidden(confirm, 'csrf') });
      assert.equal(done.status, 303, done.text.slice(0, 300));
      assert.equal(done.location, `${AFTER_LOGOUT}?state=st`);
      assert.equal(await userinfoStatus(t, tokens.access_token), 401);
    });

    test('a hint for another user than the one signed in here asks for confirmation; without a redirect the signed-out page is shown', async () => {
      const dan = new Browser(t.issuer);
      const danTokens = (await signIn(t, rp, dan, 'dan')).tokens;
      const eve = new Browser(t.issuer);
      const eveTokens = (await signIn(t, rp, eve, 'eve')).tokens;
      const confirm = await dan.get(logoutUrl(t, { id_token_hint: eveTokens.id_token }));
      assert.ok(isConfirmPage(confirm));
      assert.match(confirm.text, /signed in as <strong>dan<\/strong>/);
      const done = await dan.post(`${t.issuer}/oauth2/logout`, {
        id_token_hint: hidden(confirm, 'id_token_hint'),
        csrf: hidden(confirm, 'csrf'),
        logout_confirm: '1',
      });
      assert.equal(done.status, 200);
      assert.match(done.text, /You are signed out/);
      assert.equal(await userinfoStatus(t, danTokens.access_token), 401, "dan's browser session ended");
      assert.equal(await userinfoStatus(t, eveTokens.access_token), 200, "eve's session is not dan's to end");
    });

    test('nobody signed in and nothing to end: straight to the redirect (or the signed-out page)', async () => {
      const browser = new Browser(t.issuer);
      const page = await browser.get(logoutUrl(t, { client_id: rp.clientId, post_logout_redirect_uri: AFTER_LOGOUT, state: 'z' }));
      assert.equal(page.status, 302);
      assert.equal(page.location, `${AFTER_LOGOUT}?state=z`);
      const plain = await browser.get(`${t.issuer}/oauth2/logout`);
      assert.equal(plain.status, 200);
      assert.match(plain.text, /You are signed out/);
      assertPageHeaders(plain);
    });

    test('bad input is an error page and never a redirect', async () => {
      const browser = new Browser(t.issuer);
      const { tokens } = await signIn(t, rp, browser, 'fay');
      const idToken = tokens.id_token as string;
      const [h, , s] = idToken.split('.') as [string, string, string];
      const tampered = `${h}.${Buffer.from(JSON.stringify({ ...peek(idToken), sub: 'admin' })).toString('base64url')}.${s}`;
      assertErrorPage(
        await browser.get(logoutUrl(t, { id_token_hint: tampered, post_logout_redirect_uri: AFTER_LOGOUT })),
        /id_token_hint is not a valid ID token/,
      );
      assertErrorPage(
        await browser.get(logoutUrl(t, { id_token_hint: 'garbage', post_logout_redirect_uri: AFTER_LOGOUT })),
        /id_token_hint is not a valid ID token/,
      );

      const key = await t.latch.keys.signingKey('RS256');
      const sign = (claims: Record<string, unknown>, iss: string, exp: number) =>
        new SignJWT(claims)
          .setProtectedHeader({ alg: 'RS256', kid: key.kid })
          .setIssuer(iss)
          .setAudience(rp.clientId)
          .setSubject('u')
          .setIssuedAt(exp - 3600)
          .setExpirationTime(exp)
          .sign(key.privateKey);
      const now = Math.floor(Date.now() / 1000);
      assertErrorPage(
        await browser.get(logoutUrl(t, { id_token_hint: await sign({}, 'https://other.example', now + 600), post_logout_redirect_uri: AFTER_LOGOUT })),
        /not a valid ID token/,
      );
      // Expired two hours ago and naming no session known here: beyond the grace.
      assertErrorPage(
        await browser.get(logoutUrl(t, { id_token_hint: await sign({ sid: 'nope' }, t.issuer, now - 7200), post_logout_redirect_uri: AFTER_LOGOUT })),
        /has expired/,
      );
      // Expired as long ago but naming a session of its user and client: still accepted (RP-Initiated Logout §2).
      const claims = peek(idToken);
      const oldButKnown = await new SignJWT({ sid: claims.sid })
        .setProtectedHeader({ alg: 'RS256', kid: key.kid })
        .setIssuer(t.issuer)
        .setAudience(rp.clientId)
        .setSubject(claims.sub as string)
        .setIssuedAt(now - 9000)
        .setExpirationTime(now - 7200)
        .sign(key.privateKey);

      assertErrorPage(
        await browser.get(logoutUrl(t, { id_token_hint: idToken, post_logout_redirect_uri: 'https://rp.example/not-registered' })),
        /not registered/,
      );
      assertErrorPage(await browser.get(logoutUrl(t, { post_logout_redirect_uri: AFTER_LOGOUT })), /needs client_id or id_token_hint/);
      assertErrorPage(await browser.get(logoutUrl(t, { client_id: other.clientId, id_token_hint: idToken })), /does not match/);
      assertErrorPage(await browser.get(logoutUrl(t, { client_id: 'no-such-client' })), /not known/);
      assertErrorPage(await browser.get(`${logoutUrl(t, { client_id: rp.clientId })}&client_id=${other.clientId}`), /more than once/);
      assertErrorPage(
        await browser.request(`${t.issuer}/oauth2/logout`, { method: 'POST', body: '{}', contentType: 'application/json' }),
        /x-www-form-urlencoded/,
      );
      assert.equal(await userinfoStatus(t, tokens.access_token), 200, 'none of these logged anyone out');

      const ok = await browser.get(logoutUrl(t, { id_token_hint: oldButKnown, post_logout_redirect_uri: AFTER_LOGOUT }));
      assert.equal(ok.status, 302, ok.text.slice(0, 300));
      assert.equal(await userinfoStatus(t, tokens.access_token), 401);
    });
  });
}
