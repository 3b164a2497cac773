/**
 * A real browser (Debian's headless Chromium driven by playwright-core, never a downloaded browser)
 * signs in on the login page, allows on the consent page and lands on the client's redirect URI,
 * served by a tiny local HTTP server. Screenshots of each page go to test-artifacts/.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { hashSecret } from '../../../src/crypto/random.ts';
import { checkToken } from '../../../src/domain/token-format.ts';
import { backends } from '../../support/backends.ts';
import { launchChromium, screenshot } from '../../support/chromium.ts';
import { freePort, startLatch, type TestLatch } from '../../support/latch.ts';
import { authorizeUrl, createClient, createUser, type TestClient } from './helpers.ts';

interface Callback {
  method: string;
  url: URL;
  body: URLSearchParams;
}

/** The client's redirect target: records each callback and answers with a small page. */
async function startCallbackServer(): Promise<{ server: Server; origin: string; calls: Callback[] }> {
  const calls: Callback[] = [];
  const port = await freePort();
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => {
      calls.push({ method: req.method ?? 'GET', url: new URL(req.url ?? '/', `http://127.0.0.1:${port}`), body: new URLSearchParams(body) });
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end('<!doctype html><title>Workflow Runner</title><h1 style="font-family:sans-serif">Workflow Runner received the callback</h1>');
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { server, origin: `http://127.0.0.1:${port}`, calls };
}

const launch = launchChromium;
const shot = screenshot;

for (const backend of backends()) {
  describe(`[${backend}] real browser: login and consent in Chromium`, () => {
    let t: TestLatch;
    let browser: Browser;
    let callback: Awaited<ReturnType<typeof startCallbackServer>>;
    let client: TestClient;
    before(async () => {
      t = await startLatch(backend, { config: { 'scopes.descriptions': { 'read:{resource}': 'Read {resource}' } } });
      callback = await startCallbackServer();
      client = await createClient(t, {
        client_name: 'Workflow Runner',
        redirect_uris: [`${callback.origin}/callback`],
        client_uri: 'https://workflows.example/',
      });
      await createUser(t, 'alice', { name: 'Alice Example' });
      browser = await launch();
    });
    after(async () => {
      await browser?.close();
      await new Promise((resolve) => callback?.server.close(resolve));
      await t?.close();
    });

    test('signs in by the labels Username and Password, clicks Allow, and lands on the redirect URI with a code', async () => {
      const context = await browser.newContext({ viewport: { width: 900, height: 760 } });
      const page = await context.newPage();
      const url = authorizeUrl(t.issuer, client, { scope: 'openid profile read:syn123', state: 'browser-state' });

      const first = await page.goto(url);
      assert.equal(first?.status(), 200);
      assert.match(first?.headers()['content-security-policy'] ?? '', /frame-ancestors 'none'/);
      await page.getByLabel('Username').fill('alice');
      await page.getByLabel('Password').fill('wrong password');
      await shot(page, 'login.png');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('alert').waitFor();
      assert.equal(await page.getByRole('alert').textContent(), 'The username or password is incorrect.');
      await shot(page, 'login-error.png');

      await page.getByLabel('Password').fill('correct horse battery staple');
      await page.getByRole('button', { name: 'Sign in' }).click();

      await page.getByRole('button', { name: 'Allow' }).waitFor();
      assert.ok(await page.getByRole('button', { name: 'Deny' }).isVisible());
      const text = (await page.textContent('main')) ?? '';
      assert.match(text, /Workflow Runner wants to access your account/);
      assert.match(text, /Read syn123/);
      await shot(page, 'consent.png');

      await page.getByRole('button', { name: 'Allow' }).click();
      await page.waitForURL(`${callback.origin}/callback?**`);
      await shot(page, 'redirect.png');
      const landed = new URL(page.url());
      assert.equal(landed.searchParams.get('state'), 'browser-state');
      assert.equal(landed.searchParams.get('iss'), t.issuer);
      const code = landed.searchParams.get('code') as string;
      assert.equal(checkToken(code), 'ac');
      assert.ok(await t.latch.storage.authorizationCodes.findByHash(hashSecret(code)));

      // SSO: the next authorization in this browser goes straight back with a new code.
      await page.goto(authorizeUrl(t.issuer, client, { scope: 'openid profile', state: 'second' }));
      await page.waitForURL(`${callback.origin}/callback?**`);
      assert.equal(new URL(page.url()).searchParams.get('state'), 'second');
      await context.close();
    });

    test('works with JavaScript turned off', async () => {
      const context = await browser.newContext({ javaScriptEnabled: false });
      const page = await context.newPage();
      await page.goto(authorizeUrl(t.issuer, client, { scope: 'openid', state: 'nojs', prompt: 'consent' }));
      await page.getByLabel('Username').fill('alice');
      await page.getByLabel('Password').fill('correct horse battery staple');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('button', { name: 'Allow' }).click();
      await page.waitForURL(`${callback.origin}/callback?**`);
      assert.equal(new URL(page.url()).searchParams.get('state'), 'nojs');
      await context.close();
    });

    test('response_mode=form_post auto-submits to the redirect URI (the hashed inline script runs under the CSP)', async () => {
      const context = await browser.newContext();
      const page = await context.newPage();
      const violations: string[] = [];
      page.on('console', (msg) => {
        if (/Content Security Policy/i.test(msg.text())) violations.push(msg.text());
      });
      await page.goto(authorizeUrl(t.issuer, client, { scope: 'openid', state: 'posted', response_mode: 'form_post', prompt: 'consent' }));
      await page.getByLabel('Username').fill('alice');
      await page.getByLabel('Password').fill('correct horse battery staple');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('button', { name: 'Allow' }).click();
      await page.waitForURL(`${callback.origin}/callback`);
      const last = callback.calls.filter((c) => c.url.pathname === '/callback').at(-1);
      assert.equal(last?.method, 'POST');
      assert.equal(last?.body.get('state'), 'posted');
      assert.equal(last?.body.get('iss'), t.issuer);
      assert.equal(checkToken(last?.body.get('code') ?? ''), 'ac');
      assert.deepEqual(violations, []);
      await context.close();
    });
  });
}
