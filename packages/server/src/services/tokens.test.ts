import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Client } from '../domain/client.ts';
import { accessTokenTtlFor, mayIssueRefreshToken } from './tokens.ts';

const client = (grantTypes: string[], refreshTokenPolicy: Client['refreshTokenPolicy']) =>
  ({ metadata: { grant_types: grantTypes }, refreshTokenPolicy }) as unknown as Pick<Client, 'metadata' | 'refreshTokenPolicy'>;

describe('token issuance rules', () => {
  test('refresh tokens follow the grant types and the client policy', () => {
    const both = ['authorization_code', 'refresh_token'];
    assert.equal(mayIssueRefreshToken(client(both, 'always'), ['profile']), true);
    assert.equal(mayIssueRefreshToken(client(both, 'never'), ['offline_access']), false);
    assert.equal(mayIssueRefreshToken(client(both, 'offline_access'), ['profile']), false);
    assert.equal(mayIssueRefreshToken(client(both, 'offline_access'), ['profile', 'offline_access']), true);
    assert.equal(mayIssueRefreshToken(client(['authorization_code'], 'always'), ['offline_access']), false);
  });

  test('access token lifetime: the client override, else the default', () => {
    const lifetimes = { accessTokenTtl: 300, refreshTokenTtl: 1000 };
    assert.equal(accessTokenTtlFor({ accessTokenTtl: null }, lifetimes), 300);
    assert.equal(accessTokenTtlFor({ accessTokenTtl: 60 }, lifetimes), 60);
  });
});
