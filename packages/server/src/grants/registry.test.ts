import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { authorizationCodeGrant } from './authorization-code.ts';
import { clientCredentialsGrant, clientCredentialsScope } from './client-credentials.ts';
import { refreshTokenGrant } from './refresh-token.ts';
import { GrantRegistry } from './registry.ts';

describe('grant registry', () => {
  test('lists registered grant types and looks them up', () => {
    const registry = new GrantRegistry().register(authorizationCodeGrant).register(refreshTokenGrant).register(clientCredentialsGrant);
    assert.deepEqual(registry.grantTypes(), ['authorization_code', 'refresh_token', 'client_credentials']);
    assert.equal(registry.lookup('refresh_token'), refreshTokenGrant);
    assert.equal(registry.lookup('password'), undefined);
  });

  test('registering a grant type twice throws', () => {
    const registry = new GrantRegistry().register(clientCredentialsGrant);
    assert.throws(() => registry.register({ ...clientCredentialsGrant }), /already registered/);
  });

  test('every grant declares its parameters and who may use it', () => {
    assert.deepEqual(authorizationCodeGrant.parameters, ['code', 'redirect_uri', 'code_verifier']);
    assert.deepEqual(refreshTokenGrant.parameters, ['refresh_token', 'scope']);
    assert.deepEqual(clientCredentialsGrant.parameters, ['scope']);
    assert.equal(clientCredentialsGrant.clientAuth, 'confidential');
    assert.equal(authorizationCodeGrant.clientAuth, 'any');
  });
});

describe('client_credentials scope (RFC 6749 §3.3)', () => {
  test('defaults to the allowed set without patterns or user scopes', () => {
    assert.deepEqual(clientCredentialsScope(undefined, 'read:* write openid offline_access'), ['write']);
    assert.deepEqual(clientCredentialsScope(undefined, undefined), []);
  });

  test('patterns allow resources; anything else is invalid_scope', () => {
    assert.deepEqual(clientCredentialsScope('read:syn1 write', 'read:* write'), ['read:syn1', 'write']);
    assert.throws(() => clientCredentialsScope('read:', 'read:*'), /invalid_scope/);
    assert.throws(() => clientCredentialsScope('delete', 'read:* write'), /invalid_scope/);
    assert.throws(() => clientCredentialsScope('openid', 'openid write'), /invalid_scope/);
    assert.throws(() => clientCredentialsScope('bad"scope', 'write'), /invalid_scope/);
  });
});
