import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { randomId } from '../../../src/crypto/random.ts';
import { backends } from '../../support/backends.ts';
import { startLatch, type TestLatch } from '../../support/latch.ts';
import {
  assertConsentPage,
  assertLoginPage,
  assertPageHeaders,
  authorizeUrl,
  Browser,
  createClient,
  createUser,
  type Page,
  submitLogin,
  type TestClient,
} from './helpers.ts';

function assertLocked(page: Page, windowSeconds: number): void {
  assert.equal(page.status, 429, page.text.slice(0, 300));
  assertLoginPage(page);
  assertPageHeaders(page);
  const retryAfter = Number(page.headers.get('retry-after'));
  assert.ok(retryAfter > 0 && retryAfter <= windowSeconds, `Retry-After ${retryAfter}`);
  assert.match(page.text, /Too many failed sign-in attempts\. Try again in \d+ minutes?\./);
}

async function failTimes(b: Browser, issuer: string, login: Page, username: string, n: number): Promise<Page[]> {
  const pages: Page[] = [];
  for (let i = 0; i < n; i++) pages.push(await submitLogin(b, issuer, login, username, 'wrong password'));
  return pages;
}

for (const backend of backends()) {
  describe(`[${backend}] login rate limits (memory)`, () => {
    let t: TestLatch;
    let client: TestClient;
    let now = Date.parse('2030-01-01T00:00:00Z');
    before(async () => {
      t = await startLatch(backend, {
        clock: () => now,
        config: { 'rateLimit.loginPerUsername': 3, 'rateLimit.loginPerIp': 8, 'rateLimit.loginWindow': 300 },
      });
      client = await createClient(t);
      for (const name of ['alice', 'bob', 'carol']) await createUser(t, name);
    });
    after(() => t.close());

    test('per username: failures up to the limit lock the account with 429 + Retry-After, even for the right password, until the window ends', async () => {
      const b = new Browser(t.issuer);
      const login = await b.get(authorizeUrl(t.issuer, client));
      const [first, second, third] = await failTimes(b, t.issuer, login, 'alice', 3);
      assert.equal(first?.status, 401);
      assert.equal(second?.status, 401);
      assertLocked(third as Page, 300);
      const right = await submitLogin(b, t.issuer, login, 'alice');
      assertLocked(right, 300);
      assert.equal(b.cookies.has('latch_session'), false);
      // Other usernames are not affected by alice's lock.
      assertConsentPage(await submitLogin(b, t.issuer, login, 'bob'));
      now += 301_000;
      const later = new Browser(t.issuer);
      assertConsentPage(await submitLogin(later, t.issuer, await later.get(authorizeUrl(t.issuer, client)), 'alice'));
    });

    test('successful sign-ins do not count; unknown usernames count like real ones', async () => {
      now += 1_000_000;
      const b = new Browser(t.issuer);
      const login = await b.get(authorizeUrl(t.issuer, client));
      for (let i = 0; i < 5; i++) assertConsentPage(await submitLogin(b, t.issuer, login, 'carol'));
      const pages = await failTimes(b, t.issuer, login, 'ghost', 3);
      assertLocked(pages[2] as Page, 300);
    });

    test('per IP: failures across many usernames lock the address', async () => {
      now += 1_000_000;
      const b = new Browser(t.issuer);
      const login = await b.get(authorizeUrl(t.issuer, client));
      const pages: Page[] = [];
      for (let i = 0; i < 8; i++) pages.push(await submitLogin(b, t.issuer, login, `user${i}`, 'wrong'));
      assert.deepEqual(
        pages.slice(0, 7).map((p) => p.status),
        [401, 401, 401, 401, 401, 401, 401],
      );
      assertLocked(pages[7] as Page, 300);
      // Now even a correct sign-in of an untouched user from this address is refused.
      assertLocked(await submitLogin(b, t.issuer, login, 'bob'), 300);
    });
  });
}

const redisUrl = process.env.LATCH_TEST_REDIS_URL;
if (redisUrl) {
  describe('[redis] login rate limits shared through Redis by two processes', () => {
    const backend = backends()[backends().length - 1] as 'sqlite' | 'postgres';
    let a: TestLatch;
    let b: TestLatch;
    let redis: Redis;
    let client: TestClient;
    const username = `user-${randomId(10).toLowerCase()}`;
    const keyOf = (name: string) => `latch-login:u:${createHash('sha256').update(name).digest('base64url')}`;
    before(async () => {
      redis = new Redis(redisUrl);
      const config = { 'redis.url': redisUrl, 'rateLimit.loginPerUsername': 3, 'rateLimit.loginPerIp': 10000, 'rateLimit.loginWindow': 120 };
      a = await startLatch(backend, { config });
      b = await startLatch(backend, { config, database: a.database });
      client = await createClient(a);
      await createUser(a, username);
      // Both processes' shared connections must be up, or failures would only be counted in memory.
      for (const latch of [a.latch, b.latch]) {
        const shared = latch.redis as Redis;
        if (shared.status !== 'ready') await new Promise((resolve) => shared.once('ready', resolve));
      }
    });
    after(async () => {
      await redis.del(keyOf(username), 'latch-login:ip:127.0.0.1');
      redis.disconnect();
      await b.stop();
      await a.close();
    });

    test('failures on one process lock the username on the other; the counter lives in Redis with an expiry', async () => {
      const ba = new Browser(a.issuer);
      const loginA = await ba.get(authorizeUrl(a.issuer, client));
      const pagesA = await failTimes(ba, a.issuer, loginA, username, 2);
      assert.deepEqual(
        pagesA.map((p) => p.status),
        [401, 401],
      );
      assert.equal(await redis.get(keyOf(username)), '2');
      const ttl = await redis.pttl(keyOf(username));
      assert.ok(ttl > 0 && ttl <= 120_000, `key expires (${ttl} ms)`);

      // The third failure happens on the other process and locks the user everywhere.
      const bb = new Browser(b.issuer);
      const loginB = await bb.get(authorizeUrl(b.issuer, client));
      assertLocked((await failTimes(bb, b.issuer, loginB, username, 1))[0] as Page, 120);
      assertLocked(await submitLogin(ba, a.issuer, loginA, username), 120);

      // Clearing the counter (window over) lets the user in again.
      await redis.del(keyOf(username));
      assertConsentPage(await submitLogin(ba, a.issuer, loginA, username));
    });
  });
}
