/**
 * RP-initiated logout in a real browser (Debian's headless Chromium through playwright-core): sign in,
 * follow the relying party's logout link without an id_token_hint, see the confirmation page (refused
 * inside a frame), click **Sign out**, land on the registered post_logout_redirect_uri with `state`;
 * the relying party receives its back-channel logout token. Screenshot: test-artifacts/logout.png.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { backends } from '../../support/backends.ts';
import { launchChromium, screenshot } from '../../support/chromium.ts';
import { freePort, startLatch, type TestLatch } from '../../support/latch.ts';
import { authorizeUrl, pkce } from '../authorize/helpers.ts';
import { createUser, eventually, LogoutReceiver, peek } from './helpers.ts';

const launch = launchChromium;
const shot = screenshot;

/** The relying party's pages: the redirect URI after sign-in and after logout, and a page that frames the logout page. */
async function startRp(issuer: () => string): Promise<{ server: Server; origin: string; hits: URL[] }> {
  const hits: URL[] = [];
  const port = await freePort();
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
    hits.push(url);
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    if (url.pathname === '/frame') {
      res.end(`<!doctype html><title>framer</title><iframe id="f" src="${issuer()}/oauth2/logout"></iframe>`);
      return;
    }
    res.end(`<!doctype html><title>Notes</title><h1 style="font-family:sans-serif">Notes: ${url.pathname}</h1>`);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { server, origin: `http://127.0.0.1:${port}`, hits };
}

for (const backend of backends()) {
  describe(`[${backend}] real browser: RP-initiated logout in Chromium`, () => {
    let t: TestLatch;
    let browser: Browser;
    let rp: Awaited<ReturnType<typeof startRp>>;
    let receiver: LogoutReceiver;
    let clientId: string;
    let clientSecret: string;
    before(async () => {
      t = await startLatch(backend, { config: { 'outbox.pollInterval': 50 } });
      rp = await startRp(() => t.issuer);
      receiver = await LogoutReceiver.start();
      const res = await t.admin<{ client_id: string; client_secret: string }>('POST', '/admin/v1/clients', {
        client_name: 'Notes',
        redirect_uris: [`${rp.origin}/callback`],
        post_logout_redirect_uris: [`${rp.origin}/signed-out`],
        backchannel_logout_uri: receiver.url,
        scope: 'openid profile',
        skip_consent: true,
      });
      assert.equal(res.status, 201);
      clientId = res.body.client_id;
      clientSecret = res.body.client_secret;
      await createUser(t, 'alice', { name: 'Alice Example' });
      browser = await launch();
    });
    after(async () => {
      await browser?.close();
      await new Promise((resolve) => rp?.server.close(resolve));
      await receiver?.down();
      await t?.close();
    });

    test('the confirmation page asks, Sign out ends the session and returns to the RP with state', async () => {
      const context = await browser.newContext({ viewport: { width: 900, height: 700 } });
      const page = await context.newPage();
      const { verifier, challenge } = pkce();
      await page.goto(
        authorizeUrl(
          t.issuer,
          { client_id: clientId, redirect_uris: [`${rp.origin}/callback`] },
          { scope: 'openid profile', state: 'in', code_challenge: challenge },
        ),
      );
      await page.getByLabel('Username').fill('alice');
      await page.getByLabel('Password').fill('correct horse battery staple');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL(`${rp.origin}/callback?**`);
      // The RP redeems the code: that starts the session (device) the logout will end.
      const token = await fetch(`${t.issuer}/oauth2/token`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code: new URL(page.url()).searchParams.get('code') as string,
          redirect_uri: `${rp.origin}/callback`,
          code_verifier: verifier,
        }),
      });
      assert.equal(token.status, 200, await token.clone().text());
      const { id_token: idToken } = (await token.json()) as { id_token: string };
      const sent = receiver.received.length;

      const logoutLink = `${t.issuer}/oauth2/logout?${new URLSearchParams({ client_id: clientId, post_logout_redirect_uri: `${rp.origin}/signed-out`, state: 'out-42' })}`;
      const response = await page.goto(logoutLink);
      assert.equal(response?.status(), 200);
      const headers = response?.headers() ?? {};
      assert.match(headers['content-security-policy'] ?? '', /frame-ancestors 'none'/);
      assert.equal(headers['x-frame-options'], 'DENY');
      await page.getByRole('heading', { name: 'Sign out?' }).waitFor();
      const text = (await page.textContent('main')) ?? '';
      assert.match(text, /Notes asks you to sign out/);
      assert.match(text, /You are signed in as alice/);
      const button = page.getByRole('button', { name: 'Sign out' });
      assert.ok(await button.isVisible());
      await shot(page, 'logout.png');
      assert.equal(receiver.received.length, sent, 'nothing happens before the click');

      await button.click();
      await page.waitForURL(`${rp.origin}/signed-out?**`);
      assert.equal(new URL(page.url()).searchParams.get('state'), 'out-42');
      const got = await eventually(() => receiver.received.slice(sent).find((r) => r.logoutToken), 'the back-channel logout token');
      assert.equal(peek(got.logoutToken as string).aud, clientId);
      assert.equal(peek(got.logoutToken as string).sid, peek(idToken).sid);

      // Signed out for real: the next authorization shows the login page again.
      await page.goto(authorizeUrl(t.issuer, { client_id: clientId, redirect_uris: [`${rp.origin}/callback`] }, { scope: 'openid' }));
      await page.getByLabel('Username').waitFor();
      await context.close();
    });

    test('another site cannot frame the logout page', async () => {
      const context = await browser.newContext();
      const page = await context.newPage();
      const refused = new Promise<boolean>((resolve) => {
        page.on('console', (m) => {
          if (/frame-ancestors|Refused to display/i.test(m.text())) resolve(true);
        });
        setTimeout(() => resolve(false), 5000);
      });
      await page.goto(`${rp.origin}/frame`);
      const frame = page.frames().find((f) => f !== page.mainFrame());
      const framedButtons = frame
        ? await frame
            .locator('button')
            .count()
            .catch(() => 0)
        : 0;
      assert.equal(framedButtons, 0, 'no Sign out button rendered inside the frame');
      assert.equal(await refused, true, 'Chromium reports the frame-ancestors refusal');
      await context.close();
    });
  });
}
