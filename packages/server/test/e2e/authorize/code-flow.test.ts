import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { hashSecret } from '../../../src/crypto/random.ts';
import { checkToken } from '../../../src/domain/token-format.ts';
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
  decodeEntities,
  hidden,
  pkce,
  redirectParams,
  signInAndAllow,
  submitConsent,
  submitLogin,
  type TestClient,
} from './helpers.ts';

for (const backend of backends()) {
  describe(`[${backend}] authorization code front channel`, () => {
    let t: TestLatch;
    let client: TestClient;
    before(async () => {
      t = await startLatch(backend, { config: { 'scopes.descriptions': { 'read:{resource}': 'Read {resource}', 'write:all': 'Change everything' } } });
      client = await createClient(t, { client_uri: 'https://app.example/', logo_uri: 'https://app.example/logo.png' });
      await createUser(t, 'alice');
      await createUser(t, 'bob');
      await createUser(t, 'carol');
    });
    after(() => t.close());

    test('login, consent, then a redirect with code, state and iss; only the code hash is stored with the request details', async () => {
      const browser = new Browser(t.issuer);
      const { challenge } = pkce();
      const url = authorizeUrl(t.issuer, client, { scope: 'openid profile read:syn123', nonce: 'n-1', code_challenge: challenge });

      const login = await browser.get(url);
      assert.equal(login.status, 200);
      assertLoginPage(login);
      assertPageHeaders(login);
      assert.match(login.text, /Workflow Runner/);
      assert.match(login.text, /<link rel="stylesheet" href="\/assets\/latch\.css">/);

      const consent = await submitLogin(browser, t.issuer, login, 'alice');
      assert.equal(consent.status, 200);
      assertConsentPage(consent);
      assertPageHeaders(consent);
      const session = [...browser.cookies].find(([name]) => name === 'latch_session');
      assert.ok(session, 'a browser session cookie was set');
      assert.equal(checkToken(session[1]), 'bs');
      // Scopes in words, patterns filled in, the client's name, URI and logo.
      assert.match(consent.text, /Workflow Runner<\/strong> wants to access your account/);
      assert.match(consent.text, /Read syn123/);
      assert.match(consent.text, /Sign you in with your account/);
      assert.match(consent.text, /See your username and name/);
      assert.match(consent.text, /href="https:\/\/app\.example\/"/);
      assert.match(consent.text, /<img class="logo" src="https:\/\/app\.example\/logo\.png"/);
      assert.match(consent.headers.get('content-security-policy') ?? '', /img-src 'self' https:\/\/app\.example/);
      assert.match(consent.text, /Signed in as <strong>alice<\/strong>/);

      const done = await submitConsent(browser, t.issuer, consent, 'allow');
      assert.equal(done.status, 303);
      assert.equal(done.headers.get('cache-control'), 'no-store');
      const { base, params } = redirectParams(done);
      assert.equal(base, 'https://app.example/callback');
      assert.deepEqual([...params.keys()], ['code', 'state', 'iss']);
      assert.equal(params.get('state'), 'st-123');
      assert.equal(params.get('iss'), t.issuer);
      const code = params.get('code') as string;
      assert.equal(checkToken(code), 'ac');

      const record = await t.latch.storage.authorizationCodes.findByHash(hashSecret(code));
      assert.ok(record);
      assert.equal(record.clientId, client.client_id);
      assert.equal(record.redirectUri, 'https://app.example/callback');
      assert.equal(record.redirectUriSent, true);
      assert.deepEqual(record.scope, ['openid', 'profile', 'read:syn123']);
      assert.equal(record.codeChallenge, challenge);
      assert.equal(record.codeChallengeMethod, 'S256');
      assert.equal(record.nonce, 'n-1');
      assert.deepEqual(record.amr, ['pwd']);
      assert.ok(record.browserSessionId);
      assert.ok(record.expiresAt - record.createdAt === t.latch.config.tokens.authorizationCodeTtl * 1000);
      const user = await t.latch.storage.users.findByUsername('alice');
      assert.equal(record.userId, user?.id);
      const bs = await t.latch.storage.browserSessions.findByCookieHash(hashSecret(session[1]));
      assert.equal(bs?.id, record.browserSessionId);
      assert.equal(record.authTime, bs?.authenticatedAt);
    });

    test('the browser session cookie is HttpOnly, SameSite=Lax, Path=/ with the configured lifetime (not Secure on http)', async () => {
      const browser = new Browser(t.issuer);
      const login = await browser.get(authorizeUrl(t.issuer, client));
      const res = await submitLogin(browser, t.issuer, login, 'bob');
      const line = res.headers.getSetCookie().find((c) => c.startsWith('latch_session='));
      assert.ok(line, 'Set-Cookie for the session');
      assert.match(line, /; HttpOnly/i);
      assert.match(line, /; SameSite=Lax/i);
      assert.match(line, /; Path=\//i);
      assert.match(line, new RegExp(`; Max-Age=${t.latch.config.sessions.browserSessionTtl}`, 'i'));
      assert.doesNotMatch(line, /Secure/i);
      const csrf = login.headers.getSetCookie().find((c) => c.startsWith('latch_csrf='));
      assert.ok(csrf, 'CSRF cookie set with the login page');
      assert.match(csrf, /; HttpOnly/i);
      assert.match(csrf, /; SameSite=Lax/i);
    });

    test('SSO: a second authorization in the same browser needs neither login nor consent again', async () => {
      const browser = new Browser(t.issuer);
      const first = await signInAndAllow(t, browser, authorizeUrl(t.issuer, client), 'carol');
      assert.ok(redirectParams(first).params.get('code'));
      const second = await browser.get(authorizeUrl(t.issuer, client, { state: 'again' }));
      assert.equal(second.status, 302);
      const { params } = redirectParams(second);
      assert.ok(params.get('code'));
      assert.equal(params.get('state'), 'again');
      assert.notEqual(params.get('code'), redirectParams(first).params.get('code'));
    });

    test('consent is remembered per user + client; more scopes ask again; prompt=consent forces it', async () => {
      await createUser(t, 'dave');
      const browser = new Browser(t.issuer);
      await signInAndAllow(t, browser, authorizeUrl(t.issuer, client, { scope: 'openid profile' }), 'dave');

      // Same scopes, and a subset: no page.
      assert.equal((await browser.get(authorizeUrl(t.issuer, client, { scope: 'openid profile' }))).status, 302);
      assert.equal((await browser.get(authorizeUrl(t.issuer, client, { scope: 'openid' }))).status, 302);

      // One more scope: asked again, listing it.
      const more = await browser.get(authorizeUrl(t.issuer, client, { scope: 'openid profile email' }));
      assertConsentPage(more);
      assert.match(more.text, /See your email address/);
      assert.equal(redirectParams(await submitConsent(browser, t.issuer, more, 'allow')).params.has('code'), true);
      assert.equal((await browser.get(authorizeUrl(t.issuer, client, { scope: 'openid email' }))).status, 302);

      // prompt=consent shows the page although everything was granted.
      const forced = await browser.get(authorizeUrl(t.issuer, client, { scope: 'openid', prompt: 'consent' }));
      assertConsentPage(forced);

      // Another client of the same user is a separate consent.
      const other = await createClient(t, { client_name: 'Other App', redirect_uris: ['https://other.example/cb'] });
      assertConsentPage(await browser.get(authorizeUrl(t.issuer, other, { scope: 'openid' })));
    });

    test('Deny redirects with access_denied, state and iss, and remembers nothing', async () => {
      await createUser(t, 'erin');
      const browser = new Browser(t.issuer);
      const login = await browser.get(authorizeUrl(t.issuer, client, { state: 'deny-state' }));
      const consent = await submitLogin(browser, t.issuer, login, 'erin');
      const denied = await submitConsent(browser, t.issuer, consent, 'deny');
      const { base, params } = redirectParams(denied);
      assert.equal(base, 'https://app.example/callback');
      assert.equal(params.get('error'), 'access_denied');
      assert.ok(params.get('error_description'));
      assert.equal(params.get('state'), 'deny-state');
      assert.equal(params.get('iss'), t.issuer);
      assert.equal(params.has('code'), false);
      // Still not consented: the next request asks again.
      assertConsentPage(await browser.get(authorizeUrl(t.issuer, client)));
    });

    test('skip_consent clients go straight from login to the redirect', async () => {
      const firstParty = await createClient(t, { client_name: 'First Party', skip_consent: true, redirect_uris: ['https://first.example/cb'] });
      await createUser(t, 'frank');
      const browser = new Browser(t.issuer);
      const login = await browser.get(authorizeUrl(t.issuer, firstParty, { scope: 'openid email' }));
      const done = await submitLogin(browser, t.issuer, login, 'frank');
      assert.equal(done.status, 303);
      assert.ok(redirectParams(done).params.get('code'));
      // prompt=consent still asks (the request insists).
      assertConsentPage(await browser.get(authorizeUrl(t.issuer, firstParty, { scope: 'openid', prompt: 'consent' })));
    });

    test('response_mode=fragment puts code, state and iss in the fragment', async () => {
      const browser = new Browser(t.issuer);
      const page = await signInAndAllow(t, browser, authorizeUrl(t.issuer, client, { response_mode: 'fragment', state: 'frag' }), 'alice');
      const { base, params } = redirectParams(page, 'fragment');
      assert.equal(base, 'https://app.example/callback');
      assert.equal(checkToken(params.get('code') as string), 'ac');
      assert.equal(params.get('state'), 'frag');
      assert.equal(params.get('iss'), t.issuer);
    });

    test('response_mode=form_post answers with an auto-submitting form (hashed script, noscript button) to the redirect URI', async () => {
      const browser = new Browser(t.issuer);
      const page = await signInAndAllow(t, browser, authorizeUrl(t.issuer, client, { response_mode: 'form_post', state: 'fp<"&' }), 'alice');
      assert.equal(page.status, 200);
      assertPageHeaders(page);
      assert.match(page.text, /<form method="post" action="https:\/\/app\.example\/callback">/);
      assert.equal(checkToken(hidden(page, 'code')), 'ac');
      assert.equal(hidden(page, 'state'), 'fp<"&');
      assert.equal(hidden(page, 'iss'), t.issuer);
      assert.match(page.text, /<noscript>.*<button type="submit"[^>]*>Continue<\/button><\/noscript>/s);
      const script = /<script>([^<]*)<\/script>/.exec(page.text)?.[1];
      assert.equal(script, 'document.forms[0].submit();');
      const { createHash } = await import('node:crypto');
      const hash = createHash('sha256').update(script).digest('base64');
      assert.match(page.headers.get('content-security-policy') ?? '', new RegExp(`script-src 'sha256-${hash.replace(/[+/]/g, '\\$&')}'`));
    });

    test('POST /oauth2/authorize with a form body works like GET', async () => {
      const browser = new Browser(t.issuer);
      await signInAndAllow(t, browser, authorizeUrl(t.issuer, client), 'alice');
      const url = new URL(authorizeUrl(t.issuer, client, { state: 'posted' }));
      const res = await browser.request(`${t.issuer}/oauth2/authorize`, {
        method: 'POST',
        body: url.searchParams.toString(),
        contentType: 'application/x-www-form-urlencoded',
      });
      assert.equal(res.status, 303);
      assert.equal(redirectParams(res).params.get('state'), 'posted');
    });

    test('redirect_uri may be omitted when exactly one is registered; the code records that it was not sent', async () => {
      const browser = new Browser(t.issuer);
      const page = await signInAndAllow(t, browser, authorizeUrl(t.issuer, client, { redirect_uri: undefined }), 'alice');
      const code = redirectParams(page).params.get('code') as string;
      const record = await t.latch.storage.authorizationCodes.findByHash(hashSecret(code));
      assert.equal(record?.redirectUri, 'https://app.example/callback');
      assert.equal(record?.redirectUriSent, false);
    });

    test('a registered redirect URI with a query keeps it and gets the parameters appended', async () => {
      const withQuery = await createClient(t, { skip_consent: true, redirect_uris: ['https://q.example/cb?tenant=a%20b'] });
      const browser = new Browser(t.issuer);
      const page = await signInAndAllow(t, browser, authorizeUrl(t.issuer, withQuery), 'alice');
      assert.ok(page.location?.startsWith('https://q.example/cb?tenant=a%20b&code='), page.location ?? '');
    });

    test('native clients with a loopback redirect URI may use any port (RFC 8252 §7.3); web clients may not', async () => {
      const native = await createClient(t, {
        application_type: 'native',
        token_endpoint_auth_method: 'none',
        skip_consent: true,
        redirect_uris: ['http://127.0.0.1/callback'],
      });
      const browser = new Browser(t.issuer);
      const page = await signInAndAllow(t, browser, authorizeUrl(t.issuer, native, { redirect_uri: 'http://127.0.0.1:51234/callback' }), 'alice');
      assert.equal(redirectParams(page).base, 'http://127.0.0.1:51234/callback');
      const wrongPath = await browser.get(authorizeUrl(t.issuer, native, { redirect_uri: 'http://127.0.0.1:51234/other' }));
      assert.equal(wrongPath.status, 400);
      assert.equal(wrongPath.location, null);

      const web = await createClient(t, { skip_consent: true, redirect_uris: ['http://127.0.0.1:4000/cb'] });
      const res = await browser.get(authorizeUrl(t.issuer, web, { redirect_uri: 'http://127.0.0.1:4001/cb' }));
      assert.equal(res.status, 400);
      assert.equal(res.location, null);
    });

    test('everything rendered is escaped (client name, login_hint)', async () => {
      const evil = await createClient(t, { client_name: '<script>alert(1)</script>"', redirect_uris: ['https://evil.example/cb'] });
      const browser = new Browser(t.issuer);
      const login = await browser.get(authorizeUrl(t.issuer, evil, { login_hint: '"><img src=x onerror=alert(1)>' }));
      assertLoginPage(login);
      assert.doesNotMatch(login.text, /<script>alert/);
      assert.doesNotMatch(login.text, /<img src=x/);
      assert.match(login.text, /&lt;script&gt;alert\(1\)&lt;\/script&gt;&quot;/);
      assert.match(login.text, /value="&quot;&gt;&lt;img src=x onerror=alert\(1\)&gt;"/);
      assert.equal(decodeEntities(/id="username"[^>]*value="([^"]*)"/s.exec(login.text)?.[1] ?? ''), '"><img src=x onerror=alert(1)>');
    });

    test('the stylesheet is served from the public listener', async () => {
      const res = await fetch(`${t.issuer}/assets/latch.css`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/css/);
      assert.match(await res.text(), /\.card/);
    });

    test('discovery advertises the authorization endpoint and exactly what it supports', async () => {
      const doc = (await (await fetch(`${t.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
      assert.equal(doc.authorization_endpoint, `${t.issuer}/oauth2/authorize`);
      assert.deepEqual(doc.response_types_supported, ['code']);
      assert.deepEqual(doc.response_modes_supported, ['query', 'fragment', 'form_post']);
      assert.equal(doc.authorization_response_iss_parameter_supported, true);
      assert.deepEqual(doc.code_challenge_methods_supported, ['S256']);
      assert.deepEqual(doc.prompt_values_supported, ['none', 'login', 'consent']);
      assert.equal(doc.request_uri_parameter_supported, false);
    });
  });
}

describe('[sqlite] cookies with an https issuer', () => {
  let t: TestLatch;
  before(async () => {
    // The listener still speaks plain HTTP to the test; only the configured issuer is https.
    t = await startLatch('sqlite', { config: { issuer: 'https://login.example' } });
  });
  after(() => t.close());

  test('are Secure and use the __Host- prefix; the authorization response carries the https issuer', async () => {
    const client = await createClient(t, { skip_consent: true });
    await createUser(t, 'alice');
    const browser = new Browser(t.issuer);
    const login = await browser.get(authorizeUrl(t.issuer, client));
    const csrf = login.headers.getSetCookie().find((c) => c.startsWith('__Host-latch_csrf='));
    assert.ok(csrf, login.headers.getSetCookie().join(' | '));
    assert.match(csrf, /; Secure/);
    assert.match(csrf, /; Path=\//);
    assert.doesNotMatch(csrf, /Domain=/i);
    const done = await submitLogin(browser, t.issuer, login, 'alice');
    const session = done.headers.getSetCookie().find((c) => c.startsWith('__Host-latch_session='));
    assert.ok(session);
    assert.match(session, /; Secure/);
    assert.match(session, /; HttpOnly/);
    assert.equal(redirectParams(done).params.get('iss'), 'https://login.example');
    // SSO works with the prefixed cookie.
    assert.equal((await browser.get(authorizeUrl(t.issuer, client))).status, 302);
  });
});
