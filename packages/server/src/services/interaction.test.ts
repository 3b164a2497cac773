import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AuthorizationRequest } from '../domain/authorization-request.ts';
import type { SettingsRepository } from '../storage/repositories.ts';
import { InteractionSealer } from './interaction.ts';

function memorySettings(): SettingsRepository {
  const m = new Map<string, string>();
  return {
    get: async (n) => m.get(n),
    addIfAbsent: async (n, v) => {
      if (m.has(n)) return false;
      m.set(n, v);
      return true;
    },
    put: async (n, v) => void m.set(n, v),
  };
}

const request: AuthorizationRequest = {
  clientId: 'c',
  redirectUri: 'https://a/cb',
  redirectUriSent: true,
  responseMode: 'query',
  scope: ['openid'],
  state: 's',
  nonce: 'secret-nonce',
  codeChallenge: undefined,
  codeChallengeMethod: undefined,
  prompt: [],
  maxAge: undefined,
  loginHint: undefined,
  idTokenHint: undefined,
};

test('two sealers on one settings table share the key; blobs are opaque, stage-bound, tamper-evident and expire', async () => {
  let now = 1_000_000;
  const settings = memorySettings();
  const a = await InteractionSealer.init({ settings, clock: () => now });
  const b = await InteractionSealer.init({ settings, clock: () => now });
  const interaction = a.create('login', { request });
  const sealed = a.seal(interaction);
  assert.doesNotMatch(Buffer.from(sealed.slice(3), 'base64url').toString('latin1'), /secret-nonce/);
  assert.deepEqual(b.open(sealed, 'login'), JSON.parse(JSON.stringify(interaction)));
  assert.equal(b.open(sealed, 'consent'), 'invalid');
  const bytes = Buffer.from(sealed.slice(3), 'base64url');
  for (const at of [0, 13, 30, bytes.length - 1]) {
    const copy = Buffer.from(bytes);
    copy[at] = (copy[at] as number) ^ 1;
    assert.equal(b.open(`v1.${copy.toString('base64url')}`, 'login'), 'invalid', `byte ${at}`);
  }
  assert.equal(b.open(undefined, 'login'), 'invalid');
  assert.equal(b.open('v2.abc', 'login'), 'invalid');
  const other = await InteractionSealer.init({ settings: memorySettings(), clock: () => now });
  assert.equal(other.open(sealed, 'login'), 'invalid', 'another installation cannot open it');
  now += 15 * 60_000;
  assert.equal(b.open(sealed, 'login'), 'expired');
});

test('CSRF tokens bind the cookie value to the interaction', async () => {
  const s = await InteractionSealer.init({ settings: memorySettings(), clock: () => 0 });
  const cookie = s.newCsrfCookie();
  const token = s.csrfToken(cookie, 'i1');
  assert.equal(s.verifyCsrf(cookie, 'i1', token), true);
  assert.equal(s.verifyCsrf(cookie, 'i2', token), false);
  assert.equal(s.verifyCsrf(s.newCsrfCookie(), 'i1', token), false);
  assert.equal(s.verifyCsrf(undefined, 'i1', token), false);
  assert.equal(s.verifyCsrf(cookie, 'i1', undefined), false);
  assert.equal(s.verifyCsrf(cookie, 'i1', `${token}x`), false);
});
