import assert from 'node:assert/strict';
import { test } from 'node:test';
import { redirectUriMatches, resolveRedirectUri } from './redirect-uri.ts';

test('web clients: exact string match only', () => {
  const reg = 'https://app.example/cb';
  assert.equal(redirectUriMatches('https://app.example/cb', reg, 'web'), true);
  for (const other of [
    'https://app.example/cb/',
    'https://app.example/CB',
    'https://APP.example/cb',
    'https://app.example/cb?x',
    'https://app.example:443/cb',
    'https://app.example/cb#',
  ]) {
    assert.equal(redirectUriMatches(other, reg, 'web'), false, other);
  }
  assert.equal(redirectUriMatches('http://127.0.0.1:5000/cb', 'http://127.0.0.1:4000/cb', 'web'), false);
});

test('native clients: any port on loopback IP literals, everything else exact (RFC 8252 §7.3)', () => {
  assert.equal(redirectUriMatches('http://127.0.0.1:5000/cb', 'http://127.0.0.1/cb', 'native'), true);
  assert.equal(redirectUriMatches('http://127.0.0.1/cb', 'http://127.0.0.1:4000/cb', 'native'), true);
  assert.equal(redirectUriMatches('http://[::1]:5000/cb?a=1', 'http://[::1]:1/cb?a=1', 'native'), true);
  assert.equal(redirectUriMatches('http://127.0.0.1:5000/other', 'http://127.0.0.1/cb', 'native'), false);
  assert.equal(redirectUriMatches('http://127.0.0.2:5000/cb', 'http://127.0.0.1/cb', 'native'), false);
  assert.equal(redirectUriMatches('http://[::1]:5000/cb', 'http://127.0.0.1/cb', 'native'), false);
  assert.equal(redirectUriMatches('https://127.0.0.1:5000/cb', 'https://127.0.0.1/cb', 'native'), false, 'http loopback only');
  assert.equal(redirectUriMatches('http://localhost:5000/cb', 'http://localhost/cb', 'native'), false, 'localhost is not an IP literal');
  assert.equal(redirectUriMatches('http://127.0.0.1:99999/cb', 'http://127.0.0.1/cb', 'native'), false);
  assert.equal(redirectUriMatches('http://127.0.0.1:5000@evil.example/cb', 'http://127.0.0.1/cb', 'native'), false);
  assert.equal(redirectUriMatches('http://127.0.0.1:5000', 'http://127.0.0.1', 'native'), true);
  assert.equal(redirectUriMatches('http://127.0.0.1:5000/', 'http://127.0.0.1', 'native'), false);
});

test('resolveRedirectUri: omitted only with exactly one registered; the sent URI is used as sent', () => {
  assert.deepEqual(resolveRedirectUri(undefined, { redirect_uris: ['https://a/cb'], application_type: 'web' }), {
    ok: true,
    redirectUri: 'https://a/cb',
    sent: false,
  });
  assert.equal(resolveRedirectUri(undefined, { redirect_uris: ['https://a/1', 'https://a/2'], application_type: 'web' }).ok, false);
  assert.equal(resolveRedirectUri(undefined, { redirect_uris: [], application_type: 'web' }).ok, false);
  assert.deepEqual(resolveRedirectUri('http://127.0.0.1:7/cb', { redirect_uris: ['http://127.0.0.1/cb'], application_type: 'native' }), {
    ok: true,
    redirectUri: 'http://127.0.0.1:7/cb',
    sent: true,
  });
  assert.equal(resolveRedirectUri('https://b/cb', { redirect_uris: ['https://a/cb'], application_type: 'web' }).ok, false);
});
