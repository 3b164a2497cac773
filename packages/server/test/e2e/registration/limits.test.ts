/**
 * RFC 7591 §5: what dynamically registered clients may ask for. `registration.allowedScopes` and
 * `registration.allowedGrantTypes` bound registration (every policy) and RFC 7592 updates; admin
 * API and CLI clients are not bound by them.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig } from '../../../src/config/load.ts';
import { backends } from '../../support/backends.ts';
import { startLatch, type TestLatch } from '../../support/latch.ts';
import { bearer, call, type JsonResponse, register } from './helpers.ts';

const MAIN = fileURLToPath(new URL('../../../src/cli/main.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');
const webClient = { client_name: 'Limited', redirect_uris: ['https://app.example.com/cb'] };
const DEFAULT_SCOPES = 'openid profile email offline_access';

/** client_credentials at the token endpoint with client_secret_basic. */
function clientCredentials(t: TestLatch, clientId: string, secret: string, scope?: string): Promise<JsonResponse> {
  return call(`${t.issuer}/oauth2/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`,
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', ...(scope !== undefined ? { scope } : {}) }).toString(),
  });
}

/** How many dynamically registered clients exist (refused registrations must not add any). */
async function dynamicClientCount(t: TestLatch): Promise<number> {
  const res = await t.admin<{ clients: unknown[]; next_cursor: string | null }>('GET', '/admin/v1/clients?source=dynamic&limit=200');
  assert.equal(res.status, 200);
  assert.equal(res.body.next_cursor, null);
  return res.body.clients.length;
}

function assertRefused(res: JsonResponse, field: 'scope' | 'grant_types', mentions: string[]): void {
  assert.equal(res.status, 400, JSON.stringify(res.body));
  assert.equal(res.body.error, 'invalid_client_metadata');
  assert.equal(res.body.field, field);
  assert.match(res.body.error_description as string, new RegExp(`^${field}: `));
  assert.match(res.body.error_description as string, /not allowed for dynamically registered clients/);
  for (const m of mentions) assert.ok((res.body.error_description as string).includes(`"${m}"`), `${res.body.error_description} names ${m}`);
  assert.equal(res.headers.get('cache-control'), 'no-store');
}

/** The database URL a separate CLI process uses to reach this test's database (PostgreSQL: its schema). */
function cliDatabaseUrl(t: TestLatch): string {
  const { url, pgSchema } = t.database;
  if (!pgSchema) return url;
  return `${url}${url.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${pgSchema}`)}`;
}

for (const backend of backends()) {
  describe(`[${backend}] registration limits (RFC 7591 §5): the defaults, open policy`, () => {
    let t: TestLatch;
    before(async () => {
      t = await startLatch(backend, { config: { 'registration.policy': 'open', 'rateLimit.registerPerIp': 100_000 } });
    });
    after(() => t.close());

    test('an omitted scope registers the default allowed set; authorization_code and refresh_token are allowed', async () => {
      const res = await register(t, { ...webClient, grant_types: ['authorization_code', 'refresh_token'] });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      assert.equal(res.body.scope, DEFAULT_SCOPES);
      assert.deepEqual(res.body.grant_types, ['authorization_code', 'refresh_token']);
      assert.equal((await t.latch.storage.clients.lookup(res.body.client_id as string))?.metadata.scope, DEFAULT_SCOPES);
      // null is "omitted" too (RFC 7592 §2.2 treats the two alike).
      const withNull = await register(t, { ...webClient, scope: null });
      assert.equal(withNull.status, 201);
      assert.equal(withNull.body.scope, DEFAULT_SCOPES);
      // A subset of the allowed set is registered as asked.
      const subset = await register(t, { ...webClient, scope: 'openid email' });
      assert.equal(subset.status, 201);
      assert.equal(subset.body.scope, 'openid email');
    });

    test('a scope outside the allowed set is invalid_client_metadata naming scope and the scopes; nothing is registered', async () => {
      const before = await dynamicClientCount(t);
      const cases: [string, string[]][] = [
        ['admin', ['admin']],
        ['openid admin', ['admin']],
        ['openid read:syn123 write:*', ['read:syn123', 'write:*']],
        ['*', ['*']],
        ['openid*', ['openid*']],
      ];
      for (const [scope, refused] of cases) assertRefused(await register(t, { ...webClient, scope }), 'scope', refused);
      assert.equal(await dynamicClientCount(t), before);
    });

    test('client_credentials is refused naming grant_types, alone or next to allowed grant types', async () => {
      const before = await dynamicClientCount(t);
      assertRefused(await register(t, { client_name: 'batch', grant_types: ['client_credentials'] }), 'grant_types', ['client_credentials']);
      assertRefused(await register(t, { ...webClient, grant_types: ['authorization_code', 'client_credentials'], scope: 'openid' }), 'grant_types', [
        'client_credentials',
      ]);
      // Malformed metadata is reported first, as for any client.
      const malformed = await register(t, { grant_types: ['client_credentials'], client_name: 42 });
      assert.equal(malformed.body.field, 'client_name');
      assert.equal(await dynamicClientCount(t), before);
    });

    test('a client registered within the limits cannot use client_credentials at the token endpoint', async () => {
      const res = await register(t, webClient);
      assert.equal(res.status, 201);
      const token = await clientCredentials(t, res.body.client_id as string, res.body.client_secret as string, 'openid');
      assert.equal(token.status, 400, JSON.stringify(token.body));
      assert.equal(token.body.error, 'unauthorized_client');
    });

    test('RFC 7592 PUT is held to the same limits and changes nothing when refused', async () => {
      const reg = await register(t, { ...webClient, scope: 'openid' });
      assert.equal(reg.status, 201);
      const uri = reg.body.registration_client_uri as string;
      const token = reg.body.registration_access_token as string;
      const put = (body: Record<string, unknown>) =>
        call(uri, {
          method: 'PUT',
          headers: { 'content-type': 'application/json', ...bearer(token) },
          body: JSON.stringify({ client_id: reg.body.client_id, ...webClient, ...body }),
        });
      assertRefused(await put({ scope: 'openid admin' }), 'scope', ['admin']);
      assertRefused(await put({ grant_types: ['authorization_code', 'client_credentials'] }), 'grant_types', ['client_credentials']);
      const read = await call(uri, { headers: bearer(token) });
      assert.equal(read.body.scope, 'openid');
      assert.deepEqual(read.body.grant_types, ['authorization_code']);

      const within = await put({ scope: 'openid email', grant_types: ['authorization_code', 'refresh_token'] });
      assert.equal(within.status, 200, JSON.stringify(within.body));
      assert.equal(within.body.scope, 'openid email');
      // Omitted in a replacement: the default allowed set again.
      const omitted = await put({});
      assert.equal(omitted.status, 200);
      assert.equal(omitted.body.scope, DEFAULT_SCOPES);
    });

    test('clients created through the admin API are not limited: client_credentials with scope admin works', async () => {
      const created = await t.admin('POST', '/admin/v1/clients', { client_name: 'ops job', grant_types: ['client_credentials'], scope: 'admin' });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const token = await clientCredentials(t, created.body.client_id as string, created.body.client_secret as string, 'admin');
      assert.equal(token.status, 200, JSON.stringify(token.body));
      assert.equal(token.body.scope ?? 'admin', 'admin');
      // The admin API may also widen a dynamically registered client.
      const reg = await register(t, webClient);
      const widened = await t.admin('PATCH', `/admin/v1/clients/${reg.body.client_id}`, {
        grant_types: ['authorization_code', 'client_credentials'],
        scope: 'admin',
      });
      assert.equal(widened.status, 200, JSON.stringify(widened.body));
      assert.equal((await clientCredentials(t, reg.body.client_id as string, reg.body.client_secret as string, 'admin')).status, 200);
    });

    test('clients created with the CLI are not limited', async () => {
      const cwd = mkdtempSync(join(tmpdir(), 'latch-cli-'));
      try {
        const out = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
          execFile(
            process.execPath,
            ['--import', TSX, MAIN, 'client', 'create', '--name', 'cli job', '--grant-type', 'client_credentials', '--scope', 'admin', '--json'],
            {
              cwd,
              env: { PATH: process.env.PATH, USER: 'tester', LATCH_DATABASE_URL: cliDatabaseUrl(t), LATCH_DATABASE_AUTO_MIGRATE: 'false' },
              timeout: 60_000,
            },
            (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
          );
        });
        assert.equal(out.code, 0, out.stderr);
        const created = JSON.parse(out.stdout) as { client_id: string; client_secret: string; scope: string };
        assert.equal(created.scope, 'admin');
        const token = await clientCredentials(t, created.client_id, created.client_secret, 'admin');
        assert.equal(token.status, 200, JSON.stringify(token.body));
      } finally {
        rmSync(cwd, { recursive: true, force: true });
      }
    });
  });

  describe(`[${backend}] registration limits configured: prefix patterns, client_credentials only, initial access tokens`, () => {
    let t: TestLatch;
    before(async () => {
      t = await startLatch(backend, {
        config: {
          'registration.policy': 'initial_access_token',
          'registration.allowedScopes': 'openid read:* export',
          'registration.allowedGrantTypes': 'client_credentials',
          'rateLimit.registerPerIp': 100_000,
        },
      });
    });
    after(() => t.close());

    const iat = async (body: Record<string, unknown> = {}) => {
      const res = await t.admin('POST', '/admin/v1/initial-access-tokens', body);
      assert.equal(res.status, 201);
      return res.body as { id: number; initial_access_token: string };
    };
    const batch = { client_name: 'batch', grant_types: ['client_credentials'] };

    test('scopes inside a prefix pattern are allowed (read:syn123, read:syn*, read:*); others are refused', async () => {
      const { initial_access_token } = await iat();
      for (const scope of ['read:syn123', 'read:syn*', 'read:*', 'openid read:a read:b export']) {
        const res = await register(t, { ...batch, scope }, bearer(initial_access_token));
        assert.equal(res.status, 201, `${scope}: ${JSON.stringify(res.body)}`);
        assert.equal(res.body.scope, scope);
      }
      for (const scope of ['write:x', 'read', 'read:', 'reader:x', '*', 'export:all', 'admin']) {
        assertRefused(await register(t, { ...batch, scope }, bearer(initial_access_token)), 'scope', [scope]);
      }
    });

    test('grant types outside the allowed set are refused, the authorization_code default included', async () => {
      const { initial_access_token } = await iat();
      assertRefused(await register(t, { redirect_uris: ['https://app.example.com/cb'] }, bearer(initial_access_token)), 'grant_types', ['authorization_code']);
      assertRefused(
        await register(
          t,
          { redirect_uris: ['https://app.example.com/cb'], grant_types: ['authorization_code', 'refresh_token'] },
          bearer(initial_access_token),
        ),
        'grant_types',
        ['authorization_code', 'refresh_token'],
      );
    });

    test('the registered scope bounds the token endpoint: read:syn123 is granted, admin is invalid_scope', async () => {
      const { initial_access_token } = await iat();
      const reg = await register(t, { ...batch, scope: 'read:*' }, bearer(initial_access_token));
      assert.equal(reg.status, 201);
      const ok = await clientCredentials(t, reg.body.client_id as string, reg.body.client_secret as string, 'read:syn123');
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
      const admin = await clientCredentials(t, reg.body.client_id as string, reg.body.client_secret as string, 'admin');
      assert.equal(admin.status, 400);
      assert.equal(admin.body.error, 'invalid_scope');
    });

    test('an omitted scope registers the configured set; client_credentials without scope gets its plain scopes', async () => {
      const { initial_access_token } = await iat();
      const reg = await register(t, batch, bearer(initial_access_token));
      assert.equal(reg.status, 201);
      assert.equal(reg.body.scope, 'openid read:* export');
      const token = await clientCredentials(t, reg.body.client_id as string, reg.body.client_secret as string);
      assert.equal(token.status, 200, JSON.stringify(token.body));
      // openid needs a user and read:* is a pattern, so only export is granted (RFC 6749 §3.3 default).
      const introspected = await call(`${t.issuer}/oauth2/introspect`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${reg.body.client_id}:${reg.body.client_secret}`).toString('base64')}`,
        },
        body: new URLSearchParams({ token: token.body.access_token as string }).toString(),
      });
      assert.equal(introspected.body.active, true);
      assert.equal(introspected.body.scope, 'export');
    });

    test('a refused registration does not spend a use of the initial access token; a bad token is refused before the limits are looked at', async () => {
      const { id, initial_access_token } = await iat({ max_uses: 1 });
      assertRefused(await register(t, { ...batch, scope: 'admin' }, bearer(initial_access_token)), 'scope', ['admin']);
      const list = await t.admin<{ initial_access_tokens: { id: number; uses: number }[] }>('GET', '/admin/v1/initial-access-tokens');
      assert.equal(list.body.initial_access_tokens.find((x) => x.id === id)?.uses, 0);
      // Without a valid token the caller learns nothing about the limits: 401, not 400.
      const noToken = await register(t, { ...batch, scope: 'admin' });
      assert.equal(noToken.status, 401);
      assert.equal(noToken.body.error, 'invalid_token');
      assert.equal((await register(t, { ...batch, scope: 'admin' }, bearer('lat_iat_garbage'))).status, 401);
      // The use is still there for a registration within the limits.
      assert.equal((await register(t, { ...batch, scope: 'export' }, bearer(initial_access_token))).status, 201);
    });
  });
}

describe('registration limits in the configuration', () => {
  test('defaults: openid profile email offline_access; authorization_code refresh_token', () => {
    const config = loadConfig({ env: {}, file: undefined });
    assert.equal(config.registration.allowedScopes, DEFAULT_SCOPES);
    assert.equal(config.registration.allowedGrantTypes, 'authorization_code refresh_token');
  });

  test('set through the environment', () => {
    const config = loadConfig({
      env: { LATCH_REGISTRATION_ALLOWED_SCOPES: 'openid read:*', LATCH_REGISTRATION_ALLOWED_GRANT_TYPES: 'client_credentials' },
      file: undefined,
    });
    assert.equal(config.registration.allowedScopes, 'openid read:*');
    assert.equal(config.registration.allowedGrantTypes, 'client_credentials');
  });

  test('an empty scope set is allowed (registrations get no scopes); bad values are clear errors', () => {
    assert.equal(loadConfig({ env: {}, file: undefined, overrides: { 'registration.allowedScopes': '' } }).registration.allowedScopes, '');
    const bad: [string, string][] = [
      ['registration.allowedScopes', 'openid "admin"'],
      ['registration.allowedScopes', 'openid  email'],
      ['registration.allowedGrantTypes', 'password'],
      ['registration.allowedGrantTypes', 'authorization_code,refresh_token'],
      ['registration.allowedGrantTypes', ''],
    ];
    for (const [key, value] of bad) {
      assert.throws(
        () => loadConfig({ env: {}, file: undefined, overrides: { [key]: value } }),
        (err: unknown) => err instanceof ConfigError && err.message.includes(key),
        `${key}=${JSON.stringify(value)}`,
      );
    }
  });
});
