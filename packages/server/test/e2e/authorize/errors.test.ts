import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
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
  type Page,
  redirectParams,
  submitConsent,
  submitLogin,
  type TestClient,
} from './helpers.ts';

/** An HTML error page that does not redirect anywhere. */
function assertErrorPage(page: Page, pattern?: RegExp): void {
  const context = `${page.status} ${page.location ?? ''} ${page.text.slice(0, 600)}`;
  assert.ok(page.status >= 400 && page.status < 500, context);
  assert.equal(page.location, null, context);
  assertPageHeaders(page);
  assert.doesNotMatch(page.text, /\bat .+\.(ts|js):\d+|node_modules/, 'no stack trace');
  if (pattern) assert.match(page.text, pattern, context);
}

/** An error redirected to the client, with state (when given) and iss. */
function assertErrorRedirect(t: TestLatch, page: Page, error: string, state: string | null = 'st-123'): URLSearchParams {
  const { base, params } = redirectParams(page);
  assert.equal(base, 'https://app.example/callback');
  assert.equal(params.get('error'), error, params.get('error_description') ?? '');
  assert.ok(params.get('error_description'));
  assert.equal(params.get('state'), state);
  assert.equal(params.get('iss'), t.issuer);
  assert.equal(params.has('code'), false);
  return params;
}

const raw = (issuer: string, query: string) => `${issuer}/oauth2/authorize?${query}`;

for (const backend of backends()) {
  describe(`[${backend}] authorization request errors`, () => {
    let t: TestLatch;
    let client: TestClient;
    let publicClient: TestClient;
    before(async () => {
      t = await startLatch(backend);
      client = await createClient(t, { scope: 'openid profile read:*' });
      publicClient = await createClient(t, { token_endpoint_auth_method: 'none', redirect_uris: ['https://app.example/callback'] });
      await createUser(t, 'alice');
    });
    after(() => t.close());

    describe('before the client and redirect URI are verified: an HTML page, never a redirect', () => {
      test('missing client_id', async () => {
        assertErrorPage(await new Browser(t.issuer).get(authorizeUrl(t.issuer, client, { client_id: undefined })), /client_id is missing/);
      });
      test('unknown client_id', async () => {
        assertErrorPage(await new Browser(t.issuer).get(authorizeUrl(t.issuer, client, { client_id: 'no-such-client' })), /client_id is not known/);
      });
      test('unregistered redirect_uri (also a prefix or a variant of a registered one)', async () => {
        for (const uri of [
          'https://evil.example/callback',
          'https://app.example/callback/more',
          'https://app.example/callback?x=1',
          'https://APP.example/callback',
        ]) {
          assertErrorPage(await new Browser(t.issuer).get(authorizeUrl(t.issuer, client, { redirect_uri: uri })), /redirect_uri does not match/);
        }
      });
      test('redirect_uri omitted while several are registered', async () => {
        const two = await createClient(t, { redirect_uris: ['https://app.example/a', 'https://app.example/b'] });
        assertErrorPage(await new Browser(t.issuer).get(authorizeUrl(t.issuer, two, { redirect_uri: undefined })), /redirect_uri is required/);
      });
      test('duplicated client_id or redirect_uri', async () => {
        const base = authorizeUrl(t.issuer, client);
        assertErrorPage(await new Browser(t.issuer).get(`${base}&client_id=${client.client_id}`), /client_id was sent more than once/);
        assertErrorPage(await new Browser(t.issuer).get(`${base}&redirect_uri=https%3A%2F%2Fapp.example%2Fcallback`), /redirect_uri was sent more than once/);
      });
      test('a client without the code flow (client_credentials only) has no redirect URI to use', async () => {
        const machine = await createClient(t, { grant_types: ['client_credentials'], redirect_uris: [], response_types: [] });
        assertErrorPage(await new Browser(t.issuer).get(authorizeUrl(t.issuer, machine, { redirect_uri: undefined })), /no registered redirect URI/);
      });
      test('POST with a JSON body or garbage is an HTML error, never a 500', async () => {
        const b = new Browser(t.issuer);
        assertErrorPage(await b.request(`${t.issuer}/oauth2/authorize`, { method: 'POST', body: '{"client_id":"x"}', contentType: 'application/json' }));
        assertErrorPage(await b.request(`${t.issuer}/oauth2/authorize`, { method: 'POST', body: '{oops', contentType: 'application/json' }));
        assertErrorPage(await b.request(`${t.issuer}/oauth2/authorize`, { method: 'POST', body: 'x', contentType: 'text/plain' }));
        assertErrorPage(await b.get(raw(t.issuer, 'client_id=%ZZ%&&&=')));
      });
    });

    describe('after verification: a redirect with error, error_description, state and iss', () => {
      test('missing response_type → invalid_request; other response types → unsupported_response_type', async () => {
        assertErrorRedirect(t, await new Browser(t.issuer).get(authorizeUrl(t.issuer, client, { response_type: undefined })), 'invalid_request');
        for (const rt of ['token', 'id_token', 'code id_token', 'none']) {
          assertErrorRedirect(t, await new Browser(t.issuer).get(authorizeUrl(t.issuer, client, { response_type: rt })), 'unsupported_response_type');
        }
      });
      test('duplicated parameters → invalid_request naming them; a duplicated state is not echoed', async () => {
        const base = authorizeUrl(t.issuer, client);
        const params = assertErrorRedirect(t, await new Browser(t.issuer).get(`${base}&scope=openid`), 'invalid_request');
        assert.match(params.get('error_description') ?? '', /scope/);
        assertErrorRedirect(t, await new Browser(t.issuer).get(`${base}&response_type=code`), 'invalid_request');
        assertErrorRedirect(t, await new Browser(t.issuer).get(`${base}&state=other`), 'invalid_request', null);
      });
      test('scope outside the allowed set or malformed → invalid_scope; patterns allow their resources', async () => {
        const b = new Browser(t.issuer);
        const params = assertErrorRedirect(t, await b.get(authorizeUrl(t.issuer, client, { scope: 'openid email' })), 'invalid_scope');
        assert.match(params.get('error_description') ?? '', /email/);
        assertErrorRedirect(t, await b.get(authorizeUrl(t.issuer, client, { scope: 'write:syn1' })), 'invalid_scope');
        assertErrorRedirect(t, await b.get(authorizeUrl(t.issuer, client, { scope: 'read:' })), 'invalid_scope');
        assertErrorRedirect(t, await b.get(authorizeUrl(t.issuer, client, { scope: 'openid  profile' })), 'invalid_scope');
        assertErrorRedirect(t, await b.get(authorizeUrl(t.issuer, client, { scope: 'a"b' })), 'invalid_scope');
        assertLoginPage(await b.get(authorizeUrl(t.issuer, client, { scope: 'read:syn123 read:other' })));
      });
      test('PKCE: a public client without code_challenge is refused', async () => {
        const params = assertErrorRedirect(
          t,
          await new Browser(t.issuer).get(authorizeUrl(t.issuer, publicClient, { code_challenge: undefined, code_challenge_method: undefined })),
          'invalid_request',
        );
        assert.match(params.get('error_description') ?? '', /code_challenge/);
      });
      test('PKCE: plain, a missing method, a malformed challenge and a method alone are refused (public and confidential)', async () => {
        for (const c of [client, publicClient]) {
          const b = new Browser(t.issuer);
          const verifierLike = 'a'.repeat(43);
          assertErrorRedirect(t, await b.get(authorizeUrl(t.issuer, c, { code_challenge: verifierLike, code_challenge_method: 'plain' })), 'invalid_request');
          assertErrorRedirect(t, await b.get(authorizeUrl(t.issuer, c, { code_challenge: verifierLike, code_challenge_method: undefined })), 'invalid_request');
          assertErrorRedirect(t, await b.get(authorizeUrl(t.issuer, c, { code_challenge: 'short', code_challenge_method: 'S256' })), 'invalid_request');
          assertErrorRedirect(t, await b.get(authorizeUrl(t.issuer, c, { code_challenge: undefined, code_challenge_method: 'S256' })), 'invalid_request');
        }
      });
      test('PKCE: a confidential client may omit it', async () => {
        assertLoginPage(await new Browser(t.issuer).get(authorizeUrl(t.issuer, client, { code_challenge: undefined, code_challenge_method: undefined })));
      });
      test('bad prompt, max_age, response_mode, request objects and id_token_hint', async () => {
        const b = new Browser(t.issuer);
        assertErrorRedirect(t, await b.get(authorizeUrl(t.issuer, client, { prompt: 'none login' })), 'invalid_request');
        assertErrorRedirect(t, await b.get(authorizeUrl(t.issuer, client, { prompt: 'select_account' })), 'invalid_request');
        assertErrorRedirect(t, await b.get(authorizeUrl(t.issuer, client, { max_age: '-1' })), 'invalid_request');
        assertErrorRedirect(t, await b.get(authorizeUrl(t.issuer, client, { max_age: 'soon' })), 'invalid_request');
        // An unknown response_mode is reported through the default mode (query).
        assertErrorRedirect(t, await b.get(authorizeUrl(t.issuer, client, { response_mode: 'jwt' })), 'invalid_request');
        assertErrorRedirect(t, await b.get(authorizeUrl(t.issuer, client, { request: 'eyJ.x.y' })), 'request_not_supported');
        assertErrorRedirect(t, await b.get(authorizeUrl(t.issuer, client, { request_uri: 'urn:x' })), 'request_uri_not_supported');
        assertErrorRedirect(t, await b.get(authorizeUrl(t.issuer, client, { id_token_hint: 'not-a-jwt' })), 'invalid_request');
        assertErrorRedirect(t, await b.get(authorizeUrl(t.issuer, client, { state: 'x'.repeat(3000) })), 'invalid_request', null);
      });
      test('errors honour response_mode=fragment and form_post', async () => {
        const b = new Browser(t.issuer);
        const frag = await b.get(authorizeUrl(t.issuer, client, { response_mode: 'fragment', scope: 'nope' }));
        const { params } = redirectParams(frag, 'fragment');
        assert.equal(params.get('error'), 'invalid_scope');
        assert.equal(params.get('state'), 'st-123');
        assert.equal(params.get('iss'), t.issuer);
        const post = await b.get(authorizeUrl(t.issuer, client, { response_mode: 'form_post', scope: 'nope' }));
        assert.equal(post.status, 200);
        assertPageHeaders(post);
        assert.equal(hidden(post, 'error'), 'invalid_scope');
        assert.equal(hidden(post, 'state'), 'st-123');
        assert.equal(hidden(post, 'iss'), t.issuer);
      });
    });

    describe('CSRF on the login and consent forms', () => {
      test('the login form is refused without the CSRF token, with a wrong one, or without the CSRF cookie', async () => {
        const b = new Browser(t.issuer);
        const login = await b.get(authorizeUrl(t.issuer, client));
        assertErrorPage(await submitLogin(b, t.issuer, login, 'alice', undefined, { csrf: undefined }), /not sent from this site/);
        const csrf = hidden(login, 'csrf');
        const wrongCsrf = `${csrf.slice(0, -2)}${csrf.endsWith('AA') ? 'BB' : 'AA'}`;
        assertErrorPage(await submitLogin(b, t.issuer, login, 'alice', undefined, { csrf: wrongCsrf }));
        // The cookie is the other half of the double submit: a form replayed from another browser fails.
        const other = new Browser(t.issuer);
        const refused = await submitLogin(other, t.issuer, login, 'alice');
        assertErrorPage(refused);
        assert.equal(refused.status, 403);
        assert.equal(
          refused.headers.getSetCookie().some((c) => c.startsWith('latch_session=')),
          false,
          'no session for a rejected form',
        );
        // A token minted for another interaction does not verify here.
        const second = await b.get(authorizeUrl(t.issuer, client, { state: 'two' }));
        assertErrorPage(await submitLogin(b, t.issuer, login, 'alice', undefined, { csrf: hidden(second, 'csrf') }));
        // And the genuine submission still works.
        assertConsentPage(await submitLogin(b, t.issuer, login, 'alice'));
      });

      test('a tampered or foreign interaction is refused', async () => {
        const b = new Browser(t.issuer);
        const login = await b.get(authorizeUrl(t.issuer, client));
        const sealed = hidden(login, 'interaction');
        const flipped = sealed.slice(0, 40) + (sealed[40] === 'A' ? 'B' : 'A') + sealed.slice(41);
        assertErrorPage(await submitLogin(b, t.issuer, login, 'alice', undefined, { interaction: flipped }));
        assertErrorPage(await submitLogin(b, t.issuer, login, 'alice', undefined, { interaction: 'v1.garbage' }));
        assertErrorPage(await submitLogin(b, t.issuer, login, 'alice', undefined, { interaction: undefined }));
        // A login-stage interaction is not accepted by the consent form.
        assertErrorPage(await b.post(`${t.issuer}/oauth2/consent`, { interaction: sealed, csrf: hidden(login, 'csrf'), decision: 'allow' }));
      });

      test('the consent form is refused without a valid CSRF token or from another browser session', async () => {
        const b = new Browser(t.issuer);
        const consent = await submitLogin(b, t.issuer, await b.get(authorizeUrl(t.issuer, client)), 'alice');
        assertConsentPage(consent);
        assertErrorPage(await submitConsent(b, t.issuer, consent, 'allow', { csrf: undefined }));
        assertErrorPage(await submitConsent(b, t.issuer, consent, 'allow', { csrf: 'x'.repeat(43) }));
        const stranger = new Browser(t.issuer);
        stranger.cookies.set('latch_csrf', b.cookies.get('latch_csrf') as string);
        assertErrorPage(await submitConsent(stranger, t.issuer, consent, 'allow'), /no longer signed in/);
        assertErrorPage(await submitConsent(b, t.issuer, consent, 'maybe' as 'allow'));
        assert.equal(redirectParams(await submitConsent(b, t.issuer, consent, 'allow')).params.has('code'), true);
      });
    });
  });
}
