/**
 * Fixtures for the back-channel tests (token, introspection, revocation): clients and users through
 * the admin API, authorization codes inserted through the repository (as the authorize endpoint
 * stores them), raw form posts, and openid-client configurations as the relying party.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import * as oidc from 'openid-client';
import { mintToken } from '../../../src/crypto/random.ts';
import type { TestLatch } from '../../support/latch.ts';

export const PASSWORD = 'correct horse battery staple';
export const REDIRECT_URI = 'https://app.example/callback';

export interface TestClient {
  client_id: string;
  client_secret?: string;
  redirect_uris: string[];
  [key: string]: unknown;
}

export async function createClient(t: TestLatch, metadata: Record<string, unknown> = {}): Promise<TestClient> {
  const res = await t.admin<TestClient>('POST', '/admin/v1/clients', {
    client_name: 'Workflow Runner',
    redirect_uris: [REDIRECT_URI],
    grant_types: ['authorization_code', 'refresh_token'],
    scope: 'openid profile email offline_access read:*',
    ...metadata,
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body;
}

/** A confidential client_credentials client. */
export function createServiceClient(t: TestLatch, metadata: Record<string, unknown> = {}): Promise<TestClient> {
  return createClient(t, { client_name: 'Batch job', redirect_uris: [], grant_types: ['client_credentials'], scope: 'read:* write', ...metadata });
}

export async function createUser(t: TestLatch, username: string): Promise<{ id: string; username: string }> {
  const res = await t.admin<{ id: string; username: string }>('POST', '/admin/v1/users', { username, password: PASSWORD });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body;
}

export function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

export interface CodeOptions {
  clientId: string;
  userId: string;
  scope?: string[];
  redirectUri?: string;
  redirectUriSent?: boolean;
  codeChallenge?: string | null;
  codeChallengeMethod?: string | null;
  nonce?: string | null;
  now: number;
  ttlMs?: number;
}

/** Stores an authorization code the way the authorize endpoint does and returns the code. */
export async function issueCode(t: TestLatch, o: CodeOptions): Promise<string> {
  const minted = mintToken('ac');
  await t.latch.storage.authorizationCodes.add({
    hash: minted.hash,
    clientId: o.clientId,
    userId: o.userId,
    browserSessionId: null,
    redirectUri: o.redirectUri ?? REDIRECT_URI,
    redirectUriSent: o.redirectUriSent ?? true,
    scope: o.scope ?? ['profile', 'read:syn1'],
    codeChallenge: o.codeChallenge ?? null,
    codeChallengeMethod: o.codeChallengeMethod ?? (o.codeChallenge ? 'S256' : null),
    nonce: o.nonce ?? null,
    authTime: o.now - 1000,
    amr: ['pwd'],
    acr: null,
    createdAt: o.now,
    expiresAt: o.now + (o.ttlMs ?? 60_000),
  });
  return minted.token;
}

export interface Reply {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
  text: string;
}

export function basic(clientId: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

/** POSTs a form (or a raw body) to the public listener and parses the JSON answer. */
export async function post(
  t: TestLatch,
  path: string,
  form: Record<string, string> | string | undefined,
  options: { authorization?: string; contentType?: string } = {},
): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (options.authorization) headers.authorization = options.authorization;
  let body: string | undefined;
  if (typeof form === 'string') body = form;
  else if (form) body = new URLSearchParams(form).toString();
  if (body !== undefined) headers['content-type'] = options.contentType ?? 'application/x-www-form-urlencoded';
  else if (options.contentType) headers['content-type'] = options.contentType;
  const res = await fetch(t.issuer + path, { method: 'POST', headers, ...(body !== undefined ? { body } : {}) });
  const text = await res.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = text ? JSON.parse(text) : {};
  } catch {
    parsed = { raw: text };
  }
  return { status: res.status, headers: res.headers, body: parsed, text };
}

/** POST to the token endpoint with client_secret_basic. */
export function tokenRequest(t: TestLatch, client: TestClient, form: Record<string, string>): Promise<Reply> {
  return post(t, '/oauth2/token', form, { authorization: basic(client.client_id, client.client_secret as string) });
}

export async function introspectAs(t: TestLatch, client: TestClient, token: string, extra: Record<string, string> = {}): Promise<Record<string, unknown>> {
  const res = await post(t, '/oauth2/introspect', { token, ...extra }, { authorization: basic(client.client_id, client.client_secret as string) });
  assert.equal(res.status, 200, res.text);
  return res.body;
}

/** An openid-client configuration for a client of the test server. */
export function rp(t: TestLatch, client: TestClient, auth?: oidc.ClientAuth): Promise<oidc.Configuration> {
  const clientAuth = auth ?? (client.client_secret ? oidc.ClientSecretBasic(client.client_secret) : oidc.None());
  return oidc.discovery(new URL(t.issuer), client.client_id, undefined, clientAuth, { execute: [oidc.allowInsecureRequests] });
}

/** The URL the authorize endpoint would redirect to with this code (RFC 9207 `iss` included). */
export function callbackUrl(t: TestLatch, code: string, redirectUri = REDIRECT_URI): URL {
  const url = new URL(redirectUri);
  url.searchParams.set('code', code);
  url.searchParams.set('iss', t.issuer);
  return url;
}

/** The error code of a failed openid-client call. */
export async function oauthError(promise: Promise<unknown>): Promise<{ error: string; status: number }> {
  try {
    await promise;
  } catch (err) {
    const e = err as { error?: string; status?: number; cause?: { error?: string } };
    return { error: e.error ?? e.cause?.error ?? String(err), status: e.status ?? 0 };
  }
  return assert.fail('expected the request to fail');
}
