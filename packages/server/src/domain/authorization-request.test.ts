import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  allowedScopesOf,
  consentNeeded,
  errorResponse,
  loginNeeded,
  type ParamSource,
  parseAuthorizationRequest,
  responseLocation,
  successResponse,
} from './authorization-request.ts';
import type { Client } from './client.ts';
import { OAuthError } from './errors.ts';

const client = (over: Partial<Client['metadata']> = {}, skipConsent = false): Client => ({
  clientId: 'c1',
  secretHash: null,
  metadata: {
    redirect_uris: ['https://a/cb'],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    application_type: 'web',
    ...over,
  },
  skipConsent,
  introspectAnyToken: false,
  accessTokenTtl: null,
  refreshTokenPolicy: 'always',
  registrationAccessTokenHash: null,
  source: 'admin',
  createdAt: 0,
  updatedAt: 0,
});

const params = (values: Record<string, string>, duplicates: string[] = []): ParamSource => ({
  get: (n) => (values[n] === '' ? undefined : values[n]),
  duplicates,
});
const target = { redirectUri: 'https://a/cb', responseMode: 'query' as const, state: 's', redirectUriSent: true };
const errorCode = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof OAuthError);
    return err.code;
  }
  return 'no error';
};

test('scope: omitted → the allowed set without patterns and without offline_access; unregistered → defaults', () => {
  const withScope = client({ scope: 'openid profile read:* offline_access' });
  assert.deepEqual(parseAuthorizationRequest(params({ response_type: 'code' }), withScope, target).scope, ['openid', 'profile']);
  assert.deepEqual(allowedScopesOf(client()), ['openid', 'profile', 'email', 'offline_access']);
  assert.equal(
    errorCode(() => parseAuthorizationRequest(params({ response_type: 'code' }), client({ scope: 'read:*' }), target)),
    'invalid_scope',
  );
});

test('prompt values are parsed, deduplicated, and none stands alone', () => {
  assert.deepEqual(parseAuthorizationRequest(params({ response_type: 'code', prompt: 'login consent login' }), client(), target).prompt, ['login', 'consent']);
  assert.equal(
    errorCode(() => parseAuthorizationRequest(params({ response_type: 'code', prompt: 'none consent' }), client(), target)),
    'invalid_request',
  );
});

test('loginNeeded', () => {
  const signedIn = { userId: 'u', authTime: 1_000 };
  const base = { prompt: [] as never[], maxAge: undefined };
  const facts = { now: 61_000, freshLogin: false, hintSubject: undefined };
  assert.equal(loginNeeded(base, undefined, facts), 'no_session');
  assert.equal(loginNeeded(base, signedIn, facts), undefined);
  assert.equal(loginNeeded({ prompt: ['login'], maxAge: undefined }, signedIn, facts), 'prompt_login');
  assert.equal(loginNeeded({ prompt: ['login'], maxAge: undefined }, signedIn, { ...facts, freshLogin: true }), undefined);
  assert.equal(loginNeeded({ prompt: [], maxAge: 60 }, signedIn, facts), undefined, 'exactly max_age old is still fine');
  assert.equal(loginNeeded({ prompt: [], maxAge: 59 }, signedIn, facts), 'max_age');
  assert.equal(loginNeeded({ prompt: [], maxAge: 0 }, signedIn, { ...facts, now: 1_000 }), 'max_age');
  assert.equal(loginNeeded(base, signedIn, { ...facts, hintSubject: 'other' }), 'hint_mismatch');
  assert.equal(loginNeeded(base, signedIn, { ...facts, hintSubject: 'u' }), undefined);
});

test('consentNeeded', () => {
  const req = (scope: string[], prompt: ('consent' | 'none')[] = []) => ({ scope, prompt });
  assert.equal(consentNeeded(req(['a']), { skipConsent: false }, undefined), true);
  assert.equal(consentNeeded(req(['a']), { skipConsent: false }, ['a', 'b']), false);
  assert.equal(consentNeeded(req(['a', 'c']), { skipConsent: false }, ['a', 'b']), true);
  assert.equal(consentNeeded(req(['a']), { skipConsent: true }, undefined), false);
  assert.equal(consentNeeded(req(['a'], ['consent']), { skipConsent: true }, ['a']), true);
});

test('responses: iss always, state when known, query appended to an existing query, fragment mode', () => {
  const t = { redirectUri: 'https://a/cb?x=1%202', responseMode: 'query' as const, state: 'a b&c' };
  assert.equal(responseLocation(successResponse(t, 'CODE', 'https://as')), 'https://a/cb?x=1%202&code=CODE&state=a+b%26c&iss=https%3A%2F%2Fas');
  assert.equal(
    responseLocation(
      errorResponse({ ...t, redirectUri: 'https://a/cb', state: undefined, responseMode: 'fragment' }, new OAuthError('access_denied', 'no'), 'https://as'),
    ),
    'https://a/cb#error=access_denied&error_description=no&iss=https%3A%2F%2Fas',
  );
});
