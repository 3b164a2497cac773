import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { backends } from '../../support/backends.ts';
import { startLatch, type TestLatch } from '../../support/latch.ts';
import { basic, createClient, createServiceClient, post, type Reply, type TestClient } from './helpers.ts';

const ENDPOINTS = ['/oauth2/token', '/oauth2/introspect', '/oauth2/revoke'] as const;

for (const backend of backends()) {
  describe(`[${backend}] back-channel endpoints answer bad input per spec, never with a 5xx`, () => {
    let t: TestLatch;
    let svc: TestClient;
    let auth: string;
    before(async () => {
      t = await startLatch(backend);
      svc = await createServiceClient(t);
      auth = basic(svc.client_id, svc.client_secret as string);
    });
    after(() => t.close());

    /** A valid form for each endpoint, so each case changes one thing. */
    const valid = (path: string): Record<string, string> => (path === '/oauth2/token' ? { grant_type: 'client_credentials' } : { token: 'lat_at_x' });

    function expectError(res: Reply, status: number, error: string, context: string) {
      assert.equal(res.status, status, `${context}: ${res.text}`);
      assert.equal(res.body.error, error, `${context}: ${res.text}`);
      assert.equal(typeof res.body.error_description, 'string', context);
      assert.equal(res.headers.get('cache-control'), 'no-store', context);
      assert.equal(res.headers.get('pragma'), 'no-cache', context);
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/, context);
    }

    test('duplicate parameters are invalid_request', async () => {
      for (const path of ENDPOINTS) {
        const key = Object.keys(valid(path))[0] as string;
        const body = `${new URLSearchParams(valid(path))}&${key}=again`;
        expectError(await post(t, path, body, { authorization: auth }), 400, 'invalid_request', path);
        // A repeated client_id counts too.
        const dupId = `${new URLSearchParams(valid(path))}&client_id=${svc.client_id}&client_id=${svc.client_id}`;
        expectError(await post(t, path, dupId, { authorization: auth }), 400, 'invalid_request', `${path} client_id`);
      }
    });

    test('JSON, plain-text garbage and empty bodies are 400 invalid_request', async () => {
      for (const path of ENDPOINTS) {
        expectError(
          await post(t, path, JSON.stringify(valid(path)), { authorization: auth, contentType: 'application/json' }),
          400,
          'invalid_request',
          `${path} json`,
        );
        expectError(await post(t, path, '{not json', { authorization: auth, contentType: 'application/json' }), 400, 'invalid_request', `${path} bad json`);
        expectError(await post(t, path, '\u0000\u0001garbage', { authorization: auth, contentType: 'text/plain' }), 400, 'invalid_request', `${path} text`);
        expectError(await post(t, path, 'garbage', { authorization: auth, contentType: 'application/octet-stream' }), 400, 'invalid_request', `${path} binary`);
        expectError(await post(t, path, undefined, { authorization: auth }), 400, 'invalid_request', `${path} empty`);
      }
      // Form garbage parses to unknown parameters: the required one is missing.
      expectError(await post(t, '/oauth2/token', '%%%&&==&=x', { authorization: auth }), 400, 'invalid_request', 'form garbage');
    });

    test('oversized parameters and bodies are rejected', async () => {
      for (const path of ENDPOINTS) {
        const big = { ...valid(path), scope: 'a'.repeat(5000) };
        expectError(await post(t, path, big, { authorization: auth }), 400, 'invalid_request', `${path} long param`);
        const many = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`p${i}`, 'x']));
        expectError(await post(t, path, { ...valid(path), ...many }, { authorization: auth }), 400, 'invalid_request', `${path} many params`);
        const huge = await post(t, path, { ...valid(path), x: 'y'.repeat(70 * 1024) }, { authorization: auth });
        assert.ok(huge.status === 413 || huge.status === 400, `${path} huge body: ${huge.status}`);
        assert.equal(huge.body.error, 'invalid_request');
      }
    });

    test('missing required parameters are invalid_request', async () => {
      expectError(await post(t, '/oauth2/token', {}, { authorization: auth }), 400, 'invalid_request', 'token without grant_type');
      expectError(await post(t, '/oauth2/introspect', {}, { authorization: auth }), 400, 'invalid_request', 'introspect without token');
      expectError(await post(t, '/oauth2/revoke', {}, { authorization: auth }), 400, 'invalid_request', 'revoke without token');
      const web = await createClient(t);
      const webAuth = basic(web.client_id, web.client_secret as string);
      expectError(await post(t, '/oauth2/token', { grant_type: 'authorization_code' }, { authorization: webAuth }), 400, 'invalid_request', 'no code');
      expectError(await post(t, '/oauth2/token', { grant_type: 'refresh_token' }, { authorization: webAuth }), 400, 'invalid_request', 'no refresh_token');
    });

    test('unsupported grant types', async () => {
      for (const grant_type of ['password', 'implicit', 'urn:ietf:params:oauth:grant-type:device_code', 'x'.repeat(300)]) {
        expectError(await post(t, '/oauth2/token', { grant_type }, { authorization: auth }), 400, 'unsupported_grant_type', grant_type.slice(0, 40));
      }
    });

    test('wrong or missing client credentials: 401 invalid_client with WWW-Authenticate', async () => {
      const cases: [string, Record<string, string>, string | undefined][] = [
        ['wrong secret', {}, basic(svc.client_id, 'lat_cs_wrong')],
        ['unknown client', {}, basic('nobody', 'secret')],
        ['not base64', {}, 'Basic !!!'],
        ['no colon', {}, `Basic ${Buffer.from('just-an-id').toString('base64')}`],
        ['bad percent-encoding', {}, `Basic ${Buffer.from(`${svc.client_id}:%E0%A4%A`).toString('base64')}`],
        ['other scheme', {}, 'Bearer abc'],
        ['nothing', {}, undefined],
        ['post secret wrong', { client_id: svc.client_id, client_secret: 'nope' }, undefined],
        ['post for a basic client', { client_id: svc.client_id, client_secret: svc.client_secret as string }, undefined],
        ['client_id only for a confidential client', { client_id: svc.client_id }, undefined],
      ];
      for (const path of ENDPOINTS) {
        for (const [name, extra, authorization] of cases) {
          if (path === '/oauth2/revoke' && name === 'client_id only for a confidential client') continue;
          const res = await post(t, path, { ...valid(path), ...extra }, authorization ? { authorization } : {});
          expectError(res, 401, 'invalid_client', `${path} ${name}`);
          assert.match(res.headers.get('www-authenticate') ?? '', /^Basic realm="/, `${path} ${name}`);
        }
      }
      const revokeAsConfidentialWithoutSecret = await post(t, '/oauth2/revoke', { token: 'x', client_id: svc.client_id });
      expectError(revokeAsConfidentialWithoutSecret, 401, 'invalid_client', 'revoke with client_id only');
    });

    test('more than one client authentication method is invalid_request', async () => {
      for (const path of ENDPOINTS) {
        const res = await post(t, path, { ...valid(path), client_id: svc.client_id, client_secret: svc.client_secret as string }, { authorization: auth });
        expectError(res, 400, 'invalid_request', path);
        const withAssertion = await post(
          t,
          path,
          { ...valid(path), client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: 'a.b.c' },
          { authorization: auth },
        );
        expectError(withAssertion, 400, 'invalid_request', `${path} basic + assertion`);
      }
    });

    test('client ids and secrets are form-urlencoded inside Basic (RFC 6749 §2.3.1); a charset parameter is fine', async () => {
      const encoded = `Basic ${Buffer.from(`${encodeURIComponent(svc.client_id)}:${encodeURIComponent(svc.client_secret as string)}`).toString('base64')}`;
      const res = await post(t, '/oauth2/token', 'grant_type=client_credentials', {
        authorization: encoded,
        contentType: 'application/x-www-form-urlencoded; charset=UTF-8',
      });
      assert.equal(res.status, 200, res.text);
      const lower = await post(t, '/oauth2/token', { grant_type: 'client_credentials' }, { authorization: auth.replace('Basic', 'basic') });
      assert.equal(lower.status, 200, 'the scheme is case-insensitive (RFC 7235 §2.1)');
    });
  });
}
