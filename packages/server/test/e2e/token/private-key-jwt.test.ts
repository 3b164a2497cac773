import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import * as oidc from 'openid-client';
import { backends } from '../../support/backends.ts';
import { startLatch, type TestLatch } from '../../support/latch.ts';
import { createServiceClient, post, type Reply, type TestClient } from './helpers.ts';

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

async function keyPair(alg: 'ES256' | 'RS256', kid: string): Promise<{ privateKey: CryptoKey; jwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

interface AssertionOptions {
  iss?: string;
  sub?: string;
  aud?: string | string[];
  exp?: number | null;
  jti?: string | null;
  kid?: string;
  alg?: string;
}

for (const backend of backends()) {
  describe(`[${backend}] private_key_jwt client authentication (RFC 7523, OIDC Core §9)`, () => {
    let t: TestLatch;
    let now = Date.parse('2030-01-01T00:00:00Z');
    const clock = () => now;
    let key: { privateKey: CryptoKey; jwk: JWK };
    let client: TestClient;
    let jwksServer: Server;
    let served: { keys: JWK[] } = { keys: [] };
    let jwksFetches = 0;
    let jwksUrl: string;

    before(async () => {
      t = await startLatch(backend, { clock });
      key = await keyPair('ES256', 'k1');
      client = await createServiceClient(t, { token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [key.jwk] } });
      jwksServer = createServer((_req, res) => {
        jwksFetches++;
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(served));
      });
      await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
      jwksUrl = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks`;
    });
    after(async () => {
      jwksServer.closeAllConnections();
      jwksServer.close();
      await t.close();
    });

    function assertion(privateKey: CryptoKey, clientId: string, o: AssertionOptions = {}): Promise<string> {
      const iat = Math.floor(now / 1000);
      const claims: Record<string, unknown> = {
        iss: o.iss ?? clientId,
        sub: o.sub ?? clientId,
        aud: o.aud ?? `${t.issuer}/oauth2/token`,
        iat,
        ...(o.exp === null ? {} : { exp: o.exp ?? iat + 60 }),
        ...(o.jti === null ? {} : { jti: o.jti ?? randomUUID() }),
      };
      return new SignJWT(claims).setProtectedHeader({ alg: o.alg ?? 'ES256', kid: o.kid ?? 'k1' }).sign(privateKey);
    }

    const token = (clientAssertion: string, extra: Record<string, string> = {}): Promise<Reply> =>
      post(t, '/oauth2/token', { grant_type: 'client_credentials', client_assertion_type: ASSERTION_TYPE, client_assertion: clientAssertion, ...extra });

    function rejected(res: Reply, context: string) {
      assert.equal(res.status, 401, `${context}: ${res.text}`);
      assert.equal(res.body.error, 'invalid_client', context);
    }

    test('a good assertion (aud = token endpoint or issuer) authenticates; client_id may be sent alongside', async () => {
      assert.equal((await token(await assertion(key.privateKey, client.client_id))).status, 200);
      assert.equal((await token(await assertion(key.privateKey, client.client_id, { aud: t.issuer }))).status, 200);
      assert.equal((await token(await assertion(key.privateKey, client.client_id, { aud: ['https://other.example', t.issuer] }))).status, 200);
      assert.equal((await token(await assertion(key.privateKey, client.client_id), { client_id: client.client_id })).status, 200);
    });

    test('openid-client PrivateKeyJwt: token and introspection', async () => {
      // The server runs on a fixed test clock; tell openid-client how far ahead it is.
      const skew = Math.round((now - Date.now()) / 1000);
      const config = await oidc.discovery(
        new URL(t.issuer),
        client.client_id,
        { [oidc.clockSkew]: skew },
        oidc.PrivateKeyJwt({ key: key.privateKey, kid: 'k1' }),
        {
          execute: [oidc.allowInsecureRequests],
        },
      );
      const tokens = await oidc.clientCredentialsGrant(config, { scope: 'write' });
      const info = await oidc.tokenIntrospection(config, tokens.access_token);
      assert.equal(info.active, true);
      assert.equal(info.client_id, client.client_id);
    });

    test('wrong key, replayed jti, wrong aud, expired, too long-lived, missing claims, iss != sub: all invalid_client', async () => {
      const other = await keyPair('ES256', 'k1');
      rejected(await token(await assertion(other.privateKey, client.client_id)), 'wrong key');
      const once = await assertion(key.privateKey, client.client_id);
      assert.equal((await token(once)).status, 200);
      rejected(await token(once), 'replayed jti');
      rejected(await token(await assertion(key.privateKey, client.client_id, { aud: 'https://elsewhere.example/token' })), 'wrong aud');
      rejected(await token(await assertion(key.privateKey, client.client_id, { aud: `${t.issuer}/oauth2/introspect` })), 'aud of another endpoint');
      rejected(await token(await assertion(key.privateKey, client.client_id, { exp: Math.floor(now / 1000) - 60 })), 'expired');
      rejected(await token(await assertion(key.privateKey, client.client_id, { exp: Math.floor(now / 1000) + 3600 })), 'exp an hour away');
      rejected(await token(await assertion(key.privateKey, client.client_id, { exp: null })), 'no exp');
      rejected(await token(await assertion(key.privateKey, client.client_id, { jti: null })), 'no jti');
      rejected(await token(await assertion(key.privateKey, client.client_id, { iss: 'someone-else' })), 'iss != sub');
      rejected(await token(await assertion(key.privateKey, 'unknown-client')), 'unknown client');
      rejected(await token('not.a.jwt'), 'garbage assertion');
      rejected(await token(await assertion(key.privateKey, client.client_id), { client_id: 'another' }), 'client_id mismatch');
      rejected(
        await post(t, '/oauth2/token', {
          grant_type: 'client_credentials',
          client_assertion_type: 'urn:example:other',
          client_assertion: await assertion(key.privateKey, client.client_id),
        }),
        'unsupported assertion type',
      );
      const noType = await post(t, '/oauth2/token', { grant_type: 'client_credentials', client_assertion: await assertion(key.privateKey, client.client_id) });
      assert.equal(noType.status, 400);
      assert.equal(noType.body.error, 'invalid_request');
    });

    test('an HMAC-signed assertion is refused (client_secret_jwt is not offered)', async () => {
      const hs = await new SignJWT({
        iss: client.client_id,
        sub: client.client_id,
        aud: `${t.issuer}/oauth2/token`,
        exp: Math.floor(now / 1000) + 60,
        jti: randomUUID(),
      })
        .setProtectedHeader({ alg: 'HS256' })
        .sign(new TextEncoder().encode('x'.repeat(32)));
      rejected(await token(hs), 'HS256');
    });

    test('a secret client cannot authenticate with an assertion, nor a private_key_jwt client with a secret', async () => {
      const secretClient = await createServiceClient(t);
      rejected(await token(await assertion(key.privateKey, secretClient.client_id)), 'assertion for a secret client');
      const basicForJwt = await post(
        t,
        '/oauth2/token',
        { grant_type: 'client_credentials' },
        { authorization: `Basic ${Buffer.from(`${client.client_id}:whatever`).toString('base64')}` },
      );
      rejected(basicForJwt, 'basic for a private_key_jwt client');
    });

    test('introspection and revocation accept assertions addressed to them', async () => {
      const issued = await token(await assertion(key.privateKey, client.client_id));
      const at = issued.body.access_token as string;
      const introspect = await post(t, '/oauth2/introspect', {
        token: at,
        client_assertion_type: ASSERTION_TYPE,
        client_assertion: await assertion(key.privateKey, client.client_id, { aud: `${t.issuer}/oauth2/introspect` }),
      });
      assert.equal(introspect.status, 200);
      assert.equal(introspect.body.active, true);
      const revoke = await post(t, '/oauth2/revoke', {
        token: at,
        client_assertion_type: ASSERTION_TYPE,
        client_assertion: await assertion(key.privateKey, client.client_id, { aud: `${t.issuer}/oauth2/revoke` }),
      });
      assert.equal(revoke.status, 200);
      const after = await post(t, '/oauth2/introspect', {
        token: at,
        client_assertion_type: ASSERTION_TYPE,
        client_assertion: await assertion(key.privateKey, client.client_id, { aud: t.issuer }),
      });
      assert.equal(after.text, '{"active":false}');
    });

    test('keys from jwks_uri: fetched, cached, re-fetched when an unknown kid appears (rate-limited)', async () => {
      const rsa = await keyPair('RS256', 'r1');
      served = { keys: [rsa.jwk] };
      const remote = await createServiceClient(t, { token_endpoint_auth_method: 'private_key_jwt', jwks_uri: jwksUrl });
      const sign = (k: CryptoKey, kid: string, alg: 'RS256' | 'ES256') => assertion(k, remote.client_id, { kid, alg });
      const before = jwksFetches;
      assert.equal((await token(await sign(rsa.privateKey, 'r1', 'RS256'))).status, 200);
      assert.equal((await token(await sign(rsa.privateKey, 'r1', 'RS256'))).status, 200);
      assert.equal(jwksFetches - before, 1, 'the document is cached');

      // The client rotates to a new key. Right after a fetch, an unknown kid does not trigger another one ...
      const next = await keyPair('ES256', 'e2');
      served = { keys: [next.jwk] };
      rejected(await token(await sign(next.privateKey, 'e2', 'ES256')), 'unknown kid within the refresh interval');
      assert.equal(jwksFetches - before, 1);
      // ... but once the minimum interval has passed it does, and the new key works.
      now += 31_000;
      assert.equal((await token(await sign(next.privateKey, 'e2', 'ES256'))).status, 200);
      assert.equal(jwksFetches - before, 2);
    });

    test('a jwks_uri that cannot be fetched fails authentication with invalid_client, not a 5xx', async () => {
      const broken = await createServiceClient(t, { token_endpoint_auth_method: 'private_key_jwt', jwks_uri: 'http://127.0.0.1:9/nothing-listens-here' });
      rejected(await token(await assertion(key.privateKey, broken.client_id)), 'unreachable jwks_uri');
    });
  });
}
