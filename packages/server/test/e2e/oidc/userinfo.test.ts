/**
 * GET/POST /oauth2/userinfo edge cases (OIDC Core §5.3, RFC 6750 §2 and §3): how the token may be
 * sent, and every way an access token stops being good enough.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as oidc from 'openid-client';
import { mintToken } from '../../../src/crypto/random.ts';
import { backends } from '../../support/backends.ts';
import { startLatch, type TestLatch } from '../../support/latch.ts';
import { Browser, createUser, type RelyingParty, relyingParty, signIn } from './helpers.ts';

interface Answer {
  status: number;
  challenge: string | null;
  body: Record<string, unknown> | undefined;
  headers: Headers;
}

async function call(
  t: TestLatch,
  init: { method?: string; token?: string; query?: string; form?: Record<string, string>; contentType?: string; body?: string } = {},
): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (init.token !== undefined) headers.authorization = `Bearer ${init.token}`;
  let body = init.body;
  if (init.form) {
    body = new URLSearchParams(init.form).toString();
    headers['content-type'] = 'application/x-www-form-urlencoded';
  }
  if (init.contentType) headers['content-type'] = init.contentType;
  const res = await fetch(`${t.issuer}/oauth2/userinfo${init.query ?? ''}`, {
    method: init.method ?? (body ? 'POST' : 'GET'),
    headers,
    ...(body ? { body } : {}),
  });
  const text = await res.text();
  return { status: res.status, challenge: res.headers.get('www-authenticate'), body: text ? JSON.parse(text) : undefined, headers: res.headers };
}

function assertInvalidToken(a: Answer): void {
  assert.equal(a.status, 401, JSON.stringify(a.body));
  assert.match(a.challenge ?? '', /^Bearer realm="[^"]+", error="invalid_token"/);
  assert.equal(a.body?.error, 'invalid_token');
}

for (const backend of backends()) {
  describe(`[${backend}] userinfo endpoint`, () => {
    let t: TestLatch;
    let rp: RelyingParty;
    let offset = 0;
    before(async () => {
      t = await startLatch(backend, { clock: () => Date.now() + offset });
      rp = await relyingParty(t);
    });
    after(() => t.close());

    const login = async (username: string, scope?: string) => {
      const user = await createUser(t, username, { email: `${username}@example.com` });
      return { user, tokens: (await signIn(t, rp, new Browser(t.issuer), username, scope)).tokens };
    };

    test('the token in the Authorization header (GET or POST) or in a form body (POST); no-store', async () => {
      const { user, tokens } = await login('hopper');
      for (const answer of [
        await call(t, { token: tokens.access_token }),
        await call(t, { method: 'POST', token: tokens.access_token }),
        await call(t, { form: { access_token: tokens.access_token } }),
      ]) {
        assert.equal(answer.status, 200);
        assert.equal(answer.body?.sub, user.id);
        assert.equal(answer.body?.email, 'hopper@example.com');
        assert.equal(answer.headers.get('cache-control'), 'no-store');
        assert.match(answer.headers.get('content-type') ?? '', /^application\/json/);
      }
    });

    test('never in the query, never two ways at once, never twice (400 invalid_request)', async () => {
      const { tokens } = await login('liskov');
      for (const a of [
        await call(t, { query: `?access_token=${tokens.access_token}` }),
        await call(t, { query: `?access_token=${tokens.access_token}`, token: tokens.access_token }),
        await call(t, { token: tokens.access_token, form: { access_token: tokens.access_token } }),
        await call(t, { body: `access_token=${tokens.access_token}&access_token=${tokens.access_token}`, contentType: 'application/x-www-form-urlencoded' }),
      ]) {
        assert.equal(a.status, 400);
        assert.equal(a.body?.error, 'invalid_request');
      }
    });

    test('no credentials: 401 with a bare Bearer challenge (RFC 6750 §3.1); garbage, unknown and non-Bearer tokens: invalid_token', async () => {
      const none = await call(t);
      assert.equal(none.status, 401);
      assert.match(none.challenge ?? '', /^Bearer realm="[^"]+"$/);
      assertInvalidToken(await call(t, { token: 'not-a-token' }));
      assertInvalidToken(await call(t, { token: mintToken('at').token }));
      assertInvalidToken(await call(t, { token: mintToken('rt').token }));
      const basic = await fetch(`${t.issuer}/oauth2/userinfo`, { headers: { authorization: 'Basic dXNlcjpwYXNz' } });
      assert.equal(basic.status, 401);
      assert.match(basic.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
    });

    test('a revoked access token, an ended session and a deactivated user are all invalid_token', async () => {
      const revoked = await login('knuth');
      await oidc.tokenRevocation(rp.config, revoked.tokens.access_token, { token_type_hint: 'access_token' });
      assertInvalidToken(await call(t, { token: revoked.tokens.access_token }));

      const ended = await login('ritchie');
      await oidc.tokenRevocation(rp.config, ended.tokens.refresh_token as string);
      assertInvalidToken(await call(t, { token: ended.tokens.access_token }));

      const gone = await login('thompson');
      assert.equal((await call(t, { token: gone.tokens.access_token })).status, 200);
      assert.equal((await t.admin('DELETE', `/admin/v1/users/${gone.user.id}`)).status, 200);
      assertInvalidToken(await call(t, { token: gone.tokens.access_token }));
    });

    test('a client_credentials token has no End-User: invalid_token', async () => {
      const res = await t.admin<{ client_id: string; client_secret: string }>('POST', '/admin/v1/clients', {
        client_name: 'Batch',
        redirect_uris: [],
        grant_types: ['client_credentials'],
        scope: 'openid read',
      });
      assert.equal(res.status, 201);
      const config = await oidc.discovery(new URL(t.issuer), res.body.client_id, undefined, oidc.ClientSecretBasic(res.body.client_secret), {
        execute: [oidc.allowInsecureRequests],
      });
      const tokens = await oidc.clientCredentialsGrant(config, { scope: 'read' });
      assertInvalidToken(await call(t, { token: tokens.access_token }));
    });

    test('an expired access token is invalid_token (checked last: the clock moves on)', async () => {
      const { tokens } = await login('wirth');
      assert.equal((await call(t, { token: tokens.access_token })).status, 200);
      offset += ((tokens.expires_in ?? 300) + 1) * 1000;
      assertInvalidToken(await call(t, { token: tokens.access_token }));
    });
  });
}
