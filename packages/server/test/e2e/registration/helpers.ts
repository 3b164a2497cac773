/** Shared helpers for the dynamic registration tests (not a test file itself). */
import type { TestLatch } from '../../support/latch.ts';

export interface JsonResponse<T = Record<string, unknown>> {
  status: number;
  body: T;
  headers: Headers;
}

/** A fetch that returns status, headers and the parsed JSON body (or the raw text when not JSON). */
export async function call<T = Record<string, unknown>>(url: string, init: RequestInit = {}): Promise<JsonResponse<T>> {
  const res = await fetch(url, init);
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: keep the text so assertions can show it
  }
  return { status: res.status, body: body as T, headers: res.headers };
}

/** POST /oauth2/register with a JSON body (an object is serialized; a string is sent as is). */
export function register(t: TestLatch, body: unknown, headers: Record<string, string> = {}): Promise<JsonResponse> {
  return call(`${t.issuer}/oauth2/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** A mutable clock for expiry tests. */
export function testClock(start = Date.now()) {
  let now = start;
  const clock = () => now;
  clock.advance = (ms: number) => {
    now += ms;
  };
  return clock;
}

/**
 * Config for tests that exercise registration itself rather than its limits: dynamically registered
 * clients may use client_credentials and `read:*`/`export` (the defaults allow neither, RFC 7591 §5),
 * and the per-IP rate limit is out of the way. limits.test.ts and rate-limit.test.ts test the defaults.
 */
export const WIDE_LIMITS = {
  'registration.allowedGrantTypes': 'authorization_code refresh_token client_credentials',
  'registration.allowedScopes': 'openid profile email offline_access read:* export',
  'rateLimit.registerPerIp': 100_000,
} as const;

export const confidentialWebClient = {
  client_name: 'Workflow Runner',
  redirect_uris: ['https://runner.example.org/callback'],
  grant_types: ['authorization_code', 'refresh_token'],
  token_endpoint_auth_method: 'client_secret_basic',
  scope: 'openid read:*',
};
