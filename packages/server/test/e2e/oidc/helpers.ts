/**
 * Fixtures for the OpenID Connect tests: a back-channel logout receiver (a plain node:http server on
 * a loopback port that can be taken down and brought back on the same port), openid-client as the
 * relying party driving the real front channel, and polling helpers.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createLocalJWKSet, type JSONWebKeySet, type JWTPayload, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { freePort, type TestLatch } from '../../support/latch.ts';
import { Browser, isConsentPage, isLoginPage, PASSWORD, submitConsent, submitLogin } from '../authorize/helpers.ts';

export { Browser, PASSWORD };

export interface ReceivedLogout {
  contentType: string | undefined;
  body: string;
  logoutToken: string | undefined;
  /** What the receiver answered. */
  status: number;
  at: number;
}

/**
 * A relying party's back-channel logout endpoint. It answers `status` (200 by default), records every
 * request, and deduplicates by `jti` as Back-Channel Logout §2.6 suggests: `accepted` holds the jtis
 * of requests answered 200.
 */
export class LogoutReceiver {
  readonly received: ReceivedLogout[] = [];
  status = 200;
  /** Answer after this many milliseconds (a slow receiver). */
  delayMs = 0;
  private server: Server | undefined;

  private constructor(readonly port: number) {}

  static async start(port?: number): Promise<LogoutReceiver> {
    const receiver = new LogoutReceiver(port ?? (await freePort()));
    await receiver.up();
    return receiver;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/backchannel-logout`;
  }

  /** Successful deliveries (200/204 answered). */
  get delivered(): ReceivedLogout[] {
    return this.received.filter((r) => r.status === 200 || r.status === 204);
  }

  async up(): Promise<void> {
    if (this.server) return;
    const server = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        const status = this.status;
        this.received.push({
          contentType: req.headers['content-type'],
          body,
          logoutToken: new URLSearchParams(body).get('logout_token') ?? undefined,
          status,
          at: Date.now(),
        });
        const answer = () => res.writeHead(status, { 'cache-control': 'no-store' }).end();
        if (this.delayMs > 0) setTimeout(answer, this.delayMs);
        else answer();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
  }

  /** Closes the listener: deliveries now fail with connection refused. */
  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** Polls `check` until it returns a truthy value (deliveries are asynchronous); fails after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T> | T, what: string, timeoutMs = 15_000): Promise<Exclude<T, undefined | null | false | 0 | ''>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as Exclude<T, undefined | null | false | 0 | ''>;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The claims of a JWT, unverified (to sort what a receiver got). */
export const peek = (jwt: string): Record<string, unknown> => JSON.parse(Buffer.from(jwt.split('.')[1] as string, 'base64url').toString());

/** Verifies a logout token against the issuer's published JWKS (as a relying party would), with every §2.6 check. */
export async function verifyLogoutToken(t: TestLatch, token: string, clientId: string): Promise<{ payload: JWTPayload; typ: string | undefined }> {
  const jwks = (await (await fetch(`${t.issuer}/oauth2/keys.json`)).json()) as JSONWebKeySet;
  const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(jwks), {
    issuer: t.issuer,
    audience: clientId,
    typ: 'logout+jwt',
    requiredClaims: ['iss', 'aud', 'iat', 'exp', 'jti', 'events'],
  });
  return { payload, typ: protectedHeader.typ };
}

export interface RelyingParty {
  config: oidc.Configuration;
  clientId: string;
  clientSecret: string;
  redirectUri: string;
}

/** Registers a confidential client and discovers the issuer with openid-client, verifying ID token signatures via the JWKS. */
export async function relyingParty(t: TestLatch, metadata: Record<string, unknown> = {}): Promise<RelyingParty> {
  const redirectUri = 'https://rp.example/callback';
  const res = await t.admin<{ client_id: string; client_secret: string }>('POST', '/admin/v1/clients', {
    client_name: 'Notes',
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code', 'refresh_token'],
    scope: 'openid profile email offline_access',
    skip_consent: true,
    ...metadata,
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  const config = await oidc.discovery(new URL(t.issuer), res.body.client_id, undefined, oidc.ClientSecretBasic(res.body.client_secret), {
    // http issuer in tests; ID token signatures checked against the JWKS (OIDC Core §3.1.3.7 step 6 made strict).
    execute: [oidc.allowInsecureRequests, oidc.enableNonRepudiationChecks],
  });
  return { config, clientId: res.body.client_id, clientSecret: res.body.client_secret, redirectUri };
}

export async function createUser(t: TestLatch, username: string, extra: Record<string, unknown> = {}): Promise<{ id: string; username: string }> {
  const res = await t.admin<{ id: string; username: string }>('POST', '/admin/v1/users', { username, password: PASSWORD, ...extra });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body;
}

/** The whole code flow through the real login page in `browser`, redeemed by openid-client with PKCE, state and nonce checks. */
export async function signIn(
  t: TestLatch,
  rp: RelyingParty,
  browser: Browser,
  username: string,
  scope = 'openid profile email offline_access',
): Promise<{ tokens: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers; nonce: string | undefined }> {
  const verifier = oidc.randomPKCECodeVerifier();
  const openid = scope.split(' ').includes('openid');
  // A nonce belongs to OpenID requests only (OIDC Core §3.1.2.1); openid-client expects it back in an ID token.
  const nonce = openid ? oidc.randomNonce() : undefined;
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(rp.config, {
    redirect_uri: rp.redirectUri,
    scope,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    ...(nonce ? { nonce } : {}),
    state,
  });
  let page = await browser.get(url.href);
  if (isLoginPage(page)) page = await submitLogin(browser, t.issuer, page, username);
  if (isConsentPage(page)) page = await submitConsent(browser, t.issuer, page, 'allow');
  assert.ok(page.location?.startsWith(rp.redirectUri), `expected a redirect to the RP, got ${page.status} ${page.text.slice(0, 300)}`);
  const tokens = await oidc.authorizationCodeGrant(rp.config, new URL(page.location as string), {
    pkceCodeVerifier: verifier,
    ...(nonce ? { expectedNonce: nonce } : {}),
    expectedState: state,
    idTokenExpected: openid,
  });
  return { tokens, nonce };
}
