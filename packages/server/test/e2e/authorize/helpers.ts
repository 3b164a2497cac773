/**
 * Helpers for the front-channel tests: a cookie-keeping "browser" made of fetch with manual
 * redirects, form scraping, and fixtures (users, clients, PKCE pairs).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import type { TestLatch } from '../../support/latch.ts';

export const PASSWORD = 'correct horse battery staple';

export interface Page {
  status: number;
  headers: Headers;
  text: string;
  location: string | null;
  url: string;
}

/** A minimal browser: a cookie jar (name → value, scoped to one origin), no redirects followed. */
export class Browser {
  readonly cookies = new Map<string, string>();

  constructor(private readonly origin: string) {}

  private cookieHeader(): string | undefined {
    if (this.cookies.size === 0) return undefined;
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  private remember(headers: Headers): void {
    for (const line of headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const at = (pair as string).indexOf('=');
      const name = (pair as string).slice(0, at).trim();
      const value = (pair as string).slice(at + 1).trim();
      const expired = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a));
      if (expired || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  async request(url: string, init: { method?: string; form?: Record<string, string | undefined>; body?: string; contentType?: string } = {}): Promise<Page> {
    const headers: Record<string, string> = {};
    const cookie = this.cookieHeader();
    if (cookie && url.startsWith(this.origin)) headers.cookie = cookie;
    let body: string | undefined = init.body;
    if (init.form) {
      const entries = Object.entries(init.form).filter((e): e is [string, string] => e[1] !== undefined);
      body = new URLSearchParams(entries).toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    }
    if (init.contentType) headers['content-type'] = init.contentType;
    const res = await fetch(url, {
      method: init.method ?? (body !== undefined ? 'POST' : 'GET'),
      headers,
      redirect: 'manual',
      ...(body !== undefined ? { body } : {}),
    });
    if (url.startsWith(this.origin)) this.remember(res.headers);
    return { status: res.status, headers: res.headers, text: await res.text(), location: res.headers.get('location'), url };
  }

  get(url: string): Promise<Page> {
    return this.request(url);
  }

  post(url: string, form: Record<string, string | undefined>): Promise<Page> {
    return this.request(url, { method: 'POST', form });
  }
}

/** Value of a hidden input on a page. */
export function hidden(page: Page, name: string): string {
  const m = new RegExp(`<input type="hidden" name="${name}" value="([^"]*)">`).exec(page.text);
  assert.ok(m, `hidden input ${name} on the page: ${page.status} ${page.text.slice(0, 400)}`);
  return decodeEntities(m[1] as string);
}

export function decodeEntities(s: string): string {
  return s
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&#96;/g, '`')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

export const isLoginPage = (page: Page) =>
  page.status !== 302 && /<label for="username">Username<\/label>/.test(page.text) && /Sign in<\/button>/.test(page.text);
export const isConsentPage = (page: Page) => /value="allow"[^>]*>Allow<\/button>/.test(page.text) && /value="deny"[^>]*>Deny<\/button>/.test(page.text);

export function assertLoginPage(page: Page): void {
  assert.ok(isLoginPage(page), `expected the login page, got ${page.status} ${page.location ?? ''} ${page.text.slice(0, 300)}`);
}

export function assertConsentPage(page: Page): void {
  assert.ok(isConsentPage(page), `expected the consent page, got ${page.status} ${page.location ?? ''} ${page.text.slice(0, 300)}`);
}

/** Submits the login form on `page`. */
export function submitLogin(
  browser: Browser,
  issuer: string,
  page: Page,
  username: string,
  password = PASSWORD,
  override: Record<string, string | undefined> = {},
) {
  return browser.post(`${issuer}/oauth2/login`, { interaction: hidden(page, 'interaction'), csrf: hidden(page, 'csrf'), username, password, ...override });
}

export function submitConsent(browser: Browser, issuer: string, page: Page, decision: 'allow' | 'deny', override: Record<string, string | undefined> = {}) {
  return browser.post(`${issuer}/oauth2/consent`, { interaction: hidden(page, 'interaction'), csrf: hidden(page, 'csrf'), decision, ...override });
}

/** Parameters of a redirect to the client (query or fragment). */
export function redirectParams(page: Page, mode: 'query' | 'fragment' = 'query'): { base: string; params: URLSearchParams } {
  assert.ok(page.status === 302 || page.status === 303, `expected a redirect, got ${page.status} ${page.text.slice(0, 300)}`);
  const location = page.location as string;
  if (mode === 'fragment') {
    const at = location.indexOf('#');
    assert.ok(at > 0, `fragment in ${location}`);
    return { base: location.slice(0, at), params: new URLSearchParams(location.slice(at + 1)) };
  }
  const url = new URL(location);
  return { base: `${url.origin}${url.pathname}`, params: url.searchParams };
}

export function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

export async function createUser(t: TestLatch, username: string, extra: Record<string, unknown> = {}): Promise<{ id: string; username: string }> {
  const res = await t.admin<{ id: string; username: string }>('POST', '/admin/v1/users', { username, password: PASSWORD, ...extra });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body;
}

export interface TestClient {
  client_id: string;
  client_secret?: string;
  redirect_uris: string[];
}

export async function createClient(t: TestLatch, metadata: Record<string, unknown> = {}): Promise<TestClient> {
  const res = await t.admin<TestClient>('POST', '/admin/v1/clients', {
    client_name: 'Workflow Runner',
    redirect_uris: ['https://app.example/callback'],
    grant_types: ['authorization_code', 'refresh_token'],
    scope: 'openid profile email offline_access read:*',
    ...metadata,
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body;
}

/** The authorization URL for a client, with PKCE and a state unless overridden (undefined removes). */
export function authorizeUrl(issuer: string, client: TestClient, params: Record<string, string | undefined> = {}): string {
  const all: Record<string, string | undefined> = {
    response_type: 'code',
    client_id: client.client_id,
    redirect_uri: client.redirect_uris[0],
    scope: 'openid profile',
    state: 'st-123',
    code_challenge: pkce().challenge,
    code_challenge_method: 'S256',
    ...params,
  };
  const q = new URLSearchParams(Object.entries(all).filter((e): e is [string, string] => e[1] !== undefined));
  return `${issuer}/oauth2/authorize?${q}`;
}

/** Runs the whole front channel in `browser` and returns the final redirect page. */
export async function signInAndAllow(t: TestLatch, browser: Browser, url: string, username: string): Promise<Page> {
  let page = await browser.get(url);
  if (isLoginPage(page)) page = await submitLogin(browser, t.issuer, page, username);
  if (isConsentPage(page)) page = await submitConsent(browser, t.issuer, page, 'allow');
  return page;
}

/** Asserts the headers every HTML page must carry. */
export function assertPageHeaders(page: Page): void {
  const h = page.headers;
  const context = `${page.url} → ${page.status}`;
  assert.match(h.get('content-type') ?? '', /^text\/html; charset=utf-8/, context);
  const csp = h.get('content-security-policy') ?? '';
  assert.match(csp, /frame-ancestors 'none'/, context);
  assert.match(csp, /default-src 'self'/, context);
  assert.doesNotMatch(csp, /unsafe-inline/, context);
  assert.equal(h.get('x-frame-options'), 'DENY', context);
  assert.equal(h.get('referrer-policy'), 'no-referrer', context);
  assert.equal(h.get('cache-control'), 'no-store', context);
  assert.equal(h.get('x-content-type-options'), 'nosniff', context);
}
