/**
 * URLs in client metadata that Latch itself calls (`jwks_uri`, `backchannel_logout_uri`) are
 * refused at registration when Latch would refuse to call them (services/outbound-targets.ts): a
 * loopback address while `outbound.allowLoopback` is false, and private or reserved addresses
 * always. Before, such a client was accepted and every delivery to it then failed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { backends } from '../../support/backends.ts';
import { startLatch, type TestLatch } from '../../support/latch.ts';
import { call, confidentialWebClient, register, WIDE_LIMITS } from './helpers.ts';

const logoutAt = (uri: string) => ({ ...confidentialWebClient, backchannel_logout_uri: uri });
const keysAt = (uri: string) => ({ ...confidentialWebClient, token_endpoint_auth_method: 'private_key_jwt', jwks_uri: uri });

async function clientCount(t: TestLatch): Promise<number> {
  return (await t.latch.storage.clients.list({ limit: 1000 })).items.length;
}

function assertRefused(res: { status: number; body: unknown }, field: string, reason: RegExp): void {
  const body = res.body as { error?: string; error_description?: string };
  assert.equal(res.status, 400, JSON.stringify(body));
  assert.equal(body.error, 'invalid_client_metadata');
  assert.ok(body.error_description?.startsWith(`${field}: Latch does not call this URL: `), body.error_description);
  assert.match(body.error_description as string, reason);
}

for (const backend of backends()) {
  describe(`[${backend}] URLs Latch calls, with outbound.allowLoopback false`, () => {
    let t: TestLatch;
    before(async () => {
      t = await startLatch(backend, { config: { 'registration.policy': 'open', ...WIDE_LIMITS, 'outbound.allowLoopback': false } });
    });
    after(() => t.close());

    test('dynamic registration refuses loopback and private back-channel logout and jwks URIs, and stores nothing', async () => {
      const before = await clientCount(t);
      const loopbackHint = /loopback .*\(the server setting outbound\.allowLoopback is false\)$/;
      assertRefused(await register(t, logoutAt('http://127.0.0.1:9000/logout')), 'backchannel_logout_uri', loopbackHint);
      assertRefused(await register(t, logoutAt('http://[::1]/logout')), 'backchannel_logout_uri', loopbackHint);
      assertRefused(await register(t, logoutAt('https://localhost/logout')), 'backchannel_logout_uri', /localhost is a loopback name/);
      assertRefused(
        await register(t, logoutAt('https://10.1.2.3/logout')),
        'backchannel_logout_uri',
        /10\.1\.2\.3 is a private, link-local or reserved address$/,
      );
      assertRefused(await register(t, keysAt('https://169.254.169.254/keys')), 'jwks_uri', /private, link-local or reserved/);
      assert.equal(await clientCount(t), before);
    });

    test('a public host name is accepted (its addresses are checked when Latch calls it)', async () => {
      const res = await register(t, logoutAt('https://rp.example.com/logout'));
      assert.equal(res.status, 201, JSON.stringify(res.body));
      assert.equal(res.body.backchannel_logout_uri, 'https://rp.example.com/logout');
    });

    test('an RFC 7592 update cannot add a loopback back-channel logout URI', async () => {
      const created = await register(t, confidentialWebClient);
      const { client_id: id, registration_access_token: rat } = created.body as { client_id: string; registration_access_token: string };
      const res = await call(`${t.issuer}/oauth2/register/${id}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${rat}` },
        body: JSON.stringify({ ...confidentialWebClient, client_id: id, backchannel_logout_uri: 'http://127.0.0.1:9000/logout' }),
      });
      assertRefused(res, 'backchannel_logout_uri', /loopback/);
      assert.equal((await t.latch.storage.clients.lookup(id))?.metadata.backchannel_logout_uri, undefined);
    });

    test('the admin API refuses them on create and on update, and leaves the client as it was', async () => {
      assertRefused(await t.admin('POST', '/admin/v1/clients', logoutAt('http://127.0.0.2/logout')), 'backchannel_logout_uri', /loopback/);
      const created = await t.admin('POST', '/admin/v1/clients', logoutAt('https://rp.example.com/logout'));
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const id = created.body.client_id as string;
      const patched = await t.admin('PATCH', `/admin/v1/clients/${id}`, { backchannel_logout_uri: 'http://[::ffff:127.0.0.1]/logout' });
      assertRefused(patched, 'backchannel_logout_uri', /loopback/);
      assert.equal((await t.latch.storage.clients.lookup(id))?.metadata.backchannel_logout_uri, 'https://rp.example.com/logout');
    });
  });

  describe(`[${backend}] URLs Latch calls, with outbound.allowLoopback true`, () => {
    let t: TestLatch;
    before(async () => {
      t = await startLatch(backend, { config: { 'registration.policy': 'open', ...WIDE_LIMITS, 'outbound.allowLoopback': true } });
    });
    after(() => t.close());

    test('loopback is accepted, private networks still are not (and the hint about the setting is left out)', async () => {
      const ok = await register(t, logoutAt('http://127.0.0.1:9000/logout'));
      assert.equal(ok.status, 201, JSON.stringify(ok.body));
      const refused = await register(t, logoutAt('http://192.168.1.10/logout'));
      assertRefused(refused, 'backchannel_logout_uri', /192\.168\.1\.10 is a private, link-local or reserved address$/);
    });
  });
}
