import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { mintToken } from '../crypto/random.ts';
import type { Client } from '../domain/client.ts';
import { OAuthError } from '../domain/errors.ts';
import { ClientAuthenticator, parseBasic } from './client-auth.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const isCode = (code: string) => (e: unknown) => e instanceof OAuthError && e.code === code;

function fixture(method: Client['metadata']['token_endpoint_auth_method'] = 'client_secret_basic') {
  const secret = mintToken('cs');
  let client: Client | undefined = {
    clientId: 'c1',
    secretHash: secret.hash,
    metadata: { token_endpoint_auth_method: method, grant_types: ['client_credentials'], redirect_uris: [], response_types: [], application_type: 'web' },
    skipConsent: false,
    introspectAnyToken: false,
    accessTokenTtl: null,
    refreshTokenPolicy: 'always',
    registrationAccessTokenHash: null,
    source: 'admin',
    createdAt: 0,
    updatedAt: 0,
  };
  let lookups = 0;
  let now = 1_000_000;
  const auth = new ClientAuthenticator({
    clients: {
      lookup: async (id) => {
        lookups++;
        return id === 'c1' ? client : undefined;
      },
    },
    assertionJtis: { addIfAbsent: async () => true },
    jwks: { keys: async () => assert.fail('no keys needed') },
    issuer: 'https://issuer.example',
    tokenEndpoint: 'https://issuer.example/oauth2/token',
    clock: () => now,
    cacheTtlMs: 5000,
  });
  const params = (record: Record<string, string>) => ({ get: (name: string) => record[name] });
  return {
    auth,
    secret: secret.token,
    lookups: () => lookups,
    advance: (ms: number) => {
      now += ms;
    },
    replace: (c: Client | undefined) => {
      client = c;
    },
    basicAuth: (id: string, s: string) =>
      auth.authenticate({ authorization: `Basic ${b64(`${id}:${s}`)}`, params: params({}), endpoint: 'x' }, { allowPublic: true }),
    call: (authorization: string | undefined, form: Record<string, string>, allowPublic = true) =>
      auth.authenticate({ authorization, params: params(form), endpoint: 'x' }, { allowPublic }),
  };
}

describe('client authentication', () => {
  test('Basic credentials are form-urlencoded halves (RFC 6749 §2.3.1)', () => {
    assert.deepEqual(parseBasic(`Basic ${b64('my%20client:s%3Acret+x')}`), { clientId: 'my client', secret: 's:cret x' });
    assert.deepEqual(parseBasic(`basic ${b64('a:')}`), { clientId: 'a', secret: '' });
    assert.throws(() => parseBasic('Bearer abc'), isCode('invalid_client'));
    assert.throws(() => parseBasic(`Basic ${b64('no-colon')}`), isCode('invalid_client'));
    assert.throws(() => parseBasic(`Basic ${b64('a:%E0%A4%A')}`), isCode('invalid_client'));
  });

  test('a verified secret is cached briefly: one lookup for repeated calls, a new one after the TTL', async () => {
    const f = fixture();
    await f.basicAuth('c1', f.secret);
    await f.basicAuth('c1', f.secret);
    assert.equal(f.lookups(), 1);
    f.advance(5001);
    await f.basicAuth('c1', f.secret);
    assert.equal(f.lookups(), 2);
  });

  test('failures are never cached, and invalidate() drops a client at once', async () => {
    const f = fixture();
    await assert.rejects(f.basicAuth('c1', 'wrong'), isCode('invalid_client'));
    await assert.rejects(f.basicAuth('c1', 'wrong'), isCode('invalid_client'));
    await f.basicAuth('c1', f.secret);
    f.replace(undefined); // deleted
    await f.basicAuth('c1', f.secret); // still cached in this window ...
    f.auth.invalidate('c1');
    await assert.rejects(f.basicAuth('c1', f.secret), isCode('invalid_client')); // ... until invalidated
  });

  test('the registered method must be used; more than one method is invalid_request', async () => {
    const f = fixture('client_secret_post');
    await assert.rejects(f.basicAuth('c1', f.secret), isCode('invalid_client'));
    const ok = await f.call(undefined, { client_id: 'c1', client_secret: f.secret });
    assert.equal(ok.method, 'client_secret_post');
    await assert.rejects(f.call(`Basic ${b64(`c1:${f.secret}`)}`, { client_secret: f.secret }), isCode('invalid_request'));
    await assert.rejects(f.call(undefined, { client_id: 'c1', client_secret: f.secret, client_assertion: 'x' }), isCode('invalid_request'));
    await assert.rejects(f.call(undefined, {}), isCode('invalid_client'));
  });

  test('public clients identify with client_id only where allowed', async () => {
    const f = fixture('none');
    assert.equal((await f.call(undefined, { client_id: 'c1' })).method, 'none');
    await assert.rejects(f.call(undefined, { client_id: 'c1' }, false), isCode('invalid_client'));
  });
});
